"""The thread database: SQLite in the data folder or a shared Postgres, opened safely, its failures in one line each.

Checkpoints (every thread's messages and evidence) go to LangGraph's ``SqliteSaver`` in
``<home>/threads.sqlite``; the thread registry (:mod:`agent.threads`) is a small table in the
same file, so one file holds every conversation. ``memory=True`` keeps checkpoints in memory.
SQLite runs in WAL mode so the CLI and the web page can use the file at the same time.

With a ``database_url`` the same two things live in that Postgres instead (LangGraph's
``PostgresSaver`` and a ``ragchat_threads`` table), reached through one connection pool per
process, so ragchats on several machines share their threads; nothing about threads is then
written in the data folder. The registry talks to either database through :class:`Tables`.

Nothing here ever sets a healthy database aside: only a file that SQLite itself reports
as corrupt ("file is not a database", "database disk image is malformed", a failed
``quick_check``) is renamed ``threads.damaged-<time>.sqlite``. A busy, full or read-only
disk is a one-line error and everything stays where it is.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver

from knowledge.atomic import aside_name
from knowledge.errors import (
    SQLITE_BUSY_CODES,
    SQLITE_CORRUPT_CODES,
    RagchatError,
    explain_os_error,
    sqlite_code,
    sqlite_disk_fault,
    write_refusal,
)

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

DATABASE = "threads.sqlite"
BUSY_TIMEOUT = 10.0
"""Seconds SQLite waits for another process to let go of the thread database before giving up."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS ragchat_threads (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    scope TEXT
)"""


class DamagedStore(sqlite3.DatabaseError):
    """SQLite's integrity check found the thread database corrupt."""


def is_damaged(exc: sqlite3.Error) -> bool:
    """Return whether ``exc`` says the database file itself is corrupt (the only reason to set it aside)."""
    return isinstance(exc, DamagedStore) or sqlite_code(exc) in SQLITE_CORRUPT_CODES


def store_error(exc: Exception, home: Path, database_url: str | None = None) -> RagchatError:
    """Return the one-line error for a thread database failure met while using ``home`` (or ``database_url``)."""
    if database_url is not None and is_database_error(exc):
        return database_error(exc, database_url)
    if sqlite_code(exc) in SQLITE_BUSY_CODES:
        return RagchatError("ragchat's thread store is busy in another process — try again in a moment.")
    refusal = sqlite_disk_fault(exc, home) or write_refusal(home)
    if refusal:
        return refusal
    if isinstance(exc, sqlite3.Error) and is_damaged(exc):
        return RagchatError(
            f"The thread database {home / DATABASE} is damaged ({exc}) — restart ragchat: it keeps the damaged "
            "file aside and starts a new one."
        )
    return RagchatError(f"ragchat could not use {home / DATABASE} ({exc}) — check the disk, then try again.")


def store_errors() -> tuple[type[Exception], ...]:
    """Return the exception types a thread database raises (Postgres's only once psycopg is in use)."""
    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, psycopg.Error) if psycopg else (sqlite3.Error,)


@contextlib.contextmanager
def translated(home: Path | None, database_url: str | None = None) -> Iterator[None]:
    """Turn SQLite, Postgres and disk failures inside the block into their one-line errors."""
    try:
        yield
    except sqlite3.Error as exc:
        if home is None:
            raise
        raise store_error(exc, home) from exc
    except OSError as exc:
        explained = explain_os_error(exc, home) if home is not None else None
        if explained is None:
            raise
        raise explained from exc
    except Exception as exc:
        if database_url is None or not is_database_error(exc):
            raise
        raise database_error(exc, database_url) from exc


def connect(home: Path) -> tuple[sqlite3.Connection, str | None]:
    """Open (creating if needed) the threads database under ``home``, shareable across threads.

    A database SQLite reports as corrupt is never deleted: it is renamed
    ``threads.damaged-<time>.sqlite`` and a fresh one is started; the second value is then
    a one-line warning saying so. Any other failure (busy, disk full, read-only) is a
    :class:`RagchatError` and nothing is renamed.
    """
    path = home / DATABASE
    with translated(home):
        home.mkdir(parents=True, exist_ok=True)
        try:
            return open_database(path), None
        except sqlite3.DatabaseError as exc:
            if not is_damaged(exc):
                raise
            kept = aside_name(path, "threads", ".sqlite")
            for suffix in ("", "-wal", "-shm"):
                damaged = Path(f"{path}{suffix}")
                if damaged.exists():
                    damaged.replace(Path(f"{kept}{suffix}"))
            warning = f"The threads database was damaged ({exc}); it was kept as {kept.name} and a new one started."
            return open_database(path), warning


