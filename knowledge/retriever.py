"""A LangChain retriever over a :class:`~knowledge.index.KnowledgeIndex`, keeping scores.

LangChain retrievers return bare documents; the agent shows each source's score, so the
scores travel in the returned documents' metadata (copies; the index is untouched).
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from knowledge.index import KnowledgeIndex, SearchMode


class IndexRetriever(BaseRetriever):
    """Return the ``k`` best chunks for a query, each with ``metadata["score"]``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: KnowledgeIndex
    k: int = 4
    mode: SearchMode = "hybrid"
    keyword_weight: float = 0.5
    """The keyword list's share of the hybrid fusion (0.5: equal)."""
    sources: frozenset[str] | None = None
    """Only search chunks of these files (``None``: every file)."""

    def restricted(self, sources: list[str] | frozenset[str]) -> IndexRetriever:
        """Return the same retriever limited to ``sources``."""
        return self.model_copy(update={"sources": frozenset(sources)})

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.index.search(query, self.k, self.mode, self.sources, self.keyword_weight)
