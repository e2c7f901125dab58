"""The knowledge base on disk and in memory: chunks, vectors, keyword index and file manifest.

An index lives in ``<home>/index/``. Its data is written into a new generation folder
(``g000007/``: vectors, chunk records, keyword index); then ``current.json`` — the
manifest of indexed files, the embedding model's name and dimension, and the name of the
live generation — is replaced atomically (temp file + rename). A crash at any moment
leaves either the old or the new index, never a mix; older generations are removed
after the switch.

Search modes: ``vector`` (cosine over the matrix store), ``keyword`` (BM25; needs no
embedding model) and ``hybrid`` (both, fused by reciprocal rank). Any mode can be
restricted to a set of sources.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import orjson
from langchain_core.documents import Document
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.errors import EmbedderMismatch, IndexDamaged, RagchatError, explain_os_error
from knowledge.keyword import KeywordIndex
from knowledge.store import MatrixStore, top_rows

if TYPE_CHECKING:  # the class itself loads LangChain's runnables (~0.3 s), needed only to embed
    from langchain_core.embeddings import Embeddings

FORMAT_VERSION = 2
MANIFEST = "current.json"
GENERATION_NAME = r"^g[0-9]{6}$"
RRF_K = 60
"""Reciprocal rank fusion constant (Cormack et al. use 60): a rank-r hit adds 1 / (60 + r)."""
CANDIDATES_PER_K = 5
"""Hybrid search fuses the top ``5 * k`` (at least 50) of each list."""

SearchMode = Literal["hybrid", "vector", "keyword"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "vector", "keyword")


def now() -> str:
    """Return the current UTC time as ISO 8601 seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class FileRecord:
    """What the manifest knows of one indexed file."""

    source: str
    path: str
    sha256: str
    size: int
    mtime_ns: int
    chunks: int
    indexed_at: str = field(default_factory=now)


