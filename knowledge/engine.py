"""What a storage engine of the knowledge base does, and what it is given.

A storage engine keeps files, chunks (text, metadata, vector) and the embedder's identity
in a real database, and answers the two rankings a search fuses: nearest vectors and best
keyword matches. :class:`knowledge.index.KnowledgeIndex` does everything above that (query
embedding, fusion, joining neighbouring chunks), so it is the same on every engine.

Two engines implement :class:`Engine`: :class:`knowledge.sqlite_engine.SQLiteEngine`, one
file in the data folder with vectors searched in memory, and
:class:`knowledge.postgres_engine.PostgresEngine`, a shared Postgres with pgvector.

Every change is a transaction of its own size: :meth:`Engine.commit` replaces some files'
chunks and records, :meth:`Engine.forget` removes some; nothing rewrites the whole index.
Chunks are identified across engines and rebuilds by their key (``Document.id``: a hash
of source, position and text), and inside one database by an integer that only grows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from knowledge.calibration import Calibration

SCHEMA_VERSION = 1
"""The version of the tables ragchat creates; recorded in each database's ``ragchat_schema`` table."""


def now() -> str:
    """Return the current UTC time as ISO 8601 seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class FileRecord:
    """What the index knows of one indexed file."""

    source: str
    path: str
    sha256: str
    size: int
    mtime_ns: int
    chunks: int
    indexed_at: str = field(default_factory=now)


@dataclass
class IndexInfo:
    """What the index was built with."""

    embedding: str
    dimension: int = 0
    chunk_size: int = 500
    chunk_overlap: int = 50
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    calibration: str = ""
    """The identity of the held-aside questions whose vectors are stored (``""``: none)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dictionary (for storing as JSON)."""
        return asdict(self)


@dataclass
class FileChunks:
    """One file's new chunks, ready to store: its record, chunks (``id`` set) and their vectors."""

    record: FileRecord
    chunks: list[Document]
    vectors: np.ndarray


Ranking = tuple[np.ndarray, np.ndarray]
"""Chunk keys (int64) and their scores, best first."""


class Engine(Protocol):
    """A database holding one knowledge base: what :class:`knowledge.index.KnowledgeIndex` needs of it."""

    where: str
    """Where the data lives, for messages (a path, or a URL without its password)."""
    info: IndexInfo | None
    """What the index was built with; ``None`` until something was stored."""
    files: dict[str, FileRecord]
    forgotten: set[str]
    chunk_count: int
    version: int
    """Grows whenever the chunks change (here or in another process), for caches."""
    calibration: Calibration | None

    def exists(self) -> bool:
        """Whether anything was ever stored here (the database or its tables exist)."""
        ...

    def refresh(self) -> bool:
        """Pick up changes committed since the last call (by anyone); return whether there were any."""
        ...

    def vector_ranking(self, vector: np.ndarray, depth: int, sources: Collection[str] | None) -> Ranking:
        """Return the ``depth`` chunks nearest ``vector`` by cosine, only of ``sources`` when given."""
        ...

    def keyword_ranking(self, words: Sequence[str], depth: int, sources: Collection[str] | None) -> Ranking:
        """Return the ``depth`` best chunks for the stemmed ``words`` by full-text rank (only those holding one)."""
        ...

    def cosines(self, vector: np.ndarray, keys: Collection[int]) -> dict[int, float]:
        """Return the cosine of ``vector`` with each of these chunks."""
        ...

    def keys(self) -> list[int]:
        """Return the database keys of every chunk held, in the order they were stored."""
        ...

    def chunks(self, keys: Collection[int]) -> dict[int, Document]:
        """Return these chunks as new documents (``id``: the chunk key), by database key."""
        ...

    def openings(self, sources: Collection[str] | None, limit: int, articles: bool) -> list[Document]:
        """Return the first chunk of every file (or article), of ``sources`` when given, in source order."""
        ...

    def document_frequency(self, words: Sequence[str]) -> dict[str, int]:
        """Return how many chunks hold each stemmed word (words none holds are left out)."""
        ...

    def word_count(self) -> int:
        """Return how many stems all chunks hold together (BM25's average length is this over the chunk count)."""
        ...

    def best_cosines(self, vectors: np.ndarray) -> np.ndarray:
        """Return each of these unit vectors' best cosine with any chunk."""
        ...

    def export(self, batch: int = 4096) -> Iterator[list[FileChunks]]:
        """Yield every indexed file with its chunks (in file order) and vectors, about ``batch`` chunks at a time."""
        ...

    def writing(self) -> AbstractContextManager[None]:
        """Hold the right to change this knowledge base, across processes (raises a one-line error if busy)."""
        ...

    def start(self, info: IndexInfo, *, reset: bool = False) -> None:
        """Create the tables if needed and record ``info``; ``reset`` empties the index first (a rebuild)."""
        ...

    def commit(
        self,
        add: Sequence[FileChunks] = (),
        remove: Collection[str] = (),
        touched: Sequence[FileRecord] = (),
        *,
        keep_times: bool = False,
    ) -> None:
        """In one transaction: drop ``remove``, store ``add`` (replacing their old chunks), update ``touched``.

        Files added are no longer forgotten; their ``indexed_at`` becomes now unless ``keep_times``.
        """
        ...

    def forget(self, sources: Collection[str], keep_out: Collection[str]) -> None:
        """In one transaction: drop these files' chunks and records, and keep ``keep_out`` out of later ingests."""
        ...

    def settle(self) -> None:
        """After a batch of changes (an ingest, a move): build what is better built once than kept row by row."""
        ...

    def save_calibration(self, calibration: Calibration) -> None:
        """Store the held-aside questions' vectors with the index."""
        ...

    def set_aside(self) -> Path | str | None:
        """Move a database SQLite or Postgres reports damaged out of the way, keeping it; return where it went."""
        ...

    def close(self) -> None:
        """Let go of connections and locks."""
        ...


def chunk_rows(item: FileChunks) -> Iterator[tuple[str, int, Any, str, dict[str, Any], np.ndarray]]:
    """Yield each chunk of ``item`` as (key, start offset, article, text, metadata, vector) for an INSERT."""
    for chunk, vector in zip(item.chunks, item.vectors, strict=True):
        meta = chunk.metadata
        yield str(chunk.id), int(meta.get("start_index") or 0), meta.get("article"), chunk.page_content, meta, vector


def in_batches(items: Iterable[FileChunks], batch: int = 4096) -> Iterator[list[FileChunks]]:
    """Group files with their chunks into lists of about ``batch`` chunks (whole files), for one transaction each."""
    group: list[FileChunks] = []
    held = 0
    for item in items:
        group.append(item)
        held += len(item.chunks)
        if held >= batch:
            yield group
            group, held = [], 0
    if group:
        yield group
