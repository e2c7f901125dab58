"""The thread database: SQLite in the data folder, opened safely, and its failures in one line each.

Checkpoints (every thread's messages and evidence) go to LangGraph's ``SqliteSaver`` in
``<home>/threads.sqlite``; the thread registry (:mod:`agent.threads`) is a small table in the
same file, so one file holds every conversation. ``memory=True`` keeps checkpoints in memory.
SQLite runs in WAL mode so the CLI and the web page can use the file at the same time.

Nothing here ever sets a healthy database aside: only a file that SQLite itself reports
as corrupt ("file is not a database", "database disk image is malformed", a failed
``quick_check``) is renamed ``threads.damaged-<time>.sqlite``. A busy, full or read-only
disk is a one-line error and everything stays where it is.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver

from knowledge.errors import (
    SQLITE_BUSY_CODES,
    SQLITE_CORRUPT_CODES,
    RagchatError,
    explain_os_error,
    sqlite_code,
    sqlite_disk_fault,
    write_refusal,
)

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


def store_error(exc: sqlite3.Error, home: Path) -> RagchatError:
    """Return the one-line error for a thread database failure met while using ``home``."""
    if sqlite_code(exc) in SQLITE_BUSY_CODES:
        return RagchatError("ragchat's thread store is busy in another process — try again in a moment.")
    refusal = sqlite_disk_fault(exc, home) or write_refusal(home)
    if refusal:
        return refusal
    if is_damaged(exc):
        return RagchatError(
            f"The thread database {home / DATABASE} is damaged ({exc}) — restart ragchat: it keeps the damaged "
            "file aside and starts a new one."
        )
    return RagchatError(f"ragchat could not use {home / DATABASE} ({exc}) — check the disk, then try again.")


@contextlib.contextmanager
def translated(home: Path | None) -> Iterator[None]:
    """Turn SQLite and disk failures inside the block into their one-line errors."""
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
            kept = path.with_name(f"threads.damaged-{datetime.now(UTC):%Y%m%d-%H%M%S}.sqlite")
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


def make_checkpointer(home: Path, memory: bool = False) -> tuple[BaseCheckpointSaver, str | None]:
    """Return the checkpointer (SQLite under ``home``, or in memory) and any warning from opening it."""
    if memory:
        return MemorySaver(), None
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn, warning = connect(home)
    saver = SqliteSaver(conn)
    with translated(home):
        saver.setup()
    return saver, warning
