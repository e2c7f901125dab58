"""Durable threads: the checkpointer factory and a registry of thread titles and times.

Checkpoints (every thread's messages and evidence) go to LangGraph's ``SqliteSaver`` in
``<home>/threads.sqlite``; the registry is a small table in the same file, so one file
holds every conversation. ``memory=True`` keeps both in memory (tests, throwaway runs).
SQLite runs in WAL mode so the CLI and the web page can use the file at the same time.

What it does not do: search inside conversations, or sync threads between machines.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver

from agent.formatting import source_label
from knowledge.errors import RagchatError

DATABASE = "threads.sqlite"
TITLE_CHARS = 80
SCHEMA = """
CREATE TABLE IF NOT EXISTS ragchat_threads (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    scope TEXT
)"""


def now() -> str:
    """Return the current UTC time as ISO 8601 with microseconds (two turns in one second still order)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def connect(home: Path) -> tuple[sqlite3.Connection, str | None]:
    """Open (creating if needed) the threads database under ``home``, shareable across threads.

    A damaged database is never deleted: it is renamed ``threads.damaged-<time>.sqlite``
    and a fresh one is started; the second value is then a one-line warning saying so.
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / DATABASE
    try:
        return _open(path), None
    except sqlite3.DatabaseError as exc:
        kept = path.with_name(f"threads.damaged-{datetime.now(UTC):%Y%m%d-%H%M%S}.sqlite")
        for suffix in ("", "-wal", "-shm"):
            damaged = Path(f"{path}{suffix}")
            if damaged.exists():
                damaged.replace(Path(f"{kept}{suffix}"))
        warning = f"The threads database was damaged ({exc}); it was kept as {kept.name} and a new one started."
        return _open(path), warning


def _open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    try:
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise sqlite3.DatabaseError("integrity check failed")
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
    saver.setup()
    return saver, warning


@dataclass
class ThreadInfo:
    """One conversation as the registry lists it."""

    id: str
    title: str
    created_at: str
    updated_at: str
    messages: int
    scope: list[str] | None = None
    """Source names this thread may search; ``None`` means every document."""


class ThreadRegistry:
    """Thread ids with a title, creation and update times and message count."""

    def __init__(self, home: Path | None) -> None:
        """Keep the registry in ``home``'s threads database, or in memory when ``home`` is ``None``."""
        self._conn = connect(home)[0] if home is not None else sqlite3.connect(":memory:", check_same_thread=False)
        self._conn.execute(SCHEMA)
        self._lock = threading.Lock()

    def record_turn(self, thread_id: str, question: str, messages: int) -> None:
        """Note a finished turn: title a new thread by its first question, bump its time and count."""
        title = " ".join(question.split())
        if len(title) > TITLE_CHARS:
            title = title[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"
        stamp = now()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, messages = excluded.messages, "
                "title = CASE WHEN ragchat_threads.messages = 0 THEN excluded.title ELSE ragchat_threads.title END",
                (thread_id, title or thread_id, stamp, stamp, messages),
            )

    def set_scope(self, thread_id: str, sources: list[str] | None) -> None:
        """Limit a thread to some documents (``None``: all), creating its entry if it has none yet."""
        scope = json.dumps(sorted(sources)) if sources is not None else None
        stamp = now()
        with self._lock, self._conn:
            self._conn.execute(
                "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages, scope) "
                "VALUES (?, 'New chat', ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE SET scope = excluded.scope",
                (thread_id, stamp, stamp, scope),
            )

    def list(self) -> list[ThreadInfo]:
        """Return every thread, most recently updated first."""
        with self._lock:
            rows = self._conn.execute(f"{SELECT} ORDER BY updated_at DESC, created_at DESC, id").fetchall()
        return [_info(row) for row in rows]

    def get(self, thread_id: str) -> ThreadInfo | None:
        """Return one thread, or ``None``."""
        with self._lock:
            row = self._conn.execute(f"{SELECT} WHERE id = ?", (thread_id,)).fetchone()
        return _info(row) if row else None

    def rename(self, thread_id: str, title: str) -> None:
        """Give a thread a new title.

        Raises:
            RagchatError: if the thread is unknown or the title empty.
        """
        title = " ".join(title.split())
        if not title:
            raise RagchatError("The new title is empty — give the thread a name.")
        with self._lock, self._conn:
            changed = self._conn.execute("UPDATE ragchat_threads SET title = ? WHERE id = ?", (title, thread_id))
        if changed.rowcount == 0:
            raise unknown_thread(thread_id)

    def delete(self, thread_id: str) -> None:
        """Forget a thread's entry (its checkpoints are the checkpointer's to delete)."""
        with self._lock, self._conn:
            self._conn.execute("DELETE FROM ragchat_threads WHERE id = ?", (thread_id,))


SELECT = "SELECT id, title, created_at, updated_at, messages, scope FROM ragchat_threads"


def _info(row: tuple[Any, ...]) -> ThreadInfo:
    *fields, scope = row
    return ThreadInfo(*fields, scope=json.loads(scope) if scope is not None else None)


def unknown_thread(thread_id: str) -> RagchatError:
    """Return the error for a thread id nobody knows."""
    return RagchatError(f"There is no thread {thread_id!r} — `ragchat threads` lists them.")


def export_markdown(info: ThreadInfo, messages: list[BaseMessage]) -> str:
    """Return a conversation as Markdown: each question, each answer, and the answer's sources."""
    started, updated = info.created_at[:16].replace("T", " "), info.updated_at[:16].replace("T", " ")
    lines = [f"# {info.title}", "", f"Thread `{info.id}` · started {started} UTC · updated {updated} UTC", ""]
    for message in messages:
        if isinstance(message, HumanMessage):
            lines += ["## Question", "", str(message.content), ""]
        elif isinstance(message, AIMessage):
            lines += ["## Answer", "", str(message.content), ""]
            sources: list[dict[str, Any]] = message.additional_kwargs.get("sources", [])
            if sources:
                lines += ["Sources:", ""]
                lines += [f"{s['number']}. {source_label(s)} — {s['snippet']}" for s in sources]
                lines.append("")
    return "\n".join(lines)
