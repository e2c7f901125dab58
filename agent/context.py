"""Each turn's own settings, given to the graph as LangGraph runtime context (never checkpointed).

Kept apart from :mod:`agent.state` so that making one imports nothing of LangGraph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from agent.settings import Settings


@dataclass(frozen=True)
class Context:
    """One turn's settings, given to the graph as LangGraph runtime context (never checkpointed).

    The graph is compiled once per process from the long-lived things (chat model, knowledge
    base, checkpointer); everything a user may change between two questions travels here.
    """

    k: int = 4
    """Chunks retrieved for the answer."""
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"
    keyword_weight: float = 0.5
    """The keyword list's share of the hybrid fusion (0.5: equal)."""
    min_score: float | None = None
    """Cosine from which a chunk counts as evidence (see ``agent.nodes.has_evidence``); ``None``: calibrated."""
    system_prompt: str | None = None
    """Replaces the default answering rules (the sources are still appended)."""
    verify: bool = False
    """Check each answer against its sources (the ``check`` step)."""
    scope: frozenset[str] | None = None
    """The documents (source names) this thread may search; ``None`` means all of them."""

    @classmethod
    def of(cls, settings: Settings, scope: list[str] | None = None) -> Context:
        """Return the context for a turn under ``settings`` in a thread limited to ``scope``."""
        return cls(
            k=settings.k,
            mode=settings.retrieval_mode,
            keyword_weight=settings.keyword_weight,
            min_score=settings.min_score,
            system_prompt=settings.system_prompt,
            verify=settings.verify_answers,
            scope=frozenset(scope) if scope is not None else None,
        )


class Calibrated(Protocol):
    """What knows the evidence cosine calibrated on the documents (a knowledge base)."""

    def evidence_threshold(self) -> float | None:
        """Return the calibrated cosine, or ``None`` when there is no index or no embedder."""
        ...


def min_score(turn: Context, knowledge: Calibrated) -> float:
    """Return the turn's evidence cosine: the setting when given, else the one calibrated on the documents.

    With neither (a keyword search computes no cosine; no embedder answers) no cosine counts.
    """
    if turn.min_score is not None:
        return turn.min_score
    calibrated = knowledge.evidence_threshold() if turn.mode != "keyword" else None
    return calibrated if calibrated is not None else float("inf")
