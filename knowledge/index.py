"""Search over one knowledge base, the same on every storage engine.

Search modes: ``vector`` (cosine), ``keyword`` (the engine's full-text BM25 over the
stems of :mod:`knowledge.keyword`; needs no embedding model) and ``hybrid`` (both, fused
by weighted reciprocal rank). Several queries can be fused the same way, and any mode can
be restricted to a set of sources. The engine (:mod:`knowledge.engine`) ranks; this class
embeds the query, fuses the rankings, joins neighbouring chunks into passages and judges
what counts as evidence, so grounding behaves alike on SQLite and on Postgres.

A :class:`KnowledgeIndex` is a live view: what it holds is what the engine last read
(:meth:`knowledge.engine.Engine.refresh`), a committed state of the database.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cache
from typing import TYPE_CHECKING, Literal

import numpy as np

from knowledge.calibration import Calibration, embed_held_aside
from knowledge.engine import Engine, FileRecord, IndexInfo, Ranking
from knowledge.errors import RagchatError
from knowledge.keyword import bm25, idf, stems
from knowledge.passages import group, joined

if TYPE_CHECKING:  # the class itself loads LangChain's runnables (~0.3 s), needed only to embed
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

__all__ = ["SEARCH_MODES", "FileRecord", "IndexInfo", "KnowledgeIndex", "SearchMode"]

RRF_K = 60
"""Reciprocal rank fusion constant (Cormack et al. use 60): a rank-r hit adds 1 / (60 + r)."""
CANDIDATES_PER_K = 5
"""Hybrid search fuses the top ``5 * k`` (at least 50) of each list; every mode ranks ``5 * k`` candidates."""

SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "vector", "keyword")


class KnowledgeIndex:
    """One knowledge base as searched: its files, chunks and embedder, over a storage engine."""

    def __init__(self, engine: Engine, embeddings: Embeddings | Callable[[], Embeddings] | None) -> None:
        """Search ``engine``'s chunks; ``embeddings`` (or a function making it) embeds queries when needed."""
        self.engine = engine
        self._embeddings = embeddings
        self._threshold: tuple[int, float | None] | None = None

    # -- what is indexed ----------------------------------------------------------------
    @property
    def info(self) -> IndexInfo:
        """What the index was built with."""
        assert self.engine.info is not None  # a KnowledgeIndex is made only for a started engine
        return self.engine.info

    @property
    def files(self) -> dict[str, FileRecord]:
        """The indexed files by source name."""
        return self.engine.files

    @property
    def forgotten(self) -> set[str]:
        """Sources the user forgot: folder ingests leave them out until one is named again."""
        return self.engine.forgotten

    @property
    def chunk_count(self) -> int:
        """How many chunks the index holds."""
        return self.engine.chunk_count

    def sources(self) -> list[str]:
        """Return the indexed documents' source names, sorted."""
        return sorted(self.files)

    @property
    def embedding(self) -> Embeddings | None:
        """The embedding model, made on first use; ``None`` when the index was opened without one."""
        if callable(self._embeddings) and not hasattr(self._embeddings, "embed_query"):
            self._embeddings = self._embeddings()
        return self._embeddings

    # -- search -------------------------------------------------------------------------
    def search(
        self,
        query: str | Sequence[str],
        k: int = 4,
        mode: SearchMode = "hybrid",
        sources: Collection[str] | None = None,
        keyword_weight: float = 0.5,
    ) -> list[Document]:
        """Return the ``k`` best passages for ``query`` (one text, or several fused), best first.

        Each document's metadata gains ``score`` (the ranking score of ``mode``: cosine for
        ``vector``, BM25 for ``keyword``, fused rank score scaled to 0..1 for ``hybrid`` and for
        several queries), and ``vector_score`` / ``keyword_score`` where they were computed (the
        best over the queries). Several queries are fused by weighted reciprocal rank, each
        query's lists weighing the same, so one bad query cannot sink what the others find.
        ``sources`` restricts the search to chunks of those files. ``keyword_weight`` is the
        keyword lists' share of the fusion (0.5 weighs meaning and words equally).
        """
        queries = [query] if isinstance(query, str) else list(dict.fromkeys(query))
        if mode not in SEARCH_MODES:
            raise RagchatError(f"Unknown search mode {mode!r} — use one of: {', '.join(SEARCH_MODES)}.")
        if not 0.0 <= keyword_weight <= 1.0:
            raise RagchatError(f"keyword_weight must be between 0 and 1, not {keyword_weight}.")
        scope = None if sources is None else set(sources)
        if self.chunk_count == 0 or not queries or (scope is not None and not scope & set(self.files)):
            return []
        fetch = CANDIDATES_PER_K * k  # neighbours merge into one passage: more candidates fill the k places
        depth = fetch if len(queries) == 1 and mode != "hybrid" else max(fetch, 50)
        words = [stems(q) for q in queries] if mode in ("keyword", "hybrid") else []
        pending: Future[list[Ranking]] | None = None
        if words:  # beside the vector search: the database and numpy both let go of the GIL
            pending = _beside().submit(lambda: [self.engine.keyword_ranking(w, depth, scope) for w in words])
        try:
            vectors = [self._query_vector(q) for q in queries] if mode in ("vector", "hybrid") else []
            vector_lists = [self.engine.vector_ranking(v, depth, scope) for v in vectors]
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        keyword_lists = pending.result() if pending is not None else []
        if len(queries) == 1 and mode != "hybrid":
            keys, scores = (vector_lists or keyword_lists)[0]
            ranked, score_of = keys[:fetch].tolist(), dict(zip(keys.tolist(), scores.tolist(), strict=True))
        else:
            ranked, score_of = _fuse(vector_lists, keyword_lists, fetch, keyword_weight)
        chunks = self.engine.chunks(ranked)
        ranked = [key for key in ranked if key in chunks]  # removed meanwhile by another writer
        if words:
            bm25_of = self._scorer(words)
        passages = group(chunks, ranked, k, self.info.chunk_size)
        taken = [key for members in passages for key in members]
        cosines = [self.engine.cosines(v, taken) for v in vectors]  # one call per query, not per passage
        results = []
        for members in passages:
            doc = joined(chunks, members)
            doc.metadata["score"] = round(float(score_of[members[0]]), 4)
            if vectors:
                best = max((of[key] for of in cosines for key in members if key in of), default=0.0)
                doc.metadata["vector_score"] = round(float(best), 4)
            if words:
                doc.metadata["keyword_score"] = round(max(bm25_of(chunks[key]) for key in members), 4)
            results.append(doc)
        return results

    def openings(self, sources: Collection[str] | None, limit: int, articles: bool = False) -> list[Document]:
        """Return the first chunk of every file (of ``sources`` when given), or of every article."""
        return self.engine.openings(None if sources is None else set(sources), limit, articles)

    # -- evidence -----------------------------------------------------------------------
    def calibrate(self) -> Calibration | None:
        """Return the held-aside questions' vectors (embedded unless stored); ``None`` when the embedder is down."""
        if self.engine.calibration is None and self.embedding is not None:
            try:
                self.engine.calibration = embed_held_aside(self.embedding)
            except Exception:  # noqa: BLE001 (an unreachable embedder: no cosine can count as evidence now)
                return None
        return self.engine.calibration

    def evidence_threshold(self) -> float | None:
        """Return the cosine from which a chunk counts as evidence here, calibrated on these chunks.

        What unrelated questions score against this index (see :mod:`knowledge.calibration`),
        recomputed when the chunks change; ``None`` when there are no chunks or no embedder.
        """
        if self._threshold is not None and self._threshold[0] == self.engine.version:
            return self._threshold[1]
        calibration = self.calibrate()
        if calibration is None or not self.chunk_count:
            return None
        self._threshold = (self.engine.version, calibration.threshold_of(self.engine.best_cosines(calibration.vectors)))
        return self._threshold[1]

    def rarity(self, words: Sequence[str]) -> list[float]:
        """Return how rare each word is in the indexed chunks: BM25's IDF, a word no chunk holds the rarest.

        A word of several stems (``Wrayburn-Hale``) counts as its rarest; a stopword gets 0.
        """
        if not self.chunk_count:
            return [0.0] * len(words)
        per_word = [stems(word) for word in words]
        holding = self.engine.document_frequency(sorted({s for word in per_word for s in word}))
        return [max((idf(self.chunk_count, holding.get(s, 0)) for s in word), default=0.0) for word in per_word]

    # -- inside -------------------------------------------------------------------------
    def _query_vector(self, query: str) -> np.ndarray:
        embedding = self.embedding
        if embedding is None:
            raise RagchatError("This search needs the embedding model — use keyword search, or start Ollama.")
        vector = np.asarray(embedding.embed_query(query), dtype=np.float32)
        if vector.shape != (self.info.dimension,):
            raise RagchatError(
                f"The embedding model returned {vector.size}-d vectors but the index holds {self.info.dimension}-d "
                "ones — rebuild it with `ragchat ingest --rebuild`, or switch the embedding setting back."
            )
        return vector

    def _scorer(self, queries: list[list[str]]) -> Callable[[Document], float]:
        """Return a function giving a chunk its best BM25 score for any of these stemmed queries."""
        holding = self.engine.document_frequency(sorted({word for query in queries for word in query}))
        count = self.chunk_count
        average = self.engine.word_count() / count if count else 0.0

        def score(chunk: Document) -> float:
            words = stems(chunk.page_content)
            return max(bm25(query, words, count, average, holding) for query in queries)

        return score


