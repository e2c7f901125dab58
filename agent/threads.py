"""Threads as the user sees them: a registry of titles, times and scopes, turn locks, Markdown export.

The registry is a small table beside the checkpoints in the thread database
(:mod:`agent.thread_store`), so one file holds every conversation; without a data folder
(memory mode) it lives in memory too; with a database URL it is a table in that Postgres,
shared by every ragchat pointed at it. One set of SQL statements serves both databases.

Turns of one thread are serialised by a lock per thread (a lock file in ``<home>/locks/``,
so CLIs and page servers on one data folder wait for each other; a Postgres advisory lock
with a database URL, so ragchats on several machines do; a process-local lock in memory
mode): a second question waits its turn, or is refused in one line if it cannot.

What it does not do: search inside conversations.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from agent.thread_store import DATABASE, SCHEMA, PostgresTables, Tables, advisory_lock, open_database, translated
from knowledge.errors import RagchatError

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

LOCKS = "locks"
TURN_WAIT = 300.0
"""Seconds a question waits for an earlier question of the same thread to be answered."""
TITLE_CHARS = 80
STILL_ANSWERING = "This conversation is still answering another question — try again when it has finished."


def now() -> str:
    """Return the current UTC time as ISO 8601 with microseconds (two turns in one second still order)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


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


def display_titles(threads: Sequence[ThreadInfo], tz: tzinfo | None = None) -> dict[str, str]:
    """Return each thread's title as a list shows it, by id, every one different from the others.

    A title shared by several threads is followed by the time each was last used (in ``tz``,
    default the machine's local time); threads still alike after that get ``(2)``, ``(3)``…
    in list order. A title no other thread has is kept as it is.

    >>> def listed(thread_id, title, used):
    ...     return ThreadInfo(thread_id, title, used, used, 2)
    >>> display_titles([
    ...     listed("a", "How tall?", "2026-11-12T14:05:30+00:00"),
    ...     listed("b", "How tall?", "2026-11-12T14:05:09+00:00"),
    ...     listed("c", "Bells", "2026-11-11T09:00:00+00:00"),
    ...     listed("d", "How tall?", "2026-11-02T08:30:00+00:00"),
    ... ], tz=UTC)
    {'a': 'How tall? · 12 Nov 14:05', 'b': 'How tall? · 12 Nov 14:05 (2)', 'c': 'Bells', 'd': 'How tall? · 2 Nov 08:30'}
    """
    shared = Counter(t.title for t in threads)
    labels = [f"{t.title} · {_when(t.updated_at, tz)}" if shared[t.title] > 1 else t.title for t in threads]
    seen: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for info, label in zip(threads, labels, strict=True):
        seen[label] += 1
        shown[info.id] = label if seen[label] == 1 else f"{label} ({seen[label]})"
    return shown


def filter_threads(threads: Sequence[ThreadInfo], text: str) -> list[ThreadInfo]:
    """Return the threads whose title contains ``text``, ignoring case and runs of spaces (all when empty).

    >>> threads = [ThreadInfo("a", "How tall is Gannet Point?", "", "", 2), ThreadInfo("b", "Bells", "", "", 2)]
    >>> [t.id for t in filter_threads(threads, "  gannet   POINT ")], [t.id for t in filter_threads(threads, "")]
    (['a'], ['a', 'b'])
    """
    wanted = " ".join(text.split()).casefold()
    return [t for t in threads if wanted in " ".join(t.title.split()).casefold()]


def _when(stamp: str, tz: tzinfo | None) -> str:
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:  # not written by ragchat: show it as stored
        return stamp
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(tz)
    return f"{local.day} {local:%b %H:%M}"