@dataclass
class IndexInfo:
    """What the index was built with; saved in the manifest."""

    embedding: str
    dimension: int = 0
    chunk_size: int = 500
    chunk_overlap: int = 50
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)


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
        query: str,
        k: int = 4,
        mode: SearchMode = "hybrid",
        sources: Collection[str] | None = None,
        keyword_weight: float = 0.5,
    ) -> list[Document]:
        """Return the ``k`` best chunks for ``query``, best first.

        Each document's metadata gains ``score`` (the ranking score of ``mode``: cosine for
        ``vector``, BM25 for ``keyword``, fused rank score scaled to 0..1 for ``hybrid``),
        and ``vector_score`` / ``keyword_score`` where they were computed.
        ``sources`` restricts the search to chunks of those files. ``keyword_weight`` is the
        keyword list's share of the hybrid fusion (0.5 weighs both lists equally).
        """
        if mode not in SEARCH_MODES:
            raise RagchatError(f"Unknown search mode {mode!r} — use one of: {', '.join(SEARCH_MODES)}.")
        if not 0.0 <= keyword_weight <= 1.0:
            raise RagchatError(f"keyword_weight must be between 0 and 1, not {keyword_weight}.")
        mask = self.source_mask(sources)
        if self.chunk_count == 0 or (mask is not None and not mask.any()):
            return []
        vector_scores = keyword_scores = None
        if mode in ("vector", "hybrid"):
            query_vector = self.store.embed_query(query)
            vector_scores = self.store.vectors @ _unit(query_vector)
        if mode in ("keyword", "hybrid"):
            keyword_scores = self.keyword.scores(query)
        if mode == "vector":
            ranking = _masked(vector_scores, mask)
            rows = top_rows(ranking, min(k, _allowed(mask, self.chunk_count)))
            scores = ranking[rows]
        elif mode == "keyword":
            ranking = _masked(keyword_scores, mask)
            rows = top_rows(ranking, k)
            rows = rows[ranking[rows] > 0]  # no shared word, no keyword hit
            scores = ranking[rows]
        else:
            rows, scores = self._fuse(vector_scores, keyword_scores, mask, k, keyword_weight)
        results = []
        for row, score in zip(rows.tolist(), scores.tolist(), strict=True):
            doc = self.store.document(row)
            doc.metadata["score"] = round(float(score), 4)
            if vector_scores is not None:
                doc.metadata["vector_score"] = round(float(vector_scores[row]), 4)
            if keyword_scores is not None:
                doc.metadata["keyword_score"] = round(float(keyword_scores[row]), 4)
            results.append(doc)
        return results

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
        vector_scores: np.ndarray,
        keyword_scores: np.ndarray,
        mask: np.ndarray | None,
        k: int,
        keyword_weight: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Weighted reciprocal rank fusion: a rank-r hit in a list adds 2·weight / (RRF_K + r)."""
        depth = max(CANDIDATES_PER_K * k, 50)
        fused: dict[int, float] = {}
        vector_rank = _masked(vector_scores, mask)
        keyword_rank = _masked(keyword_scores, mask)
        vector_rows = top_rows(vector_rank, min(depth, _allowed(mask, self.chunk_count)))
        keyword_rows = top_rows(keyword_rank, depth)
        keyword_rows = keyword_rows[keyword_rank[keyword_rows] > 0]
        for ranked, weight in ((vector_rows, 1.0 - keyword_weight), (keyword_rows, keyword_weight)):
            for rank, row in enumerate(ranked.tolist(), start=1):
                fused[row] = fused.get(row, 0.0) + 2.0 * weight / (RRF_K + rank)
        best = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:k]
        top_possible = 2.0 / (RRF_K + 1)  # first in both lists, whatever the weights
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
            self._save(folder)
        except OSError as exc:
            fault = explain_os_error(exc, folder)
            if fault is None:
                raise
            raise fault from exc

    def _save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        name = f"g{self.generation + 1:06d}"
        final = folder / name
        staging = Path(tempfile.mkdtemp(prefix=f"{name}.", suffix=".tmp", dir=folder))
        try:
            self.store.save(staging)
            self.keyword.save(staging / "keyword")
            if final.exists():  # left over from a crash between rename and manifest switch
                shutil.rmtree(final)
            os.replace(staging, final)
            self.info.dimension = self.store.dimension or self.info.dimension
            self.info.updated_at = now()
            manifest = {
                "format": FORMAT_VERSION,
                "generation": name,
                "info": asdict(self.info),
                "files": {source: asdict(record) for source, record in sorted(self.files.items())},
            }
            if self.forgotten:  # only then: an index without any stays readable by an older ragchat
                manifest["forgotten"] = sorted(self.forgotten)
            write_atomic(folder / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
        except BaseException:  # the manifest still names the old generation: drop the new one
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
            raise
        self.generation += 1
        for old in folder.iterdir():  # the switch is done: older generations are garbage
            if old.name != name and old.name != MANIFEST and old.name.startswith("g"):
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)

    @staticmethod
    def set_aside(home: str | Path) -> Path | None:
        """Rename an unreadable index (folder and first-version file) to ``*.damaged-<time>``; never delete it."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        kept = None
        for name in ("index", "index.json"):
            path = Path(home) / name
            try:
                if path.exists():
                    kept = path.with_name(f"{name}.damaged-{stamp}")
                    for n in range(2, 1000):  # a second damaged index within the same second
                        if not kept.exists():
                            break
                        kept = path.with_name(f"{name}.damaged-{stamp}-{n}")
                    os.replace(path, kept)
            except OSError as exc:  # a read-only data folder: nothing was renamed
                fault = explain_os_error(exc, home)
                if fault is None:
                    raise
                raise fault from exc
        return kept

    @classmethod
    def load(
        cls, home: str | Path, embeddings: Embeddings | Callable[[], Embeddings] | None, embedding: str
    ) -> KnowledgeIndex | None:
        """Load the index under ``home``, or return ``None`` if there is none.

        What is read is checked, not only parsed: the manifest's fields and their types,
        and that vectors, chunk records, keyword index and manifest agree (counts, widths,
        finite values).

        Raises:
            IndexDamaged: if the index is unreadable, inconsistent, or from another ragchat.
            EmbedderMismatch: if it was made by another embedder.
            RagchatError: if the disk refuses to be read (permission): nothing is damaged then.
        """
        home = Path(home)
        folder = home / "index"
        manifest_path = folder / MANIFEST
        try:
            if folder.exists() and not folder.is_dir():
                raise IndexDamaged(f"The index data in {folder} is damaged (not a folder) — {REBUILD}.")
            if not manifest_path.exists():
                if (home / "index.json").exists():
                    raise IndexDamaged(f"The index in {home} was made by an older ragchat — {REBUILD}.")
                return None
            manifest = _read_manifest(manifest_path)
        except UNREADABLE as exc:
            raise _damaged(f"The index manifest {manifest_path}", exc, home) from exc
        info = manifest.info
        if info.embedding != embedding:
            raise EmbedderMismatch(
                f"The index was built with {info.embedding} ({info.dimension}-d) but ragchat is set to "
                f"{embedding} — rebuild it with `ragchat ingest --rebuild`, or switch the embedding setting back."
            )
        data = folder / manifest.generation
        try:
            store = MatrixStore.load(data, embeddings)
            keyword = KeywordIndex.load(data / "keyword")
            _check_agreement(info, manifest.files, store, keyword)
        except UNREADABLE as exc:
            raise _damaged(f"The index data in {data}", exc, home) from exc
        generation = int(manifest.generation[1:])
        return cls(store, info, manifest.files, keyword, generation=generation, forgotten=manifest.forgotten)

    @staticmethod
    def read_forgotten(home: str | Path) -> set[str]:
        """Return the sources forgotten in the index under ``home``; none if it has no readable manifest."""
        try:
            return set(_read_manifest(Path(home) / "index" / MANIFEST).forgotten)
        except (*UNREADABLE, RagchatError):
            return set()