@cache
def _beside() -> ThreadPoolExecutor:
    """The thread a search's keyword rankings run in while its vector rankings are computed."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="ragchat-keyword")


def _fuse(
    vector_lists: list[Ranking], keyword_lists: list[Ranking], k: int, keyword_weight: float
) -> tuple[list[int], dict[int, float]]:
    """Weighted reciprocal rank fusion of one vector and/or keyword list per query.

    A rank-r hit in a list adds ``weight / (RRF_K + r)``, where a query's vector lists weigh
    ``1 - keyword_weight`` and its keyword lists ``keyword_weight`` (either alone: 1), shared
    equally among the queries. Scores are scaled so that first place in every list is 1.
    """
    share = {"vector": 1.0 - keyword_weight, "keyword": keyword_weight}
    if not vector_lists or not keyword_lists:
        share = {"vector": 1.0, "keyword": 1.0}
    lists = [("vector", keys) for keys, _ in vector_lists] + [("keyword", keys) for keys, _ in keyword_lists]
    queries = max(len(vector_lists), len(keyword_lists))
    fused: dict[int, float] = {}
    for kind, keys in lists:
        weight = share[kind] / queries
        for rank, key in enumerate(keys.tolist(), start=1):
            fused[key] = fused.get(key, 0.0) + weight / (RRF_K + rank)
    best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
    top_possible = sum(share[kind] / queries for kind, _ in lists) / (RRF_K + 1)  # first in every list
    return [key for key, _ in best], {key: score / top_possible for key, score in best}
