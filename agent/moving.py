"""``ragchat migrate --to URL``: move one data folder's knowledge base and threads into a team's Postgres.

The knowledge base is copied as it is (:func:`knowledge.moving.copy_knowledge`: files,
chunks, vectors, forgotten files, calibration; nothing is embedded). Each thread's latest
checkpoint — its whole conversation, with the evidence of every answer — and its entry in
the thread list (title, times, scope) are copied too. The target must hold neither a
knowledge base nor any of the threads: moving never merges. The data folder is left as it
was, so nothing is lost if the move is stopped; run it again into an empty database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from knowledge.errors import RagchatError
from knowledge.moving import copy_knowledge

if TYPE_CHECKING:
    from agent.assistant import Assistant
    from agent.settings import Settings


@dataclass
class Moved:
    """What a move copied."""

    files: int
    chunks: int
    threads: int
    where: str


def move_to(settings: Settings, url: str, progress: Callable[[str, int, int], None] | None = None) -> Moved:
    """Copy the knowledge base and threads of ``settings``' data folder into the Postgres at ``url``.

    ``progress(what, done, total)`` is called as chunks and threads are copied.

    Raises:
        RagchatError: if the data folder holds nothing, the target already holds a knowledge base
            or one of the threads, or either database refuses.
    """
    from agent.assistant import Assistant
    from knowledge.errors import without_password

    source = Assistant(settings.model_copy(update={"database_url": None, "memory": False}))
    target = Assistant(settings.model_copy(update={"database_url": url, "memory": False}))
    try:
        threads = source.threads()
        clash = next((t.id for t in threads if target.registry.get(t.id) is not None), None)
        if clash is not None:
            raise RagchatError(
                f"{without_password(url)} already holds a thread named {clash!r} — moving never merges; "
                "point --to at an empty database."
            )
        source.load_index()  # an index in the earliest format is moved into SQLite first
        chunks = copy_knowledge(
            source.knowledge.engine,
            target.knowledge.engine,
            (lambda done, total: progress("chunks", done, total)) if progress else None,
        )
        for n, thread in enumerate(reversed(threads), start=1):  # oldest first
            copy_thread(source, target, thread.id)
            target.registry.add(thread)
            if progress:
                progress("threads", n, len(threads))
        return Moved(len(source.knowledge.engine.files), chunks, len(threads), without_password(url))
    finally:
        source.close()
        target.close()


def copy_thread(source: Assistant, target: Assistant, thread_id: str) -> None:
    """Copy a thread's latest checkpoint (and any writes pending on it) from one checkpointer to another."""
    config = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    saved = source.checkpointer.get_tuple(config)
    if saved is None:  # listed, but its first turn never stored anything
        return
    stored = target.checkpointer.put(config, saved.checkpoint, saved.metadata, saved.checkpoint["channel_versions"])
    by_task: dict[str, list[tuple[str, object]]] = {}
    for task, channel, value in saved.pending_writes or ():
        by_task.setdefault(task, []).append((channel, value))
    for task, writes in by_task.items():
        target.checkpointer.put_writes(stored, writes, task)
