"""Durable threads: the checkpointer factory, a registry of thread titles and times, and turn locks.

Checkpoints (every thread's messages and evidence) go to LangGraph's ``SqliteSaver`` in
``<home>/threads.sqlite``; the registry is a small table in the same file, so one file
holds every conversation. ``memory=True`` keeps both in memory (tests, throwaway runs).
SQLite runs in WAL mode so the CLI and the web page can use the file at the same time.

Nothing here ever sets a healthy database aside: only a file that SQLite itself reports
as corrupt ("file is not a database", "database disk image is malformed", a failed
``quick_check``) is renamed ``threads.damaged-<time>.sqlite``. A busy, full or read-only
disk is a one-line error and everything stays where it is.

Turns of one thread are serialised by a lock per thread (a lock file in ``<home>/locks/``,
so CLIs and page servers on one data folder wait for each other; a process-local lock in
memory mode): a second question waits its turn, or is refused in one line if it cannot.

What it does not do: search inside conversations, or sync threads between machines.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import shutil
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver

from agent.formatting import source_label
from knowledge.errors import RagchatError, explain_os_error, write_refusal

DATABASE = "threads.sqlite"
LOCKS = "locks"
BUSY_TIMEOUT = 10.0
"""Seconds SQLite waits for another process to let go of the thread database before giving up."""
TURN_WAIT = 300.0
"""Seconds a question waits for an earlier question of the same thread to be answered."""
TITLE_CHARS = 80
STILL_ANSWERING = "This conversation is still answering another question — try again when it has finished."
NO_ANSWER = "the turn was stopped before it finished"
SCHEMA = """
CREATE TABLE IF NOT EXISTS ragchat_threads (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    messages INTEGER NOT NULL DEFAULT 0,
    scope TEXT
)"""
# SQLite's primary result codes (the low byte of an extended code).
CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
FULL_CODE, IOERR_CODE = 13, 10
FULL_BELOW = 1 << 20
"""A disk I/O error on a disk with less than this free is a full disk (SQLite reports it as I/O)."""


class DamagedStore(sqlite3.DatabaseError):
    """SQLite's integrity check found the thread database corrupt."""


