"""The embedded engine: one SQLite database in the data folder, its vectors also held in memory.

``<home>/knowledge.sqlite`` holds the indexed files, their chunks (text, metadata, and the
vector as a float32 BLOB), the sources the user forgot, the embedder's identity and the
calibration vectors. Keyword search is SQLite's FTS5 over each chunk's stems
(:func:`knowledge.keyword.stems`), ranked by BM25 in memory over the postings FTS5 gives
for the words asked (:mod:`knowledge.postings`). Vector search is exact, in memory: the
vectors are read into a :class:`~knowledge.matrix.VectorMatrix` when the index is first
opened and kept in step with the database from then on, and so are the postings held.

Changes are transactions (WAL journal): a file's old chunks go and its new ones come in
one commit, so a crash at any moment leaves the database at the last commit. Other
processes' commits are noticed by ``PRAGMA data_version`` (a read of a few bytes) and
picked up row by row: new chunks by key (keys only grow), removed ones by comparing the
count and then the keys.

One writer at a time: a file lock beside the database, taken for a whole ingest, so a
second ingest says at once that another is running instead of waiting behind it.
Readers are never blocked by a writer.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from knowledge.atomic import aside_name
from knowledge.calibration import HELD_ASIDE, IDENTITY, Calibration, best_cosines
from knowledge.engine import SCHEMA_VERSION, FileChunks, FileRecord, IndexInfo, Ranking, chunk_rows, in_batches, now
from knowledge.errors import (
    SQLITE_BUSY_CODES,
    SQLITE_CORRUPT_CODES,
    IndexDamaged,
    RagchatError,
    explain_os_error,
    sqlite_code,
    sqlite_disk_fault,
)
from knowledge.keyword import stems
from knowledge.matrix import VectorMatrix
from knowledge.postings import Postings, rank

if TYPE_CHECKING:
    from filelock import FileLock
    from langchain_core.documents import Document

DATABASE = "knowledge.sqlite"
WRITE_LOCK = "index.lock"
WRITE_LOCK_WAIT = 2.0
"""Seconds to wait for another process's ingest before saying so (they can take minutes)."""
LOAD_BATCH = 8192
"""Chunks' vectors read per step when the index is opened."""
BUSY_TIMEOUT = 10.0
"""Seconds SQLite waits for another connection's commit before giving up."""
REBUILD = "rebuild it with `ragchat ingest --rebuild` (the damaged file is kept aside, not deleted)"

SCHEMA = """
CREATE TABLE IF NOT EXISTS ragchat_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    key TEXT NOT NULL UNIQUE,
    start INTEGER NOT NULL,
    article INTEGER,
    text TEXT NOT NULL,
    metadata BLOB NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks(file, start);
CREATE VIRTUAL TABLE IF NOT EXISTS chunk_words USING fts5(words, tokenize = 'unicode61 remove_diacritics 2');
CREATE TABLE IF NOT EXISTS term_docs (term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS chunk_words_follow AFTER DELETE ON chunks BEGIN
    DELETE FROM chunk_words WHERE rowid = old.id;
END;
CREATE TABLE IF NOT EXISTS forgotten (source TEXT PRIMARY KEY);
"""
VOCABULARY = "CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_vocab USING fts5vocab(main, chunk_words, instance)"
"""Each word's occurrences (chunk, position), for reading a word's postings; in memory, per connection."""
TABLES = frozenset({"ragchat_schema", "meta", "files", "chunks", "chunk_words", "term_docs", "forgotten"})