class ThreadRegistry:
    """Thread ids with a title, creation and update times and message count; one turn at a time per thread."""

    def __init__(self, home: Path | None, pool: ConnectionPool | None = None) -> None:
        """Keep the registry in ``home``'s threads database, or in memory when ``home`` is ``None``.

        With a Postgres ``pool`` (the checkpointer's) it is kept in that database instead and
        ``home`` is not used. Open the checkpointer first: it creates the tables, and it is the
        one that sets a damaged SQLite database aside.
        """
        self.home = home
        self._tables: Tables
        if pool is not None:
            self._tables = PostgresTables(pool)
        elif home is None:
            memory = sqlite3.connect(":memory:", check_same_thread=False)
            memory.execute(SCHEMA)
            self._tables = Tables(memory, None)
        else:
            with translated(home):
                self._tables = Tables(open_database(home / DATABASE), home)
        self._lock = threading.Lock()
        self._turn_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        """Close the registry's database connection (a Postgres pool is the checkpointer's to close)."""
        self._tables.close()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[list[tuple[Any, ...]], int]:
        return self._tables.run(sql, params)

    def record_question(self, thread_id: str, question: str) -> None:
        """Note a question as its turn starts, so a thread is listed even if the turn never finishes."""
        self._record(thread_id, question, None)

    def record_turn(self, thread_id: str, question: str, messages: int) -> None:
        """Note a finished turn: title a new thread by its first question, bump its time and count."""
        self._record(thread_id, question, messages)

    def _record(self, thread_id: str, question: str, messages: int | None) -> None:
        # A new thread is titled by its question; ``messages`` is the stored count, or None for one more.
        count = "ragchat_threads.messages + 1" if messages is None else "excluded.messages"
        stamp = now()
        self._run(
            "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages) VALUES (?, ?, ?, ?, ?) "
            f"ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, messages = {count}, "
            "title = CASE WHEN ragchat_threads.messages = 0 THEN excluded.title ELSE ragchat_threads.title END",
            (thread_id, _title(question) or thread_id, stamp, stamp, 1 if messages is None else messages),
        )

    def set_scope(self, thread_id: str, sources: list[str] | None) -> None:
        """Limit a thread to some documents (``None``: all), creating its entry if it has none yet."""
        scope = json.dumps(sorted(sources)) if sources is not None else None
        stamp = now()
        self._run(
            "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages, scope) "
            "VALUES (?, 'New chat', ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE SET scope = excluded.scope",
            (thread_id, stamp, stamp, scope),
        )

    def list(self) -> list[ThreadInfo]:
        """Return every thread, most recently updated first."""
        rows, _ = self._run(f"{SELECT} ORDER BY updated_at DESC, created_at DESC, id")
        return [_info(row) for row in rows]

    def get(self, thread_id: str) -> ThreadInfo | None:
        """Return one thread, or ``None``."""
        rows, _ = self._run(f"{SELECT} WHERE id = ?", (thread_id,))
        return _info(rows[0]) if rows else None

    def unlisted(self) -> list[str]:
        """Return ids that have checkpoints but no entry (threads stored by a turn that never got to record them)."""
        if not self._tables.has_table("checkpoints"):
            return []
        query = "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id NOT IN (SELECT id FROM ragchat_threads)"
        return [row[0] for row in self._run(query)[0]]

    def adopt(self, thread_id: str, first_question: str, messages: int, stamp: str) -> None:
        """List a thread found only among the checkpoints, titled by its first question."""
        self._run(
            "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO NOTHING",
            (thread_id, _title(first_question) or thread_id, stamp, stamp, messages),
        )

    def add(self, thread: ThreadInfo) -> None:
        """List a thread as another database lists it (a move); an id already listed is left as it is."""
        scope = json.dumps(sorted(thread.scope)) if thread.scope is not None else None
        self._run(
            "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages, scope) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (thread.id, thread.title, thread.created_at, thread.updated_at, thread.messages, scope),
        )

    def rename(self, thread_id: str, title: str) -> None:
        """Give a thread a new title.

        Raises:
            RagchatError: if the thread is unknown or the title empty.
        """
        title = " ".join(title.replace("\0", " ").split())  # no NUL: Postgres text cannot hold one
        if not title:
            raise RagchatError("The new title is empty — give the thread a name.")
        _, changed = self._run("UPDATE ragchat_threads SET title = ? WHERE id = ?", (title, thread_id))
        if changed == 0:
            raise unknown_thread(thread_id)

    def delete(self, thread_id: str) -> None:
        """Forget a thread's entry (its checkpoints are the checkpointer's to delete)."""
        self._run("DELETE FROM ragchat_threads WHERE id = ?", (thread_id,))
        if self.home is not None and not isinstance(self._tables, PostgresTables):
            self._lock_path(thread_id).unlink(missing_ok=True)

    # -- one turn at a time ----------------------------------------------------------------
    @contextlib.contextmanager
    def turn(self, thread_id: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold ``thread_id``'s turn for the block: wait up to :data:`TURN_WAIT` for an earlier turn.

        Raises:
            RagchatError: if the earlier turn is still running after that wait.
        """
        acquire, release = self.turn_lock(thread_id)
        if not acquire(0):
            if on_wait:
                on_wait()
            if not acquire(TURN_WAIT):
                raise RagchatError(STILL_ANSWERING)
        try:
            yield
        finally:
            release()

    def answering(self, thread_id: str) -> bool:
        """Return whether a turn of ``thread_id`` is running right now (here or in another process)."""
        acquire, release = self.turn_lock(thread_id)
        if acquire(0):
            release()
            return False
        return True

    def _lock_path(self, thread_id: str) -> Path:
        assert self.home is not None
        return self.home / LOCKS / f"{hashlib.sha256(thread_id.encode()).hexdigest()[:32]}.lock"

    def turn_lock(self, thread_id: str) -> tuple[Callable[[float], bool], Callable[[], None]]:
        """Return ``acquire(wait) -> bool`` and ``release()`` for ``thread_id``'s turn (across processes)."""
        if isinstance(self._tables, PostgresTables):  # across machines: a lock in the shared database
            return advisory_lock(self._tables.url, f"turn:{thread_id}")
        if self.home is None:  # threads live in this process only
            with self._lock:
                local = self._turn_locks.setdefault(thread_id, threading.Lock())
            return (lambda wait: local.acquire(timeout=wait)), local.release
        path = self._lock_path(thread_id)
        with translated(self.home):
            path.parent.mkdir(exist_ok=True)
        shared = FileLock(path)  # a new handle per turn: two turns in one process exclude each other too

        def acquire(wait: float) -> bool:
            try:
                with translated(self.home):
                    shared.acquire(timeout=wait)
            except Timeout:
                return False
            return True

        return acquire, shared.release


SELECT = "SELECT id, title, created_at, updated_at, messages, scope FROM ragchat_threads"


def _title(question: str) -> str:
    title = " ".join(question.split())
    if len(title) > TITLE_CHARS:
        title = title[:TITLE_CHARS].rsplit(" ", 1)[0] + "…"
    return title


def _info(row: tuple[Any, ...]) -> ThreadInfo:
    *fields, scope = row
    return ThreadInfo(*fields, scope=json.loads(scope) if scope is not None else None)


def unknown_thread(thread_id: str) -> RagchatError:
    """Return the error for a thread id nobody knows."""
    return RagchatError(f"There is no thread {thread_id!r} — `ragchat threads` lists them.")