def now() -> str:
    """Return the current UTC time as ISO 8601 with microseconds (two turns in one second still order)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def is_damaged(exc: sqlite3.Error) -> bool:
    """Return whether ``exc`` says the database file itself is corrupt (the only reason to set it aside)."""
    return isinstance(exc, DamagedStore) or _code(exc) in CORRUPT_CODES


def store_error(exc: sqlite3.Error, home: Path) -> RagchatError:
    """Return the one-line error for a thread database failure met while using ``home``."""
    code = _code(exc)
    if code in BUSY_CODES:
        return RagchatError("ragchat's thread store is busy in another process — try again in a moment.")
    if code == FULL_CODE or (code == IOERR_CODE and _free_bytes(home) < FULL_BELOW):
        return explain_os_error(OSError(errno.ENOSPC, "disk full"), home)
    refusal = write_refusal(home)
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


def _code(exc: sqlite3.Error) -> int:
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return FULL_BELOW


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
            return _open(path), None
        except sqlite3.DatabaseError as exc:
            if not is_damaged(exc):
                raise
            kept = path.with_name(f"threads.damaged-{datetime.now(UTC):%Y%m%d-%H%M%S}.sqlite")
            for suffix in ("", "-wal", "-shm"):
                damaged = Path(f"{path}{suffix}")
                if damaged.exists():
                    damaged.replace(Path(f"{kept}{suffix}"))
            warning = f"The threads database was damaged ({exc}); it was kept as {kept.name} and a new one started."
            return _open(path), warning


def _open(path: Path) -> sqlite3.Connection:
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

    def __init__(self, home: Path | None) -> None:
        """Keep the registry in ``home``'s threads database, or in memory when ``home`` is ``None``.

        Open the checkpointer first: it is the one that sets a damaged database aside.
        """
        self.home = home
        if home is None:
            self._conn = sqlite3.connect(":memory:", check_same_thread=False)
            self._conn.execute(SCHEMA)
        else:
            with translated(home):
                self._conn = _open(home / DATABASE)
        self._lock = threading.Lock()
        self._turn_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        """Close the registry's database connection."""
        with self._lock:
            self._conn.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        with translated(self.home), self._lock, self._conn:
            yield self._conn

    def record_question(self, thread_id: str, question: str) -> None:
        """Note a question as its turn starts, so a thread is listed even if the turn never finishes."""
        self._record(thread_id, question, None)

    def record_turn(self, thread_id: str, question: str, messages: int) -> None:
        """Note a finished turn: title a new thread by its first question, bump its time and count."""
        self._record(thread_id, question, messages)

    def _record(self, thread_id: str, question: str, messages: int | None) -> None:
        # A new thread is titled by its question; ``messages`` is the stored count, or None for one more.
        count = "messages + 1" if messages is None else "excluded.messages"
        stamp = now()
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages) VALUES (?, ?, ?, ?, ?) "
                f"ON CONFLICT(id) DO UPDATE SET updated_at = excluded.updated_at, messages = {count}, "
                "title = CASE WHEN ragchat_threads.messages = 0 THEN excluded.title ELSE ragchat_threads.title END",
                (thread_id, _title(question) or thread_id, stamp, stamp, 1 if messages is None else messages),
            )

    def set_scope(self, thread_id: str, sources: list[str] | None) -> None:
        """Limit a thread to some documents (``None``: all), creating its entry if it has none yet."""
        scope = json.dumps(sorted(sources)) if sources is not None else None
        stamp = now()
        with self._writing() as conn:
            conn.execute(
                "INSERT INTO ragchat_threads (id, title, created_at, updated_at, messages, scope) "
                "VALUES (?, 'New chat', ?, ?, 0, ?) ON CONFLICT(id) DO UPDATE SET scope = excluded.scope",
                (thread_id, stamp, stamp, scope),
            )

    def list(self) -> list[ThreadInfo]:
        """Return every thread, most recently updated first."""
        with translated(self.home), self._lock:
            rows = self._conn.execute(f"{SELECT} ORDER BY updated_at DESC, created_at DESC, id").fetchall()
        return [_info(row) for row in rows]

    def get(self, thread_id: str) -> ThreadInfo | None:
        """Return one thread, or ``None``."""
        with translated(self.home), self._lock:
            row = self._conn.execute(f"{SELECT} WHERE id = ?", (thread_id,)).fetchone()
        return _info(row) if row else None

    def unlisted(self) -> list[str]:
        """Return ids that have checkpoints but no entry (threads stored by a turn that never got to record them)."""
        with translated(self.home), self._lock:
            if not self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'checkpoints'").fetchone():
                return []
            query = "SELECT DISTINCT thread_id FROM checkpoints WHERE thread_id NOT IN (SELECT id FROM ragchat_threads)"
            return [row[0] for row in self._conn.execute(query)]

    def adopt(self, thread_id: str, first_question: str, messages: int, stamp: str) -> None:
        """List a thread found only among the checkpoints, titled by its first question."""
        with self._writing() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO ragchat_threads (id, title, created_at, updated_at, messages) "
                "VALUES (?, ?, ?, ?, ?)",
                (thread_id, _title(first_question) or thread_id, stamp, stamp, messages),
            )

    def rename(self, thread_id: str, title: str) -> None:
        """Give a thread a new title.

        Raises:
            RagchatError: if the thread is unknown or the title empty.
        """
        title = " ".join(title.split())
        if not title:
            raise RagchatError("The new title is empty — give the thread a name.")
        with self._writing() as conn:
            changed = conn.execute("UPDATE ragchat_threads SET title = ? WHERE id = ?", (title, thread_id))
        if changed.rowcount == 0:
            raise unknown_thread(thread_id)

    def delete(self, thread_id: str) -> None:
        """Forget a thread's entry (its checkpoints are the checkpointer's to delete)."""
        with self._writing() as conn:
            conn.execute("DELETE FROM ragchat_threads WHERE id = ?", (thread_id,))
        if self.home is not None:
            self._lock_path(thread_id).unlink(missing_ok=True)

    # -- one turn at a time ----------------------------------------------------------------
    @contextlib.contextmanager
    def turn(self, thread_id: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold ``thread_id``'s turn for the block: wait up to :data:`TURN_WAIT` for an earlier turn.

        Raises:
            RagchatError: if the earlier turn is still running after that wait.
        """
        acquire, release = self._turn_lock(thread_id)
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
        acquire, release = self._turn_lock(thread_id)
        if acquire(0):
            release()
            return False
        return True

    def _lock_path(self, thread_id: str) -> Path:
        assert self.home is not None
        return self.home / LOCKS / f"{hashlib.sha256(thread_id.encode()).hexdigest()[:32]}.lock"

    def _turn_lock(self, thread_id: str) -> tuple[Callable[[float], bool], Callable[[], None]]:
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


def mark_unanswered(messages: list[BaseMessage], answering: bool = False) -> list[BaseMessage]:
    """Return ``messages`` with an empty answer marked interrupted after each question left without one.

    A turn killed before its answer was stored (kill -9, a power cut) leaves a question
    followed by another question, or by nothing. ``answering`` says a turn is running
    now, so the last question is being answered rather than abandoned.

    >>> marked = mark_unanswered([HumanMessage("a?"), HumanMessage("b?"), AIMessage("B.")])
    >>> [(m.type, m.content, m.additional_kwargs.get("interrupted")) for m in marked]
    [('human', 'a?', None), ('ai', '', True), ('human', 'b?', None), ('ai', 'B.', None)]
    """
    marked: list[BaseMessage] = []
    for position, message in enumerate(messages):
        marked.append(message)
        following = messages[position + 1] if position + 1 < len(messages) else None
        if not isinstance(message, HumanMessage) or isinstance(following, AIMessage):
            continue
        if following is None and answering:
            continue
        marked.append(AIMessage("", additional_kwargs={"interrupted": True, "error": NO_ANSWER}))
    return marked


def export_markdown(info: ThreadInfo, messages: list[BaseMessage]) -> str:
    """Return a conversation as Markdown: each question, each answer, and the answer's sources."""
    started, updated = info.created_at[:16].replace("T", " "), info.updated_at[:16].replace("T", " ")
    lines = [f"# {info.title}", "", f"Thread `{info.id}` · started {started} UTC · updated {updated} UTC", ""]
    for message in messages:
        if isinstance(message, HumanMessage):
            lines += ["## Question", "", str(message.content), ""]
        elif isinstance(message, AIMessage):
            details = message.additional_kwargs
            lines += ["## Passages found (search only)" if details.get("search_only") else "## Answer", ""]
            if not message.content and details.get("interrupted"):
                lines += [f"*No answer: {stop_reason(details)}.*", ""]
                continue
            lines += [str(message.content), ""]
            if details.get("interrupted"):
                lines += [f"*Interrupted: {stop_reason(details)}.*", ""]
            sources: list[dict[str, Any]] = details.get("sources", [])
            if sources:
                lines += ["Sources:", ""]
                lines += [f"{s['number']}. {source_label(s)} — {s['snippet']}" for s in sources]
                lines.append("")
    return "\n".join(lines)


def stop_reason(details: dict[str, Any]) -> str:
    """Return why a stored answer stopped short (its ``error``, else :data:`NO_ANSWER`), without a final full stop."""
    return str(details.get("error") or NO_ANSWER).rstrip(".")
