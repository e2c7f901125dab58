"""Moving a knowledge base from one engine to another (a laptop's SQLite into a team's Postgres), nothing embedded.

Files, chunks with their vectors, forgotten sources and the calibration questions' vectors
are copied as they are, in transactions of a few thousand chunks, with their indexing
times kept. The target must be empty: moving never merges two knowledge bases. The source
is left as it was.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from knowledge.engine import Engine
from knowledge.errors import RagchatError


def copy_knowledge(source: Engine, target: Engine, progress: Callable[[int, int], None] | None = None) -> int:
    """Copy everything ``source`` holds into the empty ``target``; return the chunks copied.

    ``progress(chunks_done, chunks_total)`` is called after each transaction. Both engines'
    write locks are held throughout, so no ingest changes either meanwhile.

    Raises:
        RagchatError: if the source holds nothing, or the target already holds a knowledge base.
    """
    with source.writing(), target.writing():
        source.refresh()
        target.refresh()
        if source.info is None or not (source.files or source.forgotten):
            raise RagchatError(f"There is nothing to move: {source.where} holds no index — run `ragchat ingest` first.")
        if target.files or target.forgotten:
            raise RagchatError(
                f"{target.where} already holds a knowledge base ({len(target.files)} files) — moving never merges "
                "two; point --to at an empty database."
            )
        target.start(dataclasses.replace(source.info), reset=True)
        total, done = source.chunk_count, 0
        for batch in source.export():
            target.commit(add=batch, keep_times=True)
            done += sum(len(item.chunks) for item in batch)
            if progress:
                progress(done, total)
        target.forget((), source.forgotten)
        if source.calibration is not None:
            target.save_calibration(source.calibration)
        target.settle()
        target.refresh()
        return done
