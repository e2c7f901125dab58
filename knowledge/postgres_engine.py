"""The shared engine: one Postgres database with pgvector, which several ragchats can use at once.

Tables named ``ragchat_*``, created and versioned by ragchat (``ragchat_schema``), hold the
indexed files, their chunks (text, metadata as JSON, the unit vector as pgvector's ``vector``,
the stems as a ``tsvector``), the sources the user forgot, and in ``ragchat_meta`` the
embedder's identity, the calibration vectors and a change counter. Nothing is held in memory
but the file records: vector search is pgvector's HNSW index (cosine), exact when restricted
to some sources (a filter after an approximate search would lose recall). Keyword search is
a GIN-indexed ``tsvector`` of each chunk's stems (:func:`knowledge.keyword.stems`, stored as
lexemes as they are, never parsed again), ranked like BM25: per query word, its IDF times
``ts_rank`` (which saturates as the word recurs, and is divided by 1 + log of the chunk's
length), summed; a word held once by a one-word chunk scores its IDF.

The vector column gets its dimension, and its HNSW index, at the first commit that stores a
vector; a rebuild drops both, so a new embedder may have another dimension.

Changes are transactions: a file's old chunks go and its new ones come in one commit. Every
write also bumps the counter; other processes' commits are noticed by reading it (one row),
and only then are the records read again, in one snapshot.

One writer at a time: a session advisory lock on a connection of its own, held for a whole
ingest, so a second ingest says at once that another is running instead of waiting behind
it. Readers are never blocked by it.

Postgres text cannot hold NUL characters: they are left out of stored chunk text and
metadata. A damaged index is set aside by moving its tables into a schema of their own,
``ragchat_damaged_<time>``, where they are kept until someone drops them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from knowledge.calibration import HELD_ASIDE, IDENTITY, Calibration
from knowledge.engine import SCHEMA_VERSION, FileChunks, FileRecord, IndexInfo, Ranking, chunk_rows, in_batches, now
from knowledge.errors import (
    IndexDamaged,
    RagchatError,
    database_unreachable,
    postgres_reason,
    postgres_unreachable,
    without_password,
)
from knowledge.keyword import idf, stems
from knowledge.store import normalise

if TYPE_CHECKING:
    from langchain_core.documents import Document

WRITE_LOCK_WAIT = 2.0
"""Seconds to wait for another process's ingest before saying so (they can take minutes)."""
WRITE_LOCK_KEY = int.from_bytes(b"ragchat!", "big")
"""The advisory lock a writer holds (advisory locks belong to one database: one writer per database)."""
SCHEMA_LOCK_KEY = WRITE_LOCK_KEY + 1
"""Taken while creating the tables, so two first ingests do not both create them."""
CONNECT_TIMEOUT = 10
"""Seconds to wait for the server to answer a connection, unless the URL says otherwise."""
DDL_LOCK_TIMEOUT = "10s"
"""How long a change of the tables themselves waits for readers' transactions before saying it is busy."""
HNSW_MAX_DIMENSION = 2000
"""pgvector indexes vectors of at most this many dimensions; longer ones are searched exactly."""
BUILD_MEMORY = "1GB"
"""``maintenance_work_mem`` while the vector index is built (it is the graph's room; 100k 768-d chunks need ~400 MB)."""
REBUILD_SHARE, REBUILD_MIN_ROWS = 1 / 9, 1000
"""An ingest that adds more than this share of the rows held (and at least this many) drops the vector index and
has settle() build it again: pgvector inserts into an HNSW index about ten times slower than it builds one
(measured: 62 against 618 rows/s), so past a ninth of the rows, building anew is the cheaper way."""
EF_SEARCH = (200, 1000)
"""pgvector's ``hnsw.ef_search`` (candidates per search): at least, and at most. Measured on 90,000 real passages
(``bench_storage.py --recall-only 90000 --recall-vectors wordllama``), the exact top 4 found: 0.95 at pgvector's
default of 40 (2.8 ms), 0.97 at 100 (5.7 ms), 0.99 at 200 (9.9 ms), 0.998 at 400 (17.9 ms)."""
ONE_OCCURRENCE = 0.1 / 1.64493406685
"""What ``ts_rank`` gives a word held once (default weight over π²/6): scores are divided by it."""
LEXEME_BYTES, POSITIONS, LAST_POSITION = 2046, 256, 16383
"""Postgres's limits on a ``tsvector``: lexeme length, positions kept per lexeme, highest position."""
REBUILD = "rebuild it with `ragchat ingest --rebuild` (the damaged tables are kept aside, not deleted)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS ragchat_schema (version integer PRIMARY KEY, applied_at text NOT NULL);
CREATE TABLE IF NOT EXISTS ragchat_meta (key text PRIMARY KEY, value bytea NOT NULL);
CREATE TABLE IF NOT EXISTS ragchat_files (
    id bigserial PRIMARY KEY,
    source text NOT NULL UNIQUE,
    path text NOT NULL,
    sha256 text NOT NULL,
    size bigint NOT NULL,
    mtime_ns bigint NOT NULL,
    chunks integer NOT NULL,
    indexed_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS ragchat_chunks (
    id bigserial PRIMARY KEY,
    file bigint NOT NULL REFERENCES ragchat_files(id) ON DELETE CASCADE,
    key text NOT NULL UNIQUE,
    start integer NOT NULL,
    article integer,
    text text NOT NULL,
    metadata jsonb NOT NULL,
    embedding vector NOT NULL,
    words tsvector NOT NULL,
    length integer NOT NULL
);
CREATE INDEX IF NOT EXISTS ragchat_chunks_by_file ON ragchat_chunks (file, start);
CREATE INDEX IF NOT EXISTS ragchat_chunks_words ON ragchat_chunks USING gin (words);
CREATE TABLE IF NOT EXISTS ragchat_forgotten (source text PRIMARY KEY);
INSERT INTO ragchat_meta VALUES ('version', '0') ON CONFLICT DO NOTHING;
"""
TABLES = ("ragchat_schema", "ragchat_meta", "ragchat_files", "ragchat_chunks", "ragchat_forgotten")
VECTOR_INDEX = "ragchat_chunks_embedding"
BUMP = (
    "INSERT INTO ragchat_meta VALUES ('version', '1') ON CONFLICT (key) DO UPDATE "
    "SET value = convert_to((convert_from(ragchat_meta.value, 'UTF8')::bigint + 1)::text, 'UTF8')"
)
"""Every write transaction ends with this: readers compare the counter (and its row's ``xmin``)."""
MARKER = (
    "SELECT value, xmin::text, (SELECT count(*) FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NOT NULL) "
    "FROM ragchat_meta WHERE key = 'version'"
)
"""The change counter, its row's ``xmin`` (new if the tables are made again) and how many tables there are."""
KEYWORD_SCORE = (
    "(SELECT sum(t.weight * ts_rank(c.words, t.query, 1)) FROM unnest(%s::tsquery[], %s::float8[]) AS t(query, weight))"
)
"""Each query word's ``ts_rank`` (saturating as it recurs; 1: over 1 + log of the length) times its weight, summed."""
Marker = tuple[bytes, str, int]
T = TypeVar("T")
IN_SOURCES = "c.file = ANY(ARRAY(SELECT id FROM ragchat_files WHERE source = ANY(%s::text[])))"


class PostgresEngine:
    """One knowledge base in a Postgres database (``ragchat_*`` tables), searched there with pgvector."""

    def __init__(self, url: str) -> None:
        """Describe the database at ``url`` (a ``postgresql://`` URL); nothing is opened until it is first used."""
        self.url = url
        self.where = without_password(url)
        self.info: IndexInfo | None = None
        self.files: dict[str, FileRecord] = {}
        self.forgotten: set[str] = set()
        self.calibration: Calibration | None = None
        self.chunk_count = 0
        self.version = 0
        self._seen: Marker | None = None  # the change marker last loaded
        self._frequency: dict[str, int] = {}  # document frequencies read since the last change
        self._words: tuple[int, int] | None = None  # (version, stems in all chunks)
        self._reader: psycopg.Connection | None = None
        self._reader_vectors = False  # pgvector's types registered on the reader
        self._ef_search = 0  # the reader's hnsw.ef_search, once set
        self._writer: psycopg.Connection | None = None
        self._locker: psycopg.Connection | None = None  # holds the advisory lock while writing
        self._lock = threading.RLock()  # the reader and the state read
        self._write_lock = threading.RLock()  # the writer connection
        self._writing = threading.RLock()  # one ingest per engine at a time (the advisory lock is per session)
        self._writing_depth = 0
        self._added: tuple[int, int] | None = None  # (rows held when this hold began, rows added since)

    # -- reading ------------------------------------------------------------------------
    def exists(self) -> bool:
        """Whether ragchat's tables are in the database (nothing was ingested otherwise)."""
        return bool(self._read(self._present))

    def refresh(self) -> bool:
        """Pick up what was committed since the last call, here or in another process.

        Reads the change counter (one row); the records are read again, in one snapshot, only
        when it moved.

        Raises:
            IndexDamaged: if tables are missing or disagree, or they are from a newer ragchat.
            RagchatError: if the database cannot be reached or used.
        """
        return self._read(self._refresh)

    def vector_ranking(self, vector: np.ndarray, depth: int, sources: Collection[str] | None) -> Ranking:
        """Return the ``depth`` chunks nearest ``vector`` by cosine: HNSW, or exact among ``sources``."""
        if depth <= 0 or not self._has_vectors():
            return _empty()
        query = normalise(np.asarray(vector, dtype=np.float32))[0]
        if sources is None and depth <= EF_SEARCH[1]:
            rows = self._query(
                "SELECT id, 1 - (embedding <=> %s) FROM ragchat_chunks ORDER BY embedding <=> %s LIMIT %s",
                [query, query, depth],
                vectors=True,
                ef_search=depth,
            )
            return _ranking(rows)
        # Exact: ordered by the score, not by the index's operator, so the index is not used.
        where, args = ("", []) if sources is None else (f"WHERE {IN_SOURCES}", [list(sources)])
        rows = self._query(
            f"SELECT c.id, 1 - (c.embedding <=> %s) AS score FROM ragchat_chunks c {where} "
            "ORDER BY score DESC, c.id LIMIT %s",
            [query, *args, depth],
            vectors=True,
        )
        return _ranking(rows)

    def keyword_ranking(self, words: Sequence[str], depth: int, sources: Collection[str] | None) -> Ranking:
        """Return the ``depth`` best chunks holding any of ``words``, by ``ts_rank`` weighted by IDF (like BM25)."""
        terms = self._terms(words)
        if terms is None or depth <= 0:
            return _empty()
        any_word, each, weights = terms
        where, args = "c.words @@ %s::tsquery", [each, weights, any_word]
        if sources is not None:
            where, args = f"{where} AND {IN_SOURCES}", [*args, list(sources)]
        rows = self._query(
            f"SELECT c.id, {KEYWORD_SCORE} AS score FROM ragchat_chunks c WHERE {where} "
            "ORDER BY score DESC, c.id LIMIT %s",
            [*args, depth],
        )
        return _ranking(rows)

    def cosines(self, vector: np.ndarray, keys: Collection[int]) -> dict[int, float]:
        """Return the cosine of ``vector`` with each of these chunks."""
        if not keys or not self._has_vectors():
            return {}
        query = normalise(np.asarray(vector, dtype=np.float32))[0]
        rows = self._query(
            "SELECT id, 1 - (embedding <=> %s) FROM ragchat_chunks WHERE id = ANY(%s::bigint[])",
            [query, list(keys)],
            vectors=True,
        )
        return {key: _finite(score) for key, score in rows}

    def keys(self) -> list[int]:
        """Return the database keys of every chunk held, in the order they were stored."""
        return [row[0] for row in self._query("SELECT id FROM ragchat_chunks ORDER BY id", [])]

    def chunks(self, keys: Collection[int]) -> dict[int, Document]:
        """Return these chunks as new documents, by database key."""
        if not keys:
            return {}
        rows = self._query(
            "SELECT id, key, text, metadata FROM ragchat_chunks WHERE id = ANY(%s::bigint[])", [list(keys)]
        )
        return {row[0]: _document(*row[1:]) for row in rows}

    def openings(self, sources: Collection[str] | None, limit: int, articles: bool) -> list[Document]:
        """Return the first chunk of every file (or article), of ``sources`` when given, in source order."""
        part = "c.file, c.article" if articles else "c.file"
        where, args = "", []
        if sources is not None:
            where, args = f"WHERE {IN_SOURCES}", [list(sources)]
        rows = self._query(
            "SELECT key, text, metadata FROM (SELECT c.key, c.text, c.metadata, f.source, c.start, "
            f"row_number() OVER (PARTITION BY {part} ORDER BY c.start, c.id) AS n "
            f"FROM ragchat_chunks c JOIN ragchat_files f ON f.id = c.file {where}) AS first "
            'WHERE n = 1 ORDER BY source COLLATE "C", start LIMIT %s',
            [*args, limit],
        )
        return [_document(*row) for row in rows]

    def document_frequency(self, words: Sequence[str]) -> dict[str, int]:
        """Return how many chunks hold each stemmed word (those held by none are left out).

        Counted through the GIN index, and remembered until the chunks change.
        """
        wanted = [word for word in dict.fromkeys(words) if _fits(word)]
        with self._lock:
            missing = [word for word in wanted if word not in self._frequency]
            if missing:
                rows = self._query(
                    "SELECT t.word, (SELECT count(*) FROM ragchat_chunks c WHERE c.words @@ t.query) "
                    "FROM unnest(%s::text[], %s::tsquery[]) AS t(word, query)",
                    [missing, [_lexeme(word) for word in missing]],
                )
                if len(self._frequency) > 65536:
                    self._frequency.clear()
                self._frequency.update(rows)
            return {word: self._frequency[word] for word in wanted if self._frequency.get(word)}

    def word_count(self) -> int:
        """Return how many stems all chunks hold together (remembered until the chunks change)."""
        with self._lock:
            if self._words is None or self._words[0] != self.version:
                total = self._query("SELECT coalesce(sum(length), 0) FROM ragchat_chunks", [])[0][0]
                self._words = (self.version, int(total))
            return self._words[1]

    def export(self, batch: int = 4096) -> Iterator[list[FileChunks]]:
        """Yield every indexed file with its chunks (in file order) and vectors, about ``batch`` chunks at a time."""
        records = sorted(self.files.values(), key=lambda record: record.source)
        return in_batches((self._file_chunks(record) for record in records), batch)

    def _file_chunks(self, record: FileRecord) -> FileChunks:
        rows = self._query(
            "SELECT c.key, c.text, c.metadata, c.embedding FROM ragchat_chunks c JOIN ragchat_files f "
            "ON f.id = c.file WHERE f.source = %s ORDER BY c.start, c.id",
            [record.source],
            vectors=True,
        )
        chunks = [_document(key, text, metadata) for key, text, metadata, _ in rows]
        vectors = np.array([row[3].to_numpy() for row in rows], dtype=np.float32)  # pgvector's Vector
        return FileChunks(record, chunks, vectors.reshape(len(rows), -1))

    def best_cosines(self, vectors: np.ndarray) -> np.ndarray:
        """Return each of these unit vectors' best cosine with any chunk (its nearest by HNSW)."""
        best = np.full(len(vectors), -1.0, dtype=np.float32)
        if not len(vectors) or not self._has_vectors():
            return best
        rows = self._query(
            "SELECT q.n, (SELECT 1 - (c.embedding <=> q.v) FROM ragchat_chunks c ORDER BY c.embedding <=> q.v LIMIT 1) "
            "FROM unnest(%s::vector[]) WITH ORDINALITY AS q(v, n)",
            [list(normalise(vectors))],
            vectors=True,
            ef_search=1,
        )
        for n, score in rows:
            if score is not None:
                best[n - 1] = _finite(score)
        return best

    # -- writing ------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the right to change the index across processes: a session advisory lock.

        Held on a connection of its own, so a commit that fails (or a reader) never lets it go;
        taken again by the same thread, it is held until the outer hold ends.

        Raises:
            RagchatError: if another ragchat holds it for longer than :data:`WRITE_LOCK_WAIT`.
        """
        if not self._writing.acquire(timeout=WRITE_LOCK_WAIT):
            raise _busy()
        try:
            if self._writing_depth == 0:
                self._take_write_lock()
                self._added = None
            self._writing_depth += 1
            try:
                yield
            finally:
                self._writing_depth -= 1
                if self._writing_depth == 0:
                    self._release_write_lock()
        finally:
            self._writing.release()

    def start(self, info: IndexInfo, *, reset: bool = False) -> None:
        """Create the tables if needed and record ``info``; ``reset`` empties the index first (a rebuild).

        A reset keeps the forgotten sources, and drops the vectors' dimension and index: the
        next commit sets them for the (maybe new) embedder.
        """
        with self._translated(), self._transaction() as db:
            db.execute("INSERT INTO ragchat_schema VALUES (%s, %s) ON CONFLICT DO NOTHING", (SCHEMA_VERSION, now()))
            stored = db.execute("SELECT value FROM ragchat_meta WHERE key = 'info' FOR UPDATE").fetchone()
            if reset:
                db.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
                db.execute("TRUNCATE ragchat_chunks, ragchat_files")  # keys keep growing: sequences go on
                db.execute("DELETE FROM ragchat_meta WHERE key = 'calibration'")
                db.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
                db.execute("ALTER TABLE ragchat_chunks ALTER COLUMN embedding TYPE vector")
            if stored is None or reset:
                db.execute(
                    "INSERT INTO ragchat_meta VALUES ('info', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (orjson.dumps(info.to_dict()),),
                )

    def commit(
        self,
        add: Sequence[FileChunks] = (),
        remove: Collection[str] = (),
        touched: Sequence[FileRecord] = (),
        *,
        keep_times: bool = False,
    ) -> None:
        """In one transaction: drop ``remove``, store ``add`` (replacing their old chunks), update ``touched``.

        ``keep_times`` keeps the records' ``indexed_at`` (a migration); otherwise it is now.

        Raises:
            RagchatError: if the vectors are not of the index's dimension, or hold NaN or infinity.
        """
        vectors = [normalise(item.vectors) if len(item.vectors) else item.vectors for item in add]
        dimension = next((matrix.shape[1] for matrix in vectors if len(matrix)), 0)
        if any(len(matrix) and not np.isfinite(matrix).all() for matrix in vectors):
            raise RagchatError("The embedding model returned a vector holding NaN or infinity — try again.")
        with self._translated(), self._transaction() as db:
            info = self._stored_info(db, update=True)
            if dimension:
                widths = sorted({matrix.shape[1] for matrix in vectors if len(matrix)})
                if len(widths) > 1:
                    raise RagchatError(f"The embedding model returned vectors of {widths} dimensions — try again.")
                if info.dimension and info.dimension != dimension:
                    raise RagchatError(
                        f"The embedding model returned {dimension}-d vectors but the index holds {info.dimension}-d "
                        "ones — rebuild it with `ragchat ingest --rebuild`, or switch the embedding setting back."
                    )
                self._typed(db, dimension)
                self._count_added(db, sum(len(matrix) for matrix in vectors))
            gone = set(remove) | {item.record.source for item in add}
            if gone:
                db.execute("DELETE FROM ragchat_files WHERE source = ANY(%s::text[])", (list(gone),))
            cursor = db.cursor()
            for item, matrix in zip(add, vectors, strict=True):
                record = item.record
                if not keep_times:
                    record.indexed_at = now()
                file = cursor.execute(
                    "INSERT INTO ragchat_files (source, path, sha256, size, mtime_ns, chunks, indexed_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    (record.source, record.path, record.sha256, record.size, record.mtime_ns, record.chunks,
                     record.indexed_at),
                ).fetchone()[0]  # fmt: skip
                rows = []
                for (key, start, article, text, meta, _), unit in zip(chunk_rows(item), matrix, strict=True):
                    words = stems(text)
                    meta = Jsonb(_clean(meta), dumps=orjson.dumps)
                    rows.append(
                        (file, key, start, _article(article), _clean(text), meta, unit, _tsvector(words), len(words))
                    )
                cursor.executemany(
                    "INSERT INTO ragchat_chunks (file, key, start, article, text, metadata, embedding, words, length) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s::tsvector, %s)",
                    rows,
                )
                cursor.execute("DELETE FROM ragchat_forgotten WHERE source = %s", (record.source,))
            if touched:
                cursor.executemany(
                    "UPDATE ragchat_files SET size = %s, mtime_ns = %s WHERE source = %s",
                    [(r.size, r.mtime_ns, r.source) for r in touched],
                )
            self._touch_info(db, info, dimension)

    def forget(self, sources: Collection[str], keep_out: Collection[str]) -> None:
        """In one transaction: drop these files' chunks and records, and keep ``keep_out`` out of later ingests."""
        with self._translated(), self._transaction() as db:
            info = self._stored_info(db, update=True)
            db.execute("DELETE FROM ragchat_files WHERE source = ANY(%s::text[])", (list(sources),))
            db.execute(
                "INSERT INTO ragchat_forgotten SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING", (list(keep_out),)
            )
            self._touch_info(db, info, 0)

    def settle(self) -> None:
        """Build the vector index if it is missing (after a first ingest, a rebuild, a move or a large addition).

        Later commits insert into it row by row, which suits changes of a few files. Until it exists,
        vector search is exact (a scan), so nothing is missed meanwhile.
        """
        with self._translated(), self._write_lock:
            if self._writer is None:
                with self._transaction():
                    pass  # opens the writer (and checks the tables)
            db = self._writer
            present = db.execute("SELECT to_regclass(%s) IS NOT NULL", (VECTOR_INDEX,)).fetchone()[0]
            typed = db.execute(
                "SELECT atttypmod FROM pg_attribute "
                "WHERE attrelid = 'ragchat_chunks'::regclass AND attname = 'embedding'"
            ).fetchone()
            if present or typed is None or not 0 < typed[0] <= HNSW_MAX_DIMENSION:
                return  # built already, no vector stored yet, or too long to index (searched exactly)
            db.execute(f"SET maintenance_work_mem = '{BUILD_MEMORY}'")  # the graph in memory: twice as fast again
            try:
                db.execute(
                    f"CREATE INDEX IF NOT EXISTS {VECTOR_INDEX} "
                    "ON ragchat_chunks USING hnsw (embedding vector_cosine_ops)"
                )
            finally:
                db.execute("RESET maintenance_work_mem")

    def save_calibration(self, calibration: Calibration) -> None:
        """Store the held-aside questions' vectors with the index."""
        blob = np.ascontiguousarray(calibration.vectors, dtype="<f4").tobytes()
        with self._translated(), self._transaction() as db:
            info = self._stored_info(db, update=True)
            db.execute(
                "INSERT INTO ragchat_meta VALUES ('calibration', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (blob,),
            )
            info.calibration = calibration.identity
            db.execute("UPDATE ragchat_meta SET value = %s WHERE key = 'info'", (orjson.dumps(info.to_dict()),))

    def set_aside(self) -> str | None:
        """Move the damaged tables into a new schema ``ragchat_damaged_<time>``, keeping them; return its name.

        Nothing is renamed or dropped: the tables, their indexes and sequences move together, and
        new ones are created by the next ingest. ``None`` when there were no tables.

        Raises:
            RagchatError: if the database user may not create a schema (say how to clear the tables by hand).
        """
        with self._lock, self._write_lock:
            self._close(keep_lock=True)  # the caller is writing: another ingest must not start meanwhile
            with self._translated():
                db = _connect(self.url, "set aside")
                try:
                    kept = self._move_aside(db)
                finally:
                    db.close()
            self._forget_state()
            return kept

    def close(self) -> None:
        """Close the connections, and the write lock's unless an ingest holds it (they reopen when next needed)."""
        self._close(keep_lock=self._writing_depth > 0)

    def _close(self, *, keep_lock: bool) -> None:
        with self._lock, self._write_lock:
            for connection in (self._reader, self._writer, None if keep_lock else self._locker):
                if connection is not None:
                    connection.close()
            self._reader = self._writer = None
            if not keep_lock:
                self._locker = None
            self._reader_vectors, self._ef_search = False, 0
            self._seen = None

    # -- inside: reading ------------------------------------------------------------------
    def _marker(self, db: psycopg.Connection) -> Marker | None:
        """What tells a change: :data:`MARKER`'s row; ``None`` when there are no tables (nothing stored)."""
        if self._seen is None and not self._present(db):
            return None
        try:
            row = db.execute(MARKER, (list(TABLES),)).fetchone()
        except psycopg.errors.UndefinedTable:  # gone since (set aside by another process?): load says which
            return None if not self._present(db) else (b"", "", 0)
        return (bytes(row[0]), row[1], row[2]) if row is not None else (b"", "", len(TABLES))

    def _load(self, db: psycopg.Connection) -> None:
        """Read the records, forgotten sources, embedder and calibration, checking that the tables are whole."""
        present = self._present(db)
        if not present:
            self._forget_state()
            return
        if "ragchat_schema" not in present:
            raise IndexDamaged(f"The index in the database at {self.where} has no ragchat_schema table — {REBUILD}.")
        if missing := [table for table in TABLES if table not in present]:
            raise IndexDamaged(
                f"The index in the database at {self.where} is damaged (no table {', '.join(missing)}) — {REBUILD}."
            )
        versions = [row[0] for row in db.execute("SELECT version FROM ragchat_schema")]
        if versions and max(versions) > SCHEMA_VERSION:
            raise IndexDamaged(
                f"The index in the database at {self.where} was made by a newer ragchat (schema {max(versions)}) — "
                f"upgrade ragchat, or {REBUILD}."
            )
        marker = db.execute(MARKER, (list(TABLES),)).fetchone()
        info = self._stored_info(db) if versions else None
        files = {
            row[0]: FileRecord(*row)
            for row in db.execute(
                "SELECT source, path, sha256, size, mtime_ns, chunks, indexed_at FROM ragchat_files ORDER BY source"
            )
        }
        if self._seen is None:  # opening: check that records and chunks agree (one index lookup per file)
            wrong = db.execute(
                "SELECT source, chunks, held FROM (SELECT f.source, f.chunks, "
                "(SELECT count(*) FROM ragchat_chunks c WHERE c.file = f.id) AS held FROM ragchat_files f) AS counted "
                "WHERE chunks <> held LIMIT 1"
            ).fetchone()
            if wrong is not None:
                raise IndexDamaged(
                    f"The index in the database at {self.where} is damaged ({wrong[0]} should have {wrong[1]} "
                    f"chunks, it has {wrong[2]}) — {REBUILD}."
                )
        self.info, self.files = info, files
        self.forgotten = {row[0] for row in db.execute("SELECT source FROM ragchat_forgotten")}
        self.chunk_count = db.execute("SELECT count(*) FROM ragchat_chunks").fetchone()[0]
        self.calibration = self._stored_calibration(db, info)
        self._frequency = {}
        self._seen = (bytes(marker[0]), marker[1], marker[2]) if marker is not None else (b"", "", len(TABLES))
        self.version += 1

    def _stored_info(self, db: psycopg.Connection, *, update: bool = False) -> IndexInfo:
        lock = " FOR UPDATE" if update else ""
        row = db.execute(f"SELECT value FROM ragchat_meta WHERE key = 'info'{lock}").fetchone()
        if row is None:
            raise IndexDamaged(f"The index in the database at {self.where} has no record of its embedder — {REBUILD}.")
        try:
            return IndexInfo(**orjson.loads(row[0]))
        except (TypeError, ValueError) as exc:
            raise IndexDamaged(f"The index in the database at {self.where} is damaged ({exc}) — {REBUILD}.") from exc

    def _stored_calibration(self, db: psycopg.Connection, info: IndexInfo | None) -> Calibration | None:
        row = db.execute("SELECT value FROM ragchat_meta WHERE key = 'calibration'").fetchone()
        if row is None or info is None or info.calibration != IDENTITY or not info.dimension:
            return None
        vectors = np.frombuffer(bytes(row[0]), dtype="<f4")
        if vectors.size != len(HELD_ASIDE) * info.dimension or not np.isfinite(vectors).all():
            return None  # remade from the embedder when needed
        return Calibration(vectors.reshape(len(HELD_ASIDE), info.dimension).copy())

    def _present(self, db: psycopg.Connection) -> list[str]:
        """The ragchat tables that exist (where the connection's ``search_path`` finds them)."""
        rows = db.execute(
            "SELECT t FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) WHERE to_regclass(t) IS NOT NULL ORDER BY n",
            (list(TABLES),),
        )
        return [row[0] for row in rows]

    def _has_vectors(self) -> bool:
        """Whether a vector was ever stored, as last read (the vector type exists then)."""
        return self.info is not None and self.info.dimension > 0

    def _terms(self, words: Sequence[str]) -> tuple[str, list[str], list[float]] | None:
        """The query for chunks holding any of ``words``, each word's own query and its weight (IDF)."""
        unique = [word for word in dict.fromkeys(words) if _fits(word)]
        if not unique:
            return None
        holding = self.document_frequency(unique)
        rows = max(self.chunk_count, *holding.values(), 1)
        weights = [idf(rows, holding.get(word, 0)) / ONE_OCCURRENCE for word in unique]
        each = [_lexeme(word) for word in unique]
        return " | ".join(each), each, weights

    def _query(self, statement: str, args: Sequence[Any], *, vectors: bool = False, ef_search: int = 0) -> list[tuple]:
        def run(db: psycopg.Connection) -> list[tuple]:
            if vectors and not self._reader_vectors:
                from pgvector.psycopg import register_vector

                register_vector(db)
                self._reader_vectors = True
            wanted = min(max(EF_SEARCH[0], ef_search), EF_SEARCH[1])
            if ef_search and wanted != self._ef_search:
                db.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(wanted),))
                self._ef_search = wanted
            return db.execute(statement, args).fetchall()

        return self._read(run)

    def _refresh(self, reader: psycopg.Connection) -> bool:
        marker = self._marker(reader)
        if marker is None:
            changed = self._seen is not None or self.info is not None
            if changed:
                self._forget_state()
            return changed
        if marker == self._seen:
            return False
        with reader.transaction():  # REPEATABLE READ: one snapshot for everything read below
            self._load(reader)
        return True

    def _read(self, work: Callable[[psycopg.Connection], T]) -> T:
        """Run ``work`` on the reader; again on a new connection if the open one was lost (a server restart)."""
        with self._lock, self._translated():
            opened = self._reader is not None
            try:
                return work(self._reading())
            except psycopg.OperationalError as exc:
                if not (opened and postgres_unreachable(exc)):
                    raise
                self._drop(reader=True)
                return work(self._reading())

    def _reading(self) -> psycopg.Connection:
        if self._reader is None:
            self._reader = _connect(self.url, "reader")
            self._reader.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self._reader.read_only = True
            self._reader_vectors, self._ef_search = False, 0
        return self._reader

    def _forget_state(self) -> None:
        self.info, self.files, self.forgotten, self.calibration = None, {}, set(), None
        self.chunk_count, self._seen, self._frequency = 0, None, {}
        self.version += 1

    # -- inside: writing ------------------------------------------------------------------
    def _move_aside(self, db: psycopg.Connection) -> str | None:
        present = self._present(db)
        if not present:
            return None
        taken = {row[0] for row in db.execute("SELECT nspname FROM pg_namespace")}
        stamp = "ragchat_damaged_" + datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
        name = next(n for n in (stamp, *(f"{stamp}_{k}" for k in range(2, 1000))) if n not in taken)
        try:
            with db.transaction():
                db.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
                db.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
                for table in present:
                    move = sql.SQL("ALTER TABLE {} SET SCHEMA {}")
                    db.execute(move.format(sql.Identifier(table), sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege as exc:
            raise RagchatError(
                f"ragchat may not create a schema in the database at {self.where} to keep the damaged index aside "
                f"({postgres_reason(exc)}) — drop or rename its tables ({', '.join(present)}), then run "
                "`ragchat ingest --rebuild` again."
            ) from exc
        return name

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection]:
        """One write transaction on the writer connection (tables made when it opens), counter bumped."""
        with self._write_lock:
            opened = self._writer is not None
            if not opened:
                writer = _connect(self.url, "writer")
                try:
                    self._create_tables(writer)
                    from pgvector.psycopg import register_vector

                    register_vector(writer)
                except BaseException:
                    writer.close()
                    raise
                self._writer = writer
            db = self._writer
            if opened:
                try:
                    db.execute("SELECT 1")  # idle since the last commit: lost meanwhile (a server restart)?
                except psycopg.OperationalError as exc:
                    if not postgres_unreachable(exc):
                        raise
                    self._drop(writer=True)
                    with self._transaction() as db:  # a new connection, tables checked again
                        yield db
                    return
            try:
                with db.transaction():
                    yield db
                    db.execute(BUMP)
            except psycopg.errors.UndefinedTable:
                db.close()  # the tables went (set aside elsewhere): the next writer makes them again
                self._writer = None
                raise

    def _create_tables(self, db: psycopg.Connection) -> None:
        """Create the pgvector extension and the tables unless all are there (one catalog query if they are)."""
        if len(self._present(db)) == len(TABLES):
            return
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetchone() is None:
                try:
                    with db.transaction():
                        db.execute("CREATE EXTENSION IF NOT EXISTS vector")
                except psycopg.Error as exc:
                    if postgres_unreachable(exc):
                        raise
                    raise RagchatError(
                        f"The database at {self.where} cannot use pgvector ({postgres_reason(exc)}) — install "
                        "pgvector on the server, and run `CREATE EXTENSION vector` there as a user allowed to."
                    ) from exc
            db.execute(SCHEMA)
            db.execute("INSERT INTO ragchat_schema VALUES (%s, %s) ON CONFLICT DO NOTHING", (SCHEMA_VERSION, now()))

    def _typed(self, db: psycopg.Connection, dimension: int) -> None:
        """Give the vector column ``dimension`` and its HNSW index, unless it has them (a catalog read)."""
        held = db.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'ragchat_chunks'::regclass AND attname = 'embedding'"
        ).fetchone()
        if held is not None and held[0] == dimension:
            return
        db.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
        db.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")
        db.execute(f"ALTER TABLE ragchat_chunks ALTER COLUMN embedding TYPE vector({int(dimension)})")
        # The HNSW index is built by settle() once the ingest is done: built over all rows at once it
        # takes a tenth of the time that inserting row by row into it does (measured: 618 vs 62 rows/s).

    def _count_added(self, db: psycopg.Connection, rows: int) -> None:
        """Count rows about to be added; drop the vector index once rebuilding it is cheaper (:data:`REBUILD_SHARE`)."""
        if self._added is None:
            self._added = (db.execute("SELECT count(*) FROM ragchat_chunks").fetchone()[0], 0)
        held, added = self._added[0], self._added[1] + rows
        self._added = (held, added)
        if added >= REBUILD_MIN_ROWS and added > held * REBUILD_SHARE:
            if db.execute("SELECT to_regclass(%s) IS NOT NULL", (VECTOR_INDEX,)).fetchone()[0]:
                db.execute(f"SET LOCAL lock_timeout = '{DDL_LOCK_TIMEOUT}'")
                db.execute(f"DROP INDEX IF EXISTS {VECTOR_INDEX}")  # searches are exact until settle() builds it

    def _touch_info(self, db: psycopg.Connection, info: IndexInfo, dimension: int) -> None:
        info.updated_at = now()
        info.dimension = info.dimension or dimension
        db.execute("UPDATE ragchat_meta SET value = %s WHERE key = 'info'", (orjson.dumps(info.to_dict()),))

    def _take_write_lock(self) -> None:
        deadline = time.monotonic() + WRITE_LOCK_WAIT
        with self._translated():
            for attempt in (1, 2):
                if self._locker is None or self._locker.closed:
                    self._locker = _connect(self.url, "write lock")
                try:
                    while not self._locker.execute("SELECT pg_try_advisory_lock(%s)", (WRITE_LOCK_KEY,)).fetchone()[0]:
                        if time.monotonic() >= deadline:
                            raise _busy()
                        time.sleep(0.05)
                    return
                except psycopg.OperationalError as exc:
                    if attempt == 2 or not postgres_unreachable(exc):
                        raise
                    self._locker.close()  # lost while idle: once more on a new connection

    def _release_write_lock(self) -> None:
        locker = self._locker
        if locker is None or locker.closed:
            return  # closed meanwhile: the lock went with its session
        try:
            locker.execute("SELECT pg_advisory_unlock(%s)", (WRITE_LOCK_KEY,))
        except psycopg.Error:
            locker.close()  # a lost connection took its lock with it
            self._locker = None

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn Postgres failures into their one-line errors; missing tables and corruption into damage."""
        try:
            yield
        except RagchatError:
            raise
        except psycopg.Error as exc:
            self._drop_broken()
            raise self._explained(exc) from exc

    def _explained(self, exc: psycopg.Error) -> RagchatError:
        state, reason = exc.sqlstate or "", postgres_reason(exc)
        if postgres_unreachable(exc):
            return database_unreachable(self.url, exc)
        if state in ("XX001", "XX002", "42P01", "42703", "42704"):  # corrupt; a table, column or type gone
            return IndexDamaged(f"The index in the database at {self.where} is damaged ({reason}) — {REBUILD}.")
        if state.startswith("53"):  # insufficient resources: disk full, out of memory, too many connections
            return RagchatError(
                f"The database server at {self.where} is short of resources ({reason}) — free disk space or "
                "connections there, then try again."
            )
        if state == "42501":
            return RagchatError(
                f"ragchat is not allowed to use the database at {self.where} ({reason}) — grant its user access, "
                "or use another database."
            )
        if state == "25006":
            return RagchatError(
                f"The database at {self.where} is read-only ({reason}) — point RAGCHAT_DATABASE_URL at the primary "
                "server."
            )
        if state in ("40001", "40P01", "55P03", "57014"):  # serialization, deadlock, lock timeout, cancelled
            return RagchatError(f"The database at {self.where} is busy ({reason}) — try again in a moment.")
        return RagchatError(
            f"ragchat could not use the database at {self.where} ({reason}) — check the server's log, then try again."
        )

    def _drop_broken(self) -> None:
        """Forget connections a failure closed, so the next use opens new ones."""
        lost = [c is not None and (c.closed or c.broken) for c in (self._reader, self._writer, self._locker)]
        self._drop(reader=lost[0], writer=lost[1], locker=lost[2])

    def _drop(self, *, reader: bool = False, writer: bool = False, locker: bool = False) -> None:
        for name, drop in (("_reader", reader), ("_writer", writer), ("_locker", locker)):
            connection = getattr(self, name)
            if drop and connection is not None:
                connection.close()
                setattr(self, name, None)
        if reader:
            self._reader_vectors, self._ef_search = False, 0


def _connect(url: str, purpose: str) -> psycopg.Connection:
    """Open an autocommit connection (transactions are explicit), JSON read by orjson."""
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.types.json import set_json_loads

    try:
        given = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise RagchatError(
            "The database URL cannot be read — write it as postgresql://user:password@host:port/database."
        ) from exc
    defaults: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT, "application_name": f"ragchat {purpose}"}
    db = psycopg.connect(url, autocommit=True, **{k: v for k, v in defaults.items() if k not in given})
    set_json_loads(orjson.loads, db)
    return db


def _busy() -> RagchatError:
    return RagchatError("Another ragchat is updating the index right now — try again when it has finished.")


def _lexeme(word: str) -> str:
    r"""Return ``word`` quoted as one ``tsvector``/``tsquery`` lexeme: nothing in it is syntax.

    >>> print(_lexeme("it's"), _lexeme("a\\b"))
    'it''s' 'a\\b'
    """
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _fits(word: str) -> bool:
    return 0 < len(word.encode()) <= LEXEME_BYTES


def _tsvector(words: Sequence[str]) -> str:
    """Return the ``tsvector`` literal of these words: each lexeme as it is, with its positions (1-based).

    >>> _tsvector(["bell", "tide", "bell"])
    "'bell':1,3 'tide':2"
    """
    positions: dict[str, list[int]] = {}
    for n, word in enumerate(words, start=1):
        if _fits(word):
            held = positions.setdefault(word, [])
            if len(held) < POSITIONS and (not held or held[-1] < LAST_POSITION):
                held.append(min(n, LAST_POSITION))
    return " ".join(f"{_lexeme(word)}:{','.join(map(str, held))}" for word, held in positions.items())


def _clean(value: Any) -> Any:
    """Return ``value`` without NUL characters in its strings (Postgres text cannot hold them)."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_clean(key): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value]
    return value


def _article(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _finite(score: float) -> float:
    """A cosine as a float; NaN (a zero vector has no direction) counts as 0."""
    return 0.0 if score != score else float(score)


def _empty() -> Ranking:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)


def _ranking(rows: list[tuple]) -> Ranking:
    keys = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    return keys, np.fromiter((_finite(row[1]) for row in rows), dtype=np.float32, count=len(rows))


def _document(key: str, text: str, metadata: dict[str, Any]) -> Document:
    from langchain_core.documents import Document

    return Document(page_content=text, metadata=metadata, id=key)
