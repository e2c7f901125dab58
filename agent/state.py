"""The typed state that flows through the graph and is checkpointed per thread."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.documents import Document
from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


class State(TypedDict, total=False):
    """One thread's conversation and the current turn's evidence."""

    messages: Annotated[list[AnyMessage], add_messages]
    """The whole conversation, oldest first; each answer carries its sources in
    ``additional_kwargs["sources"]``."""

    question: str
    """The latest user question, as used for retrieval."""

    documents: list[Document]
    """Chunks retrieved for the latest question, best first, with ``metadata["score"]``."""

    sources: list[dict[str, Any]]
    """The same chunks as display records (see ``agent.formatting.source_record``)."""