class _Manifest(BaseModel):
    """What ``current.json`` must hold (checked strictly: no coercion, no unknown fields)."""

    model_config = ConfigDict(extra="forbid")
    format: int
    generation: str = Field(pattern=GENERATION_NAME)
    info: IndexInfo
    files: dict[str, FileRecord]
    forgotten: list[str] = Field(default_factory=list)


UNREADABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OSError)
"""What reading damaged files raises (json, numpy, bm25s, pydantic); a ``MemoryError`` is not damage."""
REBUILD = "rebuild it with `ragchat ingest --rebuild` (the unreadable files are kept aside, not deleted)"


def _read_manifest(path: Path) -> _Manifest:
    raw = path.read_bytes()
    data = orjson.loads(raw)
    version = data.get("format") if isinstance(data, dict) else None
    if type(version) is int and version != FORMAT_VERSION:
        raise IndexDamaged(
            f"The index in {path.parent} has format {version}, this ragchat reads {FORMAT_VERSION} — {REBUILD}."
        )
    manifest = _Manifest.model_validate_json(raw, strict=True)
    for source, record in manifest.files.items():
        if record.source != source:
            raise ValueError(f"the entry {source!r} describes {record.source!r}")
    return manifest


def _check_agreement(
    info: IndexInfo, files: dict[str, FileRecord], store: MatrixStore, keyword: KeywordIndex
) -> None:
    if len(store) and store.dimension != info.dimension:
        raise ValueError(f"the vectors are {store.dimension}-d, the manifest says {info.dimension}-d")
    if keyword.size != len(store):
        raise ValueError(f"the keyword index holds {keyword.size} chunks, the vectors {len(store)}")
    # A listed file whose chunks are missing would count as unchanged and never come back.
    counts = Counter(metadata.get("source") for metadata in store.metadatas)
    wrong = next((source for source, record in files.items() if counts[source] != record.chunks), None)
    if wrong is not None:
        raise ValueError(f"the index holds {counts[wrong]} chunks of {wrong}, the manifest lists {files[wrong].chunks}")


def _damaged(what: str, exc: BaseException, home: Path) -> RagchatError:
    """Return the error for ``exc`` met while reading ``what``: a disk fault as such, anything else as damage."""
    fault = explain_os_error(exc, home) if isinstance(exc, OSError) else None
    return fault or IndexDamaged(f"{what} is damaged ({_reason(exc)}) — {REBUILD}.")


def _reason(exc: BaseException) -> str:
    """Say in a few words what is wrong, on one line."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        reason = f"{where}: {error['msg']}" if where else error["msg"]
    elif isinstance(exc, OSError) and exc.filename:
        reason = f"{exc.strerror or type(exc).__name__}: {Path(exc.filename).name}"
    elif isinstance(exc, KeyError):
        reason = f"missing {exc.args[0]!r}" if exc.args else "missing entry"
    else:
        reason = str(exc) or type(exc).__name__
    return " ".join(reason.split())[:200]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unit(vector: list[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    norm = np.linalg.norm(array)
    return array / norm if norm else array


def _masked(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return scores if mask is None else np.where(mask, scores, -np.inf)


def _allowed(mask: np.ndarray | None, total: int) -> int:
    return total if mask is None else int(mask.sum())