def open_database(path: Path) -> sqlite3.Connection:
    """Open the thread database at ``path`` checked (``quick_check``), in WAL mode, with the registry's table."""
    conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT)
    try:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise DamagedStore("integrity check failed")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(SCHEMA)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(ragchat_threads)")}
        if "scope" not in columns:  # a database from before thread scopes
            conn.execute("ALTER TABLE ragchat_threads ADD COLUMN scope TEXT")
        conn.commit()
    except BaseException:
        conn.close()
        raise
    return conn


def make_checkpointer(
    home: Path, memory: bool = False, database_url: str | None = None
) -> tuple[BaseCheckpointSaver, str | None]:
    """Return the checkpointer (in memory, Postgres at ``database_url``, or SQLite under ``home``) and any warning."""
    if memory:
        return MemorySaver(), None
    if database_url is not None:
        from langgraph.checkpoint.postgres import PostgresSaver

        return PostgresSaver(open_postgres(database_url)), None
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn, warning = connect(home)
    saver = SqliteSaver(conn)
    with translated(home):
        saver.setup()
    return saver, warning


def close_checkpointer(saver: BaseCheckpointSaver | None) -> None:
    """Let go of what ``saver`` holds open: its SQLite connection or its Postgres connection pool."""
    conn = getattr(saver, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        conn.close()
    elif (pool := postgres_pool(saver)) is not None:
        pool.close()


def postgres_pool(saver: BaseCheckpointSaver | None) -> ConnectionPool | None:
    """Return the Postgres connection pool ``saver`` keeps its checkpoints through, or ``None``."""
    pools = sys.modules.get("psycopg_pool")
    conn = getattr(saver, "conn", None)
    return conn if pools is not None and isinstance(conn, pools.ConnectionPool) else None


# -- Postgres ----------------------------------------------------------------------------------------
CONNECT_TIMEOUT = 10
"""Seconds to wait for Postgres to accept a connection (when the URL does not say)."""
POOL_TIMEOUT = 15.0
"""Seconds a use of the thread store waits for a connection from the pool before saying the database is gone."""
POOL_SIZE = 4
LOCK_POLL = 0.1
"""Longest pause, in seconds, between two tries for a turn lock held on another connection."""
THREADS_SCHEMA_VERSION = 1
POSTGRES_SCHEMA = (
    # "C" collation: ids and ISO times sort by code point, as they do in SQLite.
    """CREATE TABLE IF NOT EXISTS ragchat_threads (
    id TEXT COLLATE "C" PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    scope TEXT
)""",
    "CREATE TABLE IF NOT EXISTS ragchat_threads_schema (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
)


def database_error(exc: Exception, url: str) -> RagchatError:
    """Return the one-line error for a Postgres failure at ``url`` (its password never shown)."""
    from knowledge.errors import database_unreachable, postgres_reason, postgres_unreachable, without_password

    if postgres_unreachable(exc):
        return database_unreachable(url, exc)
    return RagchatError(
        f"The database at {without_password(url)} refused ragchat's threads ({postgres_reason(exc)}) — "
        "check the database, then try again."
    )


def is_database_error(exc: BaseException) -> bool:
    """Return whether ``exc`` comes from Postgres (psycopg, or its pool giving up)."""
    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(exc, psycopg.Error)


def postgres_connect(url: str, **options: Any) -> Any:
    """Open one connection to ``url`` (failing within :data:`CONNECT_TIMEOUT` unless the URL says otherwise)."""
    import psycopg

    if "connect_timeout" not in url:
        options.setdefault("connect_timeout", CONNECT_TIMEOUT)
    return psycopg.connect(url, **options)


def advisory_key(name: str) -> tuple[int, int]:
    """Return the two 32-bit integers naming ``name``'s advisory lock in Postgres.

    >>> advisory_key("notes") == advisory_key("notes") != advisory_key("notes2")
    True
    """
    digest = hashlib.sha256(f"ragchat:{name}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True), int.from_bytes(digest[4:8], "big", signed=True)


SETUP_LOCK = advisory_key("threads schema")
"""Held while one ragchat creates the tables, so two starting at once do not trip over each other."""
SETUP_WAIT = 60.0


def take_lock(conn: Any, key: tuple[int, int], wait: float) -> bool:
    """Try for the session advisory lock ``key`` on ``conn`` until it is ours or ``wait`` seconds have passed.

    Polled, never waited for inside a statement: a session blocked in ``pg_advisory_lock`` is in
    a transaction, which ``CREATE INDEX CONCURRENTLY`` (the checkpointer's setup) waits for in turn.
    """
    from psycopg.rows import tuple_row

    deadline, pause = time.monotonic() + wait, 0.01
    cursor = conn.cursor(row_factory=tuple_row)
    while not cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()[0]:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, LOCK_POLL)
    return True


def open_postgres(url: str) -> ConnectionPool:
    """Create (if needed) the checkpoint and registry tables at ``url``; return a pool of connections to it.

    Raises:
        RagchatError: if the database cannot be reached, or holds threads of a newer ragchat.
    """
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    from knowledge.errors import without_password

    options = {"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row}  # what PostgresSaver needs
    with translated(None, url):
        with postgres_connect(url, **options) as conn:  # closing it lets go of the setup lock
            if not take_lock(conn, SETUP_LOCK, SETUP_WAIT):
                raise RagchatError(
                    f"Another ragchat has been setting up the database at {without_password(url)} for "
                    f"{SETUP_WAIT:.0f} s — try again in a moment."
                )
            PostgresSaver(conn).setup()
            for statement in POSTGRES_SCHEMA:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO ragchat_threads_schema (version, applied_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (THREADS_SCHEMA_VERSION, datetime.now(UTC).isoformat(timespec="seconds")),
            )
            newest = conn.execute("SELECT max(version) AS v FROM ragchat_threads_schema").fetchone()["v"]
        if newest > THREADS_SCHEMA_VERSION:
            raise RagchatError(
                f"The threads at {without_password(url)} were stored by a newer ragchat — upgrade this one."
            )
        if "connect_timeout" not in url:
            options["connect_timeout"] = CONNECT_TIMEOUT
        pool = ConnectionPool(
            url, kwargs=options, min_size=1, max_size=POOL_SIZE, timeout=POOL_TIMEOUT, open=False,
            check=ConnectionPool.check_connection, name="ragchat-threads",
        )  # fmt: skip
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except BaseException:
            pool.close()
            raise
    return pool


def advisory_lock(url: str, name: str) -> tuple[Callable[[float], bool], Callable[[], None]]:
    """Return ``acquire(wait) -> bool`` and ``release()`` for a Postgres session lock on ``name``.

    ``acquire`` opens a connection of its own and tries ``pg_try_advisory_lock`` until it gets
    the lock or ``wait`` seconds have passed; the connection is held until ``release``. Every
    ragchat using the database, on any machine, sees the same lock; if a ragchat dies, Postgres
    lets go of its locks when the connection drops.
    """
    key = advisory_key(name)
    held: list[Any] = []

    def acquire(wait: float) -> bool:
        with translated(None, url):
            conn = postgres_connect(url, autocommit=True)
            try:
                taken = take_lock(conn, key, wait)
            except BaseException:
                conn.close()
                raise
        if not taken:
            conn.close()
            return False
        held.append(conn)
        return True

    def release() -> None:
        conn = held.pop()
        with contextlib.suppress(Exception):  # a dropped connection has let go of the lock already
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        conn.close()

    return acquire, release


# -- the registry's tables, in either database ---------------------------------------------------------
class Tables:
    """Run the registry's SQL (written with ``?`` placeholders, in the SQL both databases speak) on SQLite."""

    def __init__(self, conn: sqlite3.Connection, home: Path | None) -> None:
        """Use ``conn`` (shared by this process's threads); failures are named after ``home``."""
        self._conn, self.home = conn, home
        self._lock = threading.Lock()

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[list[tuple[Any, ...]], int]:
        """Run one statement in its own transaction; return its rows and how many rows it changed."""
        with translated(self.home), self._lock, self._conn:
            cursor = self._conn.execute(sql, params)
            return cursor.fetchall(), cursor.rowcount

    def has_table(self, name: str) -> bool:
        """Return whether the database has a table ``name``."""
        return bool(self.run("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()


class PostgresTables(Tables):
    """The same, on Postgres: statements go through the checkpointer's pool, ``?`` becoming ``%s``."""

    def __init__(self, pool: ConnectionPool) -> None:
        """Use connections from ``pool`` (the pool belongs to the checkpointer, which closes it)."""
        self.pool, self.home = pool, None
        self.url = str(pool.conninfo)

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[list[tuple[Any, ...]], int]:
        """Run one statement (each commits by itself: the pool's connections autocommit)."""
        from psycopg.rows import tuple_row

        with translated(None, self.url), self.pool.connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(sql.replace("?", "%s"), params)
            return (cur.fetchall() if cur.description else []), cur.rowcount

    def has_table(self, name: str) -> bool:
        """Return whether the database has a table ``name`` where its search path looks."""
        return self.run("SELECT to_regclass(?) IS NOT NULL", (name,))[0][0][0]

    def close(self) -> None:
        """Nothing to close: the pool is the checkpointer's."""
