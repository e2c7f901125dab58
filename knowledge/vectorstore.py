"""LangChain's ``VectorStore`` interface over :class:`knowledge.store.MatrixStore`.

Kept apart from the store itself because importing ``langchain_core.vectorstores`` brings
LangChain's tracing stack with it (about a second), which the index does not need for
searching. Use this class where LangChain code expects a vector store (retrievers built
with ``as_retriever``, LangChain's standard vector store tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from knowledge.store import MatrixStore


class MatrixVectorStore(MatrixStore, VectorStore):
    """Exact cosine search over a contiguous, normalised float32 matrix, as a LangChain vector store."""

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Remove the rows with these ids (unknown ids are ignored); ``None`` removes nothing."""
        if ids is None:
            return None
        doomed = {self._rows[i] for i in ids if i in self._rows}
        if doomed:
            self.keep_rows(np.array([row not in doomed for row in range(self._count)], dtype=bool))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Return the documents with these ids, in the order asked, skipping unknown ones."""
        return [self.document(self._rows[i]) for i in ids if i in self._rows]

    def similarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Callable[[Document], bool] | None = None,  # noqa: A002 (LangChain's name)
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Return the ``k`` most similar documents with cosine scores; ``filter`` keeps only matching ones."""
        mask = None
        if filter is not None:
            mask = np.fromiter((filter(self.document(r)) for r in range(self._count)), bool, self._count)
        rows, scores = self.search_vector(embedding, k, mask)
        return [(self.document(int(r)), float(s)) for r, s in zip(rows, scores, strict=True)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """Embed ``query`` and return the ``k`` most similar documents with cosine scores."""
        if self._count == 0:
            return []
        return self.similarity_search_with_score_by_vector(self.embed_query(query), k, **kwargs)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, **kwargs: Any) -> list[Document]:
        """Return the ``k`` documents most similar to ``embedding``."""
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, **kwargs)]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """Return the ``k`` documents most similar to ``query``."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        return lambda score: (score + 1.0) / 2.0  # cosine in [-1, 1] to relevance in [0, 1]

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> MatrixVectorStore:
        """Create a store holding ``texts``."""
        store = cls(embedding)
        store.add_texts(texts, metadatas, ids=ids)
        return store
