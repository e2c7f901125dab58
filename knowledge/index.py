"""The knowledge index in memory: chunks with their vectors and keyword index, the file manifest, and search.

Search modes: ``vector`` (cosine over the matrix store), ``keyword`` (BM25; needs no
embedding model) and ``hybrid`` (both, fused by reciprocal rank). Any mode can be
restricted to a set of sources. Saving and loading go through :mod:`knowledge.manifest`:
a new generation folder, then an atomic switch of ``current.json`` to it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from langchain_core.documents import Document

from knowledge.calibration import Calibration, embed_held_aside
from knowledge.errors import RagchatError, explain_os_error
from knowledge.keyword import KeywordIndex
from knowledge.manifest import (
    MANIFEST,
    FileRecord,
    IndexInfo,
    now,
    read_calibration,
    read_forgotten,
    read_index,
    set_aside,
    write_atomic,
    write_generation,
)
from knowledge.passages import group, joined, openings
from knowledge.store import MatrixStore, top_rows

if TYPE_CHECKING:  # the class itself loads LangChain's runnables (~0.3 s), needed only to embed
    from langchain_core.embeddings import Embeddings

# Where the manifest's names lived before: other modules import them from here.
__all__ = [
    "MANIFEST",
    "SEARCH_MODES",
    "FileRecord",
    "IndexInfo",
    "KnowledgeIndex",
    "SearchMode",
    "now",
    "write_atomic",
]

RRF_K = 60
"""Reciprocal rank fusion constant (Cormack et al. use 60): a rank-r hit adds 1 / (60 + r)."""
CANDIDATES_PER_K = 5
"""Hybrid search fuses the top ``5 * k`` (at least 50) of each list; every mode ranks ``5 * k`` candidates."""

SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "vector", "keyword")


class KnowledgeIndex:
    """Chunks with their vectors and keyword index, plus the manifest of files they came from."""

    def __init__(
        self,
        store: MatrixStore,
        info: IndexInfo,
        files: dict[str, FileRecord] | None = None,
        keyword: KeywordIndex | None = None,
        generation: int = 0,
        forgotten: Collection[str] = (),
    ) -> None:
        """Wrap a filled ``store``; the keyword index is built on first use when not given."""
        self.store = store
        self.info = info
        self.files = files or {}
        self.forgotten = set(forgotten)
        """Sources the user forgot: folder ingests leave them out until one is named again."""
        self._keyword = keyword
        self._keyword_version = store.version if keyword is not None else -1
        self._source_column: tuple[int, np.ndarray] | None = None
        self.generation = generation
        self.calibration: Calibration | None = None
        """The held-aside questions' vectors (see :mod:`knowledge.calibration`); made on first need."""
        self._threshold: tuple[int, float | None] | None = None

    @classmethod
    def empty(cls, embeddings: Embeddings | Callable[[], Embeddings] | None, info: IndexInfo) -> KnowledgeIndex:
        """Return an index with no chunks."""
        return cls(MatrixStore(embeddings), info)

    # -- reading ------------------------------------------------------------------------
    @property
    def keyword(self) -> KeywordIndex:
        """The BM25 index over the current chunks (rebuilt if the chunks changed)."""
        if self._keyword is None or self._keyword_version != self.store.version:
            self._keyword = KeywordIndex(self.store.texts)
            self._keyword_version = self.store.version
        return self._keyword

    @property
    def chunk_count(self) -> int:
        """How many chunks the index holds."""
        return len(self.store)

    def search(
        self,
        query: str | Sequence[str],
        k: int = 4,
        mode: SearchMode = "hybrid",
        sources: Collection[str] | None = None,
        keyword_weight: float = 0.5,
    ) -> list[Document]:
        """Return the ``k`` best chunks for ``query`` (one text, or several fused), best first.

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
        mask = self.source_mask(sources)
        if self.chunk_count == 0 or not queries or (mask is not None and not mask.any()):
            return []
        vector_scores = keyword_scores = None
        if mode in ("vector", "hybrid"):
            vector_scores = [self.store.vectors @ _unit(self.store.embed_query(q)) for q in queries]
        if mode in ("keyword", "hybrid"):
            keyword_scores = [self.keyword.scores(q) for q in queries]
        fetch = CANDIDATES_PER_K * k  # neighbours merge into one passage: more candidates fill the k places
        if mode == "vector" and len(queries) == 1:
            ranking = _masked(vector_scores[0], mask)
            rows = top_rows(ranking, min(fetch, _allowed(mask, self.chunk_count)))
            scores = ranking[rows]
        elif mode == "keyword" and len(queries) == 1:
            ranking = _masked(keyword_scores[0], mask)
            rows = top_rows(ranking, fetch)
            rows = rows[ranking[rows] > 0]  # no shared word, no keyword hit
            scores = ranking[rows]
        else:
            rows, scores = self._fuse(vector_scores or [], keyword_scores or [], mask, fetch, keyword_weight)
        best_vector = np.max(vector_scores, axis=0) if vector_scores else None
        best_keyword = np.max(keyword_scores, axis=0) if keyword_scores else None
        results = []
        ranked = rows.tolist()
        rank_of = {row: n for n, row in enumerate(ranked)}
        for members in group(self.store, ranked, k, self.info.chunk_size):
            doc = joined(self.store, members)
            doc.metadata["score"] = round(float(scores[rank_of[members[0]]]), 4)
            if best_vector is not None:
                doc.metadata["vector_score"] = round(float(max(best_vector[row] for row in members)), 4)
            if best_keyword is not None:
                doc.metadata["keyword_score"] = round(float(max(best_keyword[row] for row in members)), 4)
            results.append(doc)
        return results

    def sources(self) -> list[str]:
        """Return the indexed documents' source names, sorted."""
        return sorted(self.files)

    def openings(self, sources: Collection[str] | None, limit: int, articles: bool = False) -> list[Document]:
        """Return the first chunk of every file (of ``sources`` when given), or of every article (``passages``)."""
        return openings(self.store, sources, limit, articles)

    def calibrate(self) -> Calibration | None:
        """Embed the held-aside questions unless done; ``None`` when the embedder cannot (it is down)."""
        if self.calibration is None and self.store.embedding is not None:
            try:
                self.calibration = embed_held_aside(self.store.embedding)
            except Exception:  # noqa: BLE001 (an unreachable embedder: no cosine can count as evidence now)
                return None
        return self.calibration

    def evidence_threshold(self) -> float | None:
        """Return the cosine from which a chunk counts as evidence here, calibrated on these chunks.

        What unrelated questions score against this index (see :mod:`knowledge.calibration`),
        recomputed when the chunks change; ``None`` when there are no chunks or no embedder.
        """
        if self._threshold is not None and self._threshold[0] == self.store.version:
            return self._threshold[1]
        calibration = self.calibrate()
        if calibration is None:
            return None
        self._threshold = (self.store.version, calibration.threshold(self.store.vectors))
        return self._threshold[1]

    def rarity(self, words: Sequence[str]) -> list[float]:
        """Return how rare each word is in the indexed chunks (IDF; see :meth:`KeywordIndex.rarity`)."""
        return self.keyword.rarity(words)

    def source_mask(self, sources: Collection[str] | None) -> np.ndarray | None:
        """Return a row mask for chunks of ``sources`` (``None`` means every chunk)."""
        if sources is None:
            return None
        if self._source_column is None or self._source_column[0] != self.store.version:
            column = np.array([m.get("source", "") for m in self.store.metadatas], dtype=object)
            self._source_column = (self.store.version, column)
        return np.isin(self._source_column[1], list(sources))

    def _fuse(
        self,
        vector_scores: list[np.ndarray],
        keyword_scores: list[np.ndarray],
        mask: np.ndarray | None,
        k: int,
        keyword_weight: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weighted reciprocal rank fusion of one vector and/or keyword list per query.

        A rank-r hit in a list adds ``weight / (RRF_K + r)``, where a query's vector lists weigh
        ``1 - keyword_weight`` and its keyword lists ``keyword_weight`` (either alone: 1), shared
        equally among the queries. Scores are scaled so that first place in every list is 1.
        """
        depth = max(CANDIDATES_PER_K * k, 50)
        share = {"vector": 1.0 - keyword_weight, "keyword": keyword_weight}
        if not vector_scores or not keyword_scores:
            share = {"vector": 1.0, "keyword": 1.0}
        lists = [("vector", s) for s in vector_scores] + [("keyword", s) for s in keyword_scores]
        queries = max(len(vector_scores), len(keyword_scores))
        fused: dict[int, float] = {}
        for kind, scores in lists:
            ranking = _masked(scores, mask)
            if kind == "vector":
                rows = top_rows(ranking, min(depth, _allowed(mask, self.chunk_count)))
            else:
                rows = top_rows(ranking, depth)
                rows = rows[ranking[rows] > 0]  # no shared word, no keyword hit
            weight = share[kind] / queries
            for rank, row in enumerate(rows.tolist(), start=1):
                fused[row] = fused.get(row, 0.0) + weight / (RRF_K + rank)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        top_possible = sum(share[kind] / queries for kind, _ in lists) / (RRF_K + 1)  # first in every list
        rows = np.array([row for row, _ in best], dtype=np.int64)
        return rows, np.array([score / top_possible for _, score in best], dtype=np.float64)

    # -- changing -----------------------------------------------------------------------
    def remove_sources(self, sources: Collection[str]) -> int:
        """Drop every chunk of ``sources`` and their manifest entries; return the chunks removed."""
        mask = self.source_mask(sources)
        removed = int(mask.sum()) if mask is not None else 0
        if removed:
            self.store.keep_rows(~mask)
        for source in sources:
            self.files.pop(source, None)
        return removed

    # -- disk ---------------------------------------------------------------------------
    def save(self, home: str | Path) -> None:
        """Write a new generation and switch ``current.json`` to it atomically.

        Raises:
            RagchatError: if the disk is full, read-only or refuses access; the index on
                disk is then the one before, whole, and nothing half-written stays.
        """
        folder = Path(home) / "index"
        try:
            write_generation(
                folder,
                self.store,
                self.keyword,
                self.info,
                self.files,
                self.forgotten,
                self.generation + 1,
                self.calibration,
            )
        except OSError as exc:
            fault = explain_os_error(exc, folder)
            if fault is None:
                raise
            raise fault from exc
        self.generation += 1

    @staticmethod
    def set_aside(home: str | Path) -> Path | None:
        """Rename an unreadable index (folder and first-version file) to ``*.damaged-<time>``; never delete it."""
        return set_aside(home)

    @classmethod
    def load(
        cls, home: str | Path, embeddings: Embeddings | Callable[[], Embeddings] | None, embedding: str
    ) -> KnowledgeIndex | None:
        """Load the index under ``home`` (checked as :func:`knowledge.manifest.read_index` says), or ``None``.

        Raises:
            IndexDamaged: if the index is unreadable, inconsistent, or from another ragchat.
            EmbedderMismatch: if it was made by another embedder.
            RagchatError: if the disk refuses to be read (permission): nothing is damaged then.
        """
        found = read_index(Path(home), embeddings, embedding)
        if found is None:
            return None
        manifest, store, keyword = found
        generation = int(manifest.generation[1:])
        index = cls(store, manifest.info, manifest.files, keyword, generation=generation, forgotten=manifest.forgotten)
        index.calibration = read_calibration(Path(home), manifest, store.dimension)
        return index

    @staticmethod
    def read_forgotten(home: str | Path) -> set[str]:
        """Return the sources forgotten in the index under ``home``; none if it has no readable manifest."""
        return read_forgotten(home)


def _unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = np.linalg.norm(array)
    return array / norm if norm else array


def _masked(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return scores if mask is None else np.where(mask, scores, -np.inf)


def _allowed(mask: np.ndarray | None, total: int) -> int:
    return total if mask is None else int(mask.sum())
