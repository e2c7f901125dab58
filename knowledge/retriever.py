"""A LangChain retriever over a :class:`~knowledge.index.KnowledgeIndex` that keeps scores.

LangChain retrievers return bare documents; the agent shows each source's score, so
the score travels in a copy of the document's metadata (the stored chunk is untouched).
"""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from knowledge.index import KnowledgeIndex


class IndexRetriever(BaseRetriever):
    """Return the ``k`` best chunks for a query, each with ``metadata["score"]``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: KnowledgeIndex
    k: int = 4

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content=doc.page_content, id=doc.id, metadata={**doc.metadata, "score": round(score, 4)})
            for doc, score in self.index.search(query, self.k)
        ]