class SQLiteEngine:
    """One data folder's knowledge base in SQLite, with its vectors in memory for search."""

    def __init__(self, home: Path, name: str = DATABASE) -> None:
        """Describe the database ``name`` under ``home``; nothing is opened until it is first used."""
        self.home = Path(home)
        self.path = self.home / name
        self.where = str(self.path)
        self.info: IndexInfo | None = None
        self.files: dict[str, FileRecord] = {}
        self.forgotten: set[str] = set()
        self.calibration: Calibration | None = None
        self.version = 0
        self._file_keys: dict[str, int] = {}
        self._matrix = VectorMatrix()
        self._postings = Postings()
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._seen: tuple[int, int, int] | None = None  # (inode, data_version, schema version) last loaded
        self._lock = threading.RLock()  # the state in memory (matrix, files); taken before _reads
        self._reads = threading.RLock()  # the reader connection: a keyword query runs beside a vector search
        self._file_lock: FileLock | None = None

    # -- reading ------------------------------------------------------------------------
    @property
    def chunk_count(self) -> int:
        """How many chunks the index holds."""
        return len(self._matrix)

    def exists(self) -> bool:
        """Whether the database file is there (nothing was ingested otherwise)."""
        return self.path.exists()

    def refresh(self) -> bool:
        """Pick up what was committed since the last call, here or in another process.

        Raises:
            IndexDamaged: if SQLite reports the file corrupt, or it is from a newer ragchat.
            RagchatError: if the disk refuses to be read.
        """
        with self._lock, self._reads, self._translated():
            try:
                inode = self.path.stat().st_ino
            except FileNotFoundError:
                changed = self.info is not None
                self._forget_state()
                return changed
            if self._reader is not None and self._seen is not None and self._seen[0] != inode:
                self._reader.close()  # the file was replaced (set aside, rebuilt): start over
                self._reader, self._seen = None, None
            reader = self._reading()
            data_version = reader.execute("PRAGMA data_version").fetchone()[0]
            if self._seen is not None and self._seen[1] == data_version:
                return False
            reader.execute("BEGIN")  # one snapshot for everything read below
            try:
                self._load(reader, inode, data_version)
            finally:
                reader.execute("COMMIT")
            return True

    def vector_ranking(self, vector: np.ndarray, depth: int, sources: Collection[str] | None) -> Ranking:
        """Return the ``depth`` chunks nearest ``vector`` (exact cosine over the matrix in memory)."""
        with self._lock:
            return self._matrix.search(vector, depth, self._file_ids(sources))

    def keyword_ranking(self, words: Sequence[str], depth: int, sources: Collection[str] | None) -> Ranking:
        """Return the ``depth`` best chunks holding any of ``words``, by BM25 as FTS5 scores it.

        Words held by half the chunks or more are left out when rarer ones are held: BM25 gives
        them a weight of 1e-6, so they change no score, but they would make nearly every chunk
        a candidate (and their postings are the longest to read).
        """
        if not words or depth <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        unique = list(dict.fromkeys(words))
        with self._lock:
            held = self.document_frequency(unique)
            telling = [word for word in unique if 0 < held.get(word, 0) < self.chunk_count / 2]
            postings = [self._postings.of(word, self._read_postings) for word in telling or unique]
            return rank(postings, self._matrix, depth, self._file_ids(sources))

    def cosines(self, vector: np.ndarray, keys: Collection[int]) -> dict[int, float]:
        """Return the cosine of ``vector`` with each of these chunks."""
        with self._lock:
            return self._matrix.cosines_of(vector, keys)

    def keys(self) -> list[int]:
        """Return the database keys of every chunk held, in the order they were stored."""
        with self._lock:
            return sorted(self._matrix.keys())

    def chunks(self, keys: Collection[int]) -> dict[int, Document]:
        """Return these chunks as new documents, by database key."""
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._query(f"SELECT id, key, text, metadata FROM chunks WHERE id IN ({marks})", list(keys))
        return {row[0]: _document(row[1], row[2], row[3]) for row in rows}

    def openings(self, sources: Collection[str] | None, limit: int, articles: bool) -> list[Document]:
        """Return the first chunk of every file (or article), of ``sources`` when given, in source order."""
        part = "c.file, c.article" if articles else "c.file"
        where, args = "", []
        if sources is not None:
            ids = self._file_ids(sources)
            where, args = f"WHERE c.file IN ({','.join('?' * len(ids))})", list(ids)
        sql = (
            "SELECT key, text, metadata FROM (SELECT c.key, c.text, c.metadata, f.source, c.start, "
            f"row_number() OVER (PARTITION BY {part} ORDER BY c.start, c.id) AS n "
            f"FROM chunks c JOIN files f ON f.id = c.file {where}) WHERE n = 1 ORDER BY source, start LIMIT ?"
        )
        return [_document(*row) for row in self._query(sql, [*args, limit])]

    def document_frequency(self, words: Sequence[str]) -> dict[str, int]:
        """Return how many chunks hold each stemmed word (counted as chunks come and go); unknown words are left out."""
        unique = list(dict.fromkeys(words))
        if not unique:
            return {}
        marks = ",".join("?" * len(unique))
        return dict(self._query(f"SELECT term, docs FROM term_docs WHERE term IN ({marks})", unique))

    def word_count(self) -> int:
        """Return how many stems all chunks hold together (kept with each change)."""
        row = self._query("SELECT value FROM meta WHERE key = 'words'", ())
        return int(row[0][0]) if row else 0

    def best_cosines(self, vectors: np.ndarray) -> np.ndarray:
        """Return each unit vector's best cosine with any chunk."""
        with self._lock:
            return best_cosines(self._matrix.live(), vectors)

    def export(self, batch: int = 4096) -> Iterator[list[FileChunks]]:
        """Yield every indexed file with its chunks (in file order) and vectors, about ``batch`` chunks at a time."""
        return in_batches((self._file_chunks(record) for record in sorted(self.files.values(), key=_source)), batch)

    def _file_chunks(self, record: FileRecord) -> FileChunks:
        rows = self._query(
            "SELECT c.key, c.text, c.metadata, c.vector FROM chunks c JOIN files f ON f.id = c.file "
            "WHERE f.source = ? ORDER BY c.start, c.id",
            (record.source,),
        )
        chunks = [_document(key, text, metadata) for key, text, metadata, _ in rows]
        return FileChunks(
            record, chunks, np.frombuffer(b"".join(row[3] for row in rows), dtype="<f4").reshape(len(rows), -1)
        )

    # -- writing ------------------------------------------------------------------------
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the right to change the index across processes: a file lock beside the database."""
        from filelock import FileLock, Timeout

        try:
            self.home.mkdir(parents=True, exist_ok=True)
            if self._file_lock is None:
                self._file_lock = FileLock(self.home / WRITE_LOCK)
            self._file_lock.acquire(timeout=WRITE_LOCK_WAIT)
        except Timeout as exc:  # before OSError: filelock's Timeout is a TimeoutError
            raise RagchatError(
                "Another ragchat is updating the index right now — try again when it has finished."
            ) from exc
        except OSError as exc:  # a read-only or full disk: say so, change nothing
            fault = explain_os_error(exc, self.home)
            if fault is None:
                raise
            raise fault from exc
        try:
            yield
        finally:
            self._file_lock.release()

    def start(self, info: IndexInfo, *, reset: bool = False) -> None:
        """Create the tables if needed and record ``info``; ``reset`` empties the index first (a rebuild)."""
        with self._translated(), self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO ragchat_schema VALUES (?, ?)", (SCHEMA_VERSION, now()))
            stored = db.execute("SELECT value FROM meta WHERE key = 'info'").fetchone()
            if reset:
                db.execute("DELETE FROM chunks")
                db.execute("DELETE FROM files")
                db.execute("DELETE FROM term_docs")
                db.execute("DELETE FROM meta WHERE key = 'words'")
                db.execute("DELETE FROM meta WHERE key = 'calibration'")
            if stored is None or reset:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('info', ?)", (orjson.dumps(info.to_dict()),))

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
        """
        with self._translated(), self._transaction() as db:
            gone = set(remove) | {item.record.source for item in add}
            self._drop_files(db, gone)
            terms: Counter[str] = Counter()
            length = 0
            for item in add:
                record = item.record
                if not keep_times:
                    record.indexed_at = now()
                cursor = db.execute(
                    "INSERT INTO files (source, path, sha256, size, mtime_ns, chunks, indexed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (record.source, record.path, record.sha256, record.size, record.mtime_ns, record.chunks,
                     record.indexed_at),
                )  # fmt: skip
                file = cursor.lastrowid
                for key, start, article, text, meta, vector in chunk_rows(item):
                    cursor = db.execute(
                        "INSERT INTO chunks (file, key, start, article, text, metadata, vector) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (file, key, start, _article(article), text, orjson.dumps(meta),
                         np.asarray(vector, dtype="<f4").tobytes()),
                    )  # fmt: skip
                    words = stems(text)
                    terms.update(set(words))
                    length += len(words)
                    db.execute(
                        "INSERT INTO chunk_words (rowid, words) VALUES (?, ?)", (cursor.lastrowid, " ".join(words))
                    )
                db.execute("DELETE FROM forgotten WHERE source = ?", (record.source,))
            _count_terms(db, terms, length)
            db.executemany(
                "UPDATE files SET size = ?, mtime_ns = ? WHERE source = ?",
                [(r.size, r.mtime_ns, r.source) for r in touched],
            )
            dimension = next((len(item.vectors[0]) for item in add if len(item.vectors)), 0)
            self._touch_info(db, dimension)

    def forget(self, sources: Collection[str], keep_out: Collection[str]) -> None:
        """In one transaction: drop these files' chunks and records, and keep ``keep_out`` out of later ingests."""
        with self._translated(), self._transaction() as db:
            self._drop_files(db, sources)
            db.executemany("INSERT OR IGNORE INTO forgotten VALUES (?)", [(source,) for source in keep_out])
            self._touch_info(db, 0)

    def settle(self) -> None:
        """Nothing is built afterwards here: the vectors are searched in memory, FTS5 merges as it goes."""

    def save_calibration(self, calibration: Calibration) -> None:
        """Store the held-aside questions' vectors with the index."""
        blob = np.ascontiguousarray(calibration.vectors, dtype="<f4").tobytes()
        with self._translated(), self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('calibration', ?)", (blob,))
            info = self._stored_info(db)
            info.calibration = calibration.identity
            db.execute("UPDATE meta SET value = ? WHERE key = 'info'", (orjson.dumps(info.to_dict()),))

    def set_aside(self) -> Path | None:
        """Rename a damaged database (and its journal files) to ``knowledge.damaged-<time>.sqlite``."""
        with self._lock:
            self.close()
            if not self.path.exists():
                return None
            kept = aside_name(self.path, "knowledge", ".sqlite")
            try:
                for suffix in ("-wal", "-shm", ""):
                    path = Path(f"{self.path}{suffix}")
                    if path.exists():
                        os.replace(path, Path(f"{kept}{suffix}"))
            except OSError as exc:
                fault = explain_os_error(exc, self.home)
                if fault is None:
                    raise
                raise fault from exc
            self._forget_state()
            return kept

    def close(self) -> None:
        """Close both connections (they reopen when next needed)."""
        with self._lock, self._reads:
            for connection in (self._reader, self._writer):
                if connection is not None:
                    connection.close()
            self._reader = self._writer = None
            self._seen = None

    # -- inside -------------------------------------------------------------------------
    def _load(self, db: sqlite3.Connection, inode: int, data_version: int) -> None:
        """Bring the state in memory to the database's, reading only what changed where it can."""
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        if not tables:
            self._forget_state()  # an empty file: nothing was ever stored (a first commit creates the tables)
            self._seen = (inode, data_version, SCHEMA_VERSION)
            return
        if "ragchat_schema" not in tables:
            raise IndexDamaged(f"The index {self.path} is a database ragchat did not make — {REBUILD}.")
        if missing := sorted(TABLES - tables):
            raise IndexDamaged(f"The index {self.path} is damaged (no table {', '.join(missing)}) — {REBUILD}.")
        versions = [row[0] for row in db.execute("SELECT version FROM ragchat_schema")]
        if versions and max(versions) > SCHEMA_VERSION:
            raise IndexDamaged(
                f"The index {self.path} was made by a newer ragchat (schema {max(versions)}) — upgrade ragchat, "
                f"or {REBUILD}."
            )
        info = self._stored_info(db) if versions else None
        if (
            info is None
            or self.info is None
            or (info.embedding, info.dimension)
            != (
                self.info.embedding,
                self.info.dimension,
            )
        ):
            self._matrix = VectorMatrix(info.dimension if info else 0)
            self._postings.clear()
        self.info = info
        known = set(self._file_keys.values())
        self.files, self._file_keys = {}, {}
        for row in db.execute("SELECT id, source, path, sha256, size, mtime_ns, chunks, indexed_at FROM files"):
            self.files[row[1]] = FileRecord(*row[1:])
            self._file_keys[row[1]] = row[0]
        self.forgotten = {row[0] for row in db.execute("SELECT source FROM forgotten")}
        if self._seen is None:  # opening: check that records and chunks agree (one index lookup per file)
            wrong = db.execute(
                "SELECT source, chunks, (SELECT count(*) FROM chunks WHERE file = f.id) AS held FROM files f "
                "WHERE chunks != held LIMIT 1"
            ).fetchone()
            if wrong is not None:
                raise IndexDamaged(
                    f"The index {self.path} is damaged ({wrong[0]} should have {wrong[1]} chunks, it has {wrong[2]})"
                    f" — {REBUILD}."
                )
        before = len(self._matrix)
        last = self._matrix.last_key
        total = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        new = db.execute("SELECT count(*) FROM chunks WHERE id > ?", (last,)).fetchone()[0]
        if before + new != total:  # chunks go only with their file (a changed file is a new file row)
            self._matrix.remove_files(known - set(self._file_keys.values()))
        if len(self._matrix) + new != total:  # not as expected: compare every key
            held = {row[0] for row in db.execute("SELECT id FROM chunks WHERE id <= ?", (last,))}
            self._matrix.remove(self._matrix.keys() - held)
        self._matrix.reserve(new)  # read in batches into room made once: memory stays ~1x
        width = 4 * (info.dimension if info else 0)
        rows = db.execute(  # each chunk's length in words as FTS5 counted it (its docsize: a varint)
            "SELECT c.id, c.file, c.vector, d.sz FROM chunks c LEFT JOIN chunk_words_docsize d ON d.id = c.id "
            "WHERE c.id > ? ORDER BY c.id",
            (last,),
        )
        while batch := rows.fetchmany(LOAD_BATCH):
            keys, files, blobs, sizes = zip(*batch, strict=True)
            if not width or any(len(blob) != width for blob in blobs):
                raise IndexDamaged(f"The index {self.path} is damaged (a vector is not {width // 4}-d) — {REBUILD}.")
            vectors = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(keys), -1)
            if not np.isfinite(vectors).all():
                raise IndexDamaged(f"The index {self.path} is damaged (a vector holds NaN or infinity) — {REBUILD}.")
            lengths = np.fromiter(map(_varint, sizes), dtype=np.int32, count=len(sizes))
            self._matrix.append(np.asarray(keys, dtype=np.int64), np.asarray(files, dtype=np.int64), vectors, lengths)
        if new and self._postings.upto:  # the words held gain the new chunks' counts
            since = (self._postings.upto,)
            added = db.execute("SELECT rowid, words FROM chunk_words WHERE rowid > ? ORDER BY rowid", since)
            self._postings.extend(added, self._matrix.last_key)
        self._postings.upto = max(self._postings.upto, self._matrix.last_key)
        self.calibration = self._stored_calibration(db, info)
        self._seen = (inode, data_version, SCHEMA_VERSION)
        self.version += 1

    @staticmethod
    def _drop_files(db: sqlite3.Connection, sources: Collection[str]) -> None:
        """Delete these files (their chunks and keyword rows follow) and take their chunks out of the word counts."""
        if not sources:
            return
        gone: Counter[str] = Counter()
        length = 0
        for source in sources:
            rows = db.execute(
                "SELECT w.words FROM files f JOIN chunks c ON c.file = f.id JOIN chunk_words w ON w.rowid = c.id "
                "WHERE f.source = ?",
                (source,),
            )
            for (words,) in rows:
                split = words.split()
                gone.update(set(split))
                length += len(split)
        db.executemany("DELETE FROM files WHERE source = ?", [(source,) for source in sources])
        _count_terms(db, Counter({term: -n for term, n in gone.items()}), -length)

    def _read_postings(self, word: str, upto: int) -> tuple[np.ndarray, np.ndarray]:
        """Return which chunks (keys up to ``upto``) hold ``word`` and how often, from FTS5's vocabulary."""
        with self._reads, self._translated():
            reader = self._reading()
            reader.execute(VOCABULARY)
            rows = reader.execute(
                "SELECT doc, count(*) FROM temp.chunk_vocab WHERE term = ? AND doc <= ? GROUP BY doc ORDER BY doc",
                (word, upto),
            ).fetchall()
        found = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return found[:, 0].copy(), found[:, 1].copy()

    def _stored_info(self, db: sqlite3.Connection) -> IndexInfo:
        row = db.execute("SELECT value FROM meta WHERE key = 'info'").fetchone()
        if row is None:
            raise IndexDamaged(f"The index {self.path} has no record of its embedder — {REBUILD}.")
        try:
            return IndexInfo(**orjson.loads(row[0]))
        except (TypeError, ValueError) as exc:
            raise IndexDamaged(f"The index {self.path} is damaged ({exc}) — {REBUILD}.") from exc

    def _stored_calibration(self, db: sqlite3.Connection, info: IndexInfo | None) -> Calibration | None:
        row = db.execute("SELECT value FROM meta WHERE key = 'calibration'").fetchone()
        if row is None or info is None or info.calibration != IDENTITY or not info.dimension:
            return None
        vectors = np.frombuffer(row[0], dtype="<f4")
        if vectors.size != len(HELD_ASIDE) * info.dimension or not np.isfinite(vectors).all():
            return None  # remade from the embedder when needed
        return Calibration(vectors.reshape(len(HELD_ASIDE), info.dimension).copy())

    def _touch_info(self, db: sqlite3.Connection, dimension: int) -> None:
        info = self._stored_info(db)
        info.updated_at = now()
        info.dimension = info.dimension or dimension
        db.execute("UPDATE meta SET value = ? WHERE key = 'info'", (orjson.dumps(info.to_dict()),))

    def _file_ids(self, sources: Collection[str] | None) -> list[int] | None:
        if sources is None:
            return None
        return [self._file_keys[source] for source in sources if source in self._file_keys]

    def _query(self, sql: str, args: Sequence[Any]) -> list[tuple]:
        with self._reads, self._translated():
            return self._reading().execute(sql, args).fetchall()

    def _reading(self) -> sqlite3.Connection:
        if self._reader is None:
            try:
                self._reader = _connect(self.path, create=False)
            except sqlite3.OperationalError as exc:
                # WAL needs its index file (-shm) beside the database even to read; a full or
                # read-only disk cannot make it. Nobody can be writing there: read the file as it is.
                if sqlite_disk_fault(exc, self.home, self.path) is None or not self.path.exists():
                    raise
                self._reader = sqlite3.connect(
                    f"file:{self.path}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
                )
        return self._reader

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._writer is None:
                self.home.mkdir(parents=True, exist_ok=True)
                self._writer = _connect(self.path, create=True)
                self._writer.executescript(SCHEMA)  # each statement creates only what is missing
            db = self._writer
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _forget_state(self) -> None:
        self.info, self.files, self.forgotten, self.calibration = None, {}, set(), None
        self._file_keys, self._matrix, self._seen = {}, VectorMatrix(), None
        self._postings.clear()
        self.version += 1

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn SQLite and disk failures into their one-line errors; SQLite's corruption into damage."""
        try:
            yield
        except sqlite3.Error as exc:
            code = sqlite_code(exc)
            damage = ("malformed", "not a database", "no such table", "no such column")
            if code in SQLITE_CORRUPT_CODES or any(words in str(exc) for words in damage):
                raise IndexDamaged(f"The index {self.path} is damaged ({exc}) — {REBUILD}.") from exc
            if code in SQLITE_BUSY_CODES:
                raise RagchatError(
                    f"The index {self.path} is busy in another process — try again in a moment."
                ) from exc
            fault = sqlite_disk_fault(exc, self.home, self.path)
            if fault is not None:
                raise fault from exc
            raise RagchatError(
                f"ragchat could not use the index {self.path} ({exc}) — check the disk, then try again."
            ) from exc
        except OSError as exc:
            fault = explain_os_error(exc, self.home)
            if fault is None:
                raise
            raise fault from exc


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    """Open the database in autocommit mode (transactions are explicit), WAL journal, foreign keys on."""
    uri = f"file:{path}" + ("" if create else "?mode=rw")
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        _prepare(db)
    except BaseException:
        db.close()
        raise
    return db


def _prepare(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA foreign_keys = ON")
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")  # WAL: a commit survives a crash of ragchat; fsync at checkpoints


def _count_terms(db: sqlite3.Connection, change: Counter[str], length: int) -> None:
    """Add ``change`` to how many chunks hold each word, and ``length`` to the stems all chunks hold."""
    if length:
        db.execute(
            "INSERT INTO meta VALUES ('words', ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value",
            (length,),
        )
    db.executemany(
        "INSERT INTO term_docs VALUES (?, ?) ON CONFLICT (term) DO UPDATE SET docs = docs + excluded.docs",
        [(term, n) for term, n in change.items() if n],
    )
    if any(n < 0 for n in change.values()):
        db.execute("DELETE FROM term_docs WHERE docs <= 0")


def _varint(blob: bytes | None) -> int:
    """Return the first number of an FTS5 docsize blob (SQLite's varint: 7 bits a byte, high bit: more follow)."""
    value = 0
    for byte in blob or b"":
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            break
    return value


def _article(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _document(key: str, text: str, metadata: bytes) -> Document:
    from langchain_core.documents import Document

    return Document(page_content=text, metadata=orjson.loads(metadata), id=key)


def _source(record: FileRecord) -> str:
    return record.source
