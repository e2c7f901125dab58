"""The typed state that flows through the graph and is checkpointed per thread.

Each turn's own settings are not state: they are runtime context (:mod:`agent.context`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from langchain_core.documents import Document
from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class State(TypedDict, total=False):
    """One thread's conversation and the evidence of its latest turn."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The whole conversation, oldest first. Each answer carries in ``additional_kwargs``:
    ``sources`` (display records), ``abstained`` (no answer in the documents), ``query``
    (what was searched for) and ``verified`` (the check step's verdict, when it ran). A reply
    stored without a model (``Assistant.search_only``) carries ``search_only`` with the passages
    it found as ``sources``; the model never reads it (``agent.followups.conversation``)."""

    question: str
    """The latest user message, as typed."""

    query: str
    """What was searched for, as shown: the accepted rewrite, else the model-free query (see ``agent.queries``)."""

    queries: list[str]
    """Every query the turn searches with, fused; ``query`` first."""

    rewrite_rejected: str
    """Why the model's rewrite of this follow-up was not searched ("a refusal", "empty"...); "" when it was."""

    about: dict[str, Any] | None
    """For a question about the documents themselves (``agent.collection``): ``files`` it names, ``topic`` asked."""

    route: Literal["retrieve", "instruction"]
    """``instruction`` when the message only asks to change the previous answer (no search)."""

    documents: list[Document]
    """Chunks retrieved for the latest search, best first, with their scores in metadata.
    Kept across turns so an instruction follow-up can cite the same sources."""

    sources: list[dict[str, Any]]
    """The same chunks as display records (see ``agent.sources.source_record``)."""

    evidence: bool
    """Whether any retrieved chunk is relevant enough to answer from (see ``agent.nodes.has_evidence``)."""

    check: bool
    """Whether this turn's answer goes to the ``check`` step (verification on, sources, not a not-found)."""
