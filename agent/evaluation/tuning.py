"""Try other values of the retrieval settings on your own documents and questions.

``ragchat eval FILE --sweep`` measures, beside the current settings:

* chunk size × overlap: each pair is built into a throwaway index in a temporary folder
  from the files of the current index (the live index is never touched), then searched —
  recall is also given at the same context length as the current settings (k × chunk size
  characters), since bigger chunks otherwise win by holding more text;
* the hybrid fusion's keyword weight, on the current index;
* the abstention threshold (``min_score``), from the evidence each question's top k
  chunks carry — the same rule the agent applies, without calling the chat model.

The follow-up queries are rewritten once (by the real contextualize step) and reused for
every variant, so the variants differ only in what is being tried.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.evaluation.run import MODES, EvalQuestion, QuestionResult, evaluate, evidence_floor, measure
from agent.evaluation.scores import abstention_summary, summarise
from knowledge.base import KnowledgeBase
from knowledge.errors import RagchatError
from knowledge.index import KnowledgeIndex
from knowledge.ingest import Progress

if TYPE_CHECKING:
    from agent.assistant import Assistant

CHUNK_SIZES = (300, 500, 800, 1200)
OVERLAPS = (0, 50, 100)
KEYWORD_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MIN_SCORES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MIN_COVERAGES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, math.inf)
"""``inf`` switches the word-share signal off: only the cosine decides."""


@dataclass
class Sweep:
    """Every variant's figures: rows ready to print, one list per setting tried."""

    k: int
    baseline: list[QuestionResult]
    min_score: float = 0.0
    """The evidence cosine in force (the setting, or calibrated on the documents)."""
    chunking: list[dict[str, Any]] = field(default_factory=list)
    fusion: list[dict[str, Any]] = field(default_factory=list)
    abstention: list[dict[str, Any]] = field(default_factory=list)


def sweep(
    assistant: Assistant,
    questions: list[EvalQuestion],
    *,
    chunk_sizes: Sequence[int] = CHUNK_SIZES,
    overlaps: Sequence[int] = OVERLAPS,
    keyword_weights: Sequence[float] = KEYWORD_WEIGHTS,
    min_scores: Sequence[float] = MIN_SCORES,
    min_coverages: Sequence[float] = MIN_COVERAGES,
    progress: Callable[[str], Progress | None] | None = None,
    baseline: list[QuestionResult] | None = None,
) -> Sweep:
    """Measure each value tried; ``progress(label)`` gives a callback for each throwaway build.

    ``baseline`` reuses a retrieval-only :func:`~agent.evaluation.run.evaluate` of the same questions
    (its rewritten follow-ups), saving a second round of rewrite calls.

    Raises:
        RagchatError: if the embedding model does not answer (building and vector search need it),
            or a chunk size / overlap pair is invalid.
    """
    check_plan(chunk_sizes, overlaps, keyword_weights, min_scores)
    index = assistant.require_index()
    s = assistant.settings
    if baseline is None or any(r.answer is not None for r in baseline):  # answered: other histories
        baseline = evaluate(assistant, questions)
    if any(r.ranks.get("vector") == -1 for r in baseline):
        raise RagchatError(
            "A sweep needs the embedding model to build and search variants — start Ollama "
            f"(`ollama serve`) and pull {s.embedding} (`ollama pull {s.embedding}`), then try again."
        )
    floor = evidence_floor(assistant)
    result = Sweep(k=s.k, baseline=baseline, min_score=floor)
    pairs = list(zip(questions, baseline, strict=True))

    def rows(
        target: KnowledgeIndex, weight: float, modes: Sequence[str], extra: int | None = None
    ) -> list[dict[str, Any]]:
        variant = []
        for item, base in pairs:
            ranked = QuestionResult(item.id, item.question, base.query, item.turn > 0, bool(item.answers), base.queries)
            ranked.ranks, ranked.evidence = measure(
                target, item, base.queries, k=s.k, keyword_weight=weight, modes=modes, about=base.about
            )
            variant.append(ranked)
        cutoffs = sorted({1, s.k, 10} | ({extra} if extra else set()))
        return [row for row in summarise(variant, cutoffs) if row["questions"] == "all"]

    files = sorted(record.path for record in index.files.values() if Path(record.path).exists())
    for size in chunk_sizes:
        for overlap in overlaps:
            with tempfile.TemporaryDirectory(prefix="ragchat-sweep-") as home:
                throwaway = KnowledgeBase(
                    Path(home), s.docs_dir, s.embedding, lambda: assistant.embeddings, chunk_size=size,
                    chunk_overlap=overlap,
                )  # fmt: skip
                callback = progress(f"size {size}, overlap {overlap}") if progress else None
                built = throwaway.ingest(files, progress=callback).index
                same = same_context(s.k, s.chunk_size, size)
                for row in rows(built, s.keyword_weight, MODES, same):
                    row = {"chunk_size": size, "overlap": overlap, "chunks": built.chunk_count, **row}
                    result.chunking.append({**row, "same_context_k": same, "recall@context": row[f"recall@{same}"]})
    for weight in keyword_weights:
        for row in rows(index, weight, ("hybrid",)):
            result.fusion.append({"keyword_weight": weight, **row})
    for mode in ("vector", "hybrid"):  # keyword results carry no cosine: min_score does not apply
        tried = sorted({*min_scores, floor} - {float("inf")})
        result.abstention += [abstention_summary(baseline, mode, threshold) for threshold in tried]
    for mode in ("keyword", "hybrid"):
        result.abstention += [abstention_summary(baseline, mode, floor, threshold) for threshold in min_coverages]
    return result


def check_plan(
    chunk_sizes: Sequence[int], overlaps: Sequence[int], keyword_weights: Sequence[float], min_scores: Sequence[float]
) -> None:
    """Refuse values a sweep cannot try, before anything is built.

    Raises:
        RagchatError: naming the first bad value and the allowed range.
    """
    for size in chunk_sizes:
        for overlap in overlaps:
            if size < 50 or overlap < 0 or overlap >= size:
                raise RagchatError(
                    f"Cannot try chunk size {size} with overlap {overlap} — sizes need at least 50 characters "
                    "and the overlap must be smaller than the size."
                )
    for name, values in (("keyword weight", keyword_weights), ("min score", min_scores)):
        for value in values:
            if not 0.0 <= value <= 1.0:
                raise RagchatError(f"Cannot try {name} {value} — use values from 0 to 1.")


def same_context(k: int, chunk_size: int, size: int) -> int:
    """Return how many ``size``-character chunks fit in the prompt space ``k`` chunks of ``chunk_size`` take.

    Bigger chunks hold more text, so they contain an answer more often at the same k; compared at
    the same context length (what the model reads, and pays for in time), the comparison is fair.

    >>> same_context(4, 500, 1000), same_context(4, 500, 300), same_context(4, 500, 5000)
    (2, 6, 1)
    """
    return max(1, k * chunk_size // size)
