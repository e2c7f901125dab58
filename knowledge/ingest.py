"""Bring the index up to date with files on disk: add new, re-embed changed, drop deleted.

:func:`sync` finds the files (:mod:`knowledge.scan`), plans what must change
(:func:`knowledge.plan.plan_sync`, a pure function), then applies the plan: read, split,
embed and commit, reporting progress. A file is unchanged when its size and modification
time match its record, or, if they do not, when its SHA-256 does; unchanged files cost
a ``stat`` and no embedding. Chunks of changed and new files are embedded in batches (one
request per batch, across file boundaries). A file is committed to the database, its old
chunks out and its new ones in, in one transaction as soon as all its chunks are embedded,
so a failure part-way (Ollama stops, a batch errors, the process is killed) keeps the files
that completed, leaves every other file as it was, and re-running picks up exactly what is
missing. Chunk ids derive from source, position and text, so re-ingesting never duplicates.

Forgotten files (``KnowledgeIndex.forgotten``, by source name) are left out of an
ingest of a whole folder, and reported; naming the file, or a sub-folder of the
documents folder holding it, adds it back to the index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from knowledge.calibration import IDENTITY
from knowledge.engine import FileChunks, FileRecord
from knowledge.errors import RagchatError
from knowledge.formats import UnreadableFile, read_regular
from knowledge.index import KnowledgeIndex
from knowledge.loader import load_file
from knowledge.plan import ToRead, look, plan_sync, targets
from knowledge.scan import scan
from knowledge.splitter import SplitProgress, split_documents

BATCH_SIZE = 64
"""Chunks per embedding request: big enough to amortise the HTTP round trip, small
enough that the progress bar moves and a failure loses little."""


Phase = Literal["reading", "splitting", "embedding"]


@dataclass
class IngestProgress:
    """Where an ingest is, for a progress bar: the phase, its file, and amounts done of their totals.

    Changed files are read and split one by one, then their chunks are embedded in
    batches, so even one big file moves the bar in every phase:

    - ``reading``: ``file`` is being read; ``files_done`` of the ``files_total`` files
      found were looked at before it.
    - ``splitting``: ``file`` is being cut into chunks; ``chunks_done`` chunks were found
      so far in this ingest (``chunks_total`` is not known yet: 0), and ``chars_done``
      of the file's ``chars_total`` characters were split.
    - ``embedding``: ``chunks_done`` of ``chunks_total`` chunks are embedded and
      ``files_done`` of ``files_total`` changed files complete; ``file`` is the one the
      last batch reached.
    """

    files_done: int
    files_total: int
    chunks_done: int
    chunks_total: int
    phase: Phase = "embedding"
    file: str = ""
    chars_done: int = 0
    chars_total: int = 0


Progress = Callable[[IngestProgress], None]


@dataclass
class SyncReport:
    """What an ingest changed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks_embedded: int = 0
    forgotten: list[str] = field(default_factory=list)
    """Forgotten files found on disk and left out, because no path named them."""

    @property
    def changed(self) -> bool:
        """Whether the index differs from before."""
        return bool(self.added or self.updated or self.removed)


@dataclass
class _Pending:
    record: FileRecord
    chunks: list[Document]
    vectors: list[np.ndarray] = field(default_factory=list)
    """float32 rows: 3 KB per 768-d chunk instead of ~25 KB as Python floats."""
    is_new: bool = True


def sync(
    index: KnowledgeIndex,
    paths: Sequence[str | Path],
    *,
    docs_dir: Path,
    embeddings: Embeddings,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
) -> SyncReport:
    """Update ``index`` from ``paths`` (files or folders), committing each change as it is ready.

    Files under a given folder that the index knows but the disk no longer has are
    removed from the index. Unreadable files are reported in ``skipped``, never raised.
    Forgotten files are left out and listed in ``forgotten`` unless a path names them:
    the file itself, or a sub-folder of ``docs_dir`` holding it. The caller holds the
    engine's write lock.

    Raises:
        RagchatError: if a path does not exist, or embedding fails (after committing the
            files that were complete).
    """
    roots = [_existing(Path(p), docs_dir) for p in paths]
    for root in roots:
        if not root.exists():
            raise RagchatError(f"No such file or folder: {root} — check the path and try again.")
    engine = index.engine
    found = scan(roots, docs_dir)
    plan = plan_sync(index.files, look(found.files), index.forgotten, targets(roots, docs_dir), found.unlisted)
    reading = _read(plan.read, index, len(found.files), progress, batch_size)
    report = SyncReport(
        # Skips in the order the files were found (by source), after what the scan left out.
        skipped=list(found.skipped) + sorted(plan.skipped + reading.skipped, key=lambda skip: skip[0]),
        unchanged=len(plan.unchanged) + reading.unchanged,
        removed=plan.remove + reading.unreadable,  # indexed sources whose old chunks must go
        forgotten=list(plan.left_out),
    )
    if report.removed or reading.touched:  # one small transaction before the long part
        engine.commit(remove=report.removed, touched=reading.touched)

    def commit(complete: list[_Pending]) -> None:
        engine.commit(add=[FileChunks(p.record, p.chunks, _stacked(p.vectors)) for p in complete])
        for item in complete:
            (report.added if item.is_new else report.updated).append(item.record.source)
            report.chunks_embedded += len(item.chunks)

    if empty := [item for item in reading.pending if not item.chunks]:  # nothing to embed, still indexed
        commit(empty)
    _embed(reading.pending, embeddings, batch_size, progress, commit)
    if report.changed and engine.info is not None and engine.info.calibration != IDENTITY:
        calibration = index.calibrate()  # stored with the index: questions then need no extra embedding
        if calibration is not None:
            engine.save_calibration(calibration)
    return report


@dataclass
class _Reading:
    """What reading the planned files found: chunks to embed, and files that turned out unchanged or unreadable."""

    pending: list[_Pending] = field(default_factory=list)
    unchanged: int = 0
    touched: list[FileRecord] = field(default_factory=list)
    """Files whose modification time changed but not their content: the new time must be saved."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    """Indexed sources that can no longer be read: their old chunks must go."""


def _read(
    planned: list[ToRead], index: KnowledgeIndex, files_total: int, progress: Progress | None, batch_size: int
) -> _Reading:
    """Read, hash and split each planned file; a file whose hash matches its record only gets its new time."""
    reading = _Reading()
    chunks_found = 0
    for item in planned:
        source, path = item.file.source, Path(item.file.path)
        if progress:
            progress(IngestProgress(item.position, files_total, chunks_found, 0, "reading", source))
        try:
            data = read_regular(path)  # hashed and parsed from the same bytes: one read
            digest = hashlib.sha256(data).hexdigest()
            if item.old and item.old.sha256 == digest:
                reading.touched.append(dataclasses.replace(item.old, size=item.file.size, mtime_ns=item.file.mtime_ns))
                reading.unchanged += 1
                continue
            documents = load_file(path, source, data)
            del data  # a big file's bytes need not outlive its parse while its chunks are embedded
        except (UnreadableFile, OSError) as exc:
            reason = str(exc) if isinstance(exc, UnreadableFile) else (exc.strerror or str(exc))
            reading.skipped.append((source, reason))
            if item.old is not None:
                reading.unreadable.append(source)  # its indexed text no longer matches the file
            continue
        splitting = _splitting(progress, item.position, files_total, source, chunks_found) if progress else None
        chunks = split_documents(
            documents, index.info.chunk_size, index.info.chunk_overlap, progress=splitting, every=batch_size
        )
        chunks_found += len(chunks)
        for chunk in chunks:
            chunk.id = chunk_id(chunk)
        record = FileRecord(source, item.file.path, digest, item.file.size, item.file.mtime_ns, len(chunks))
        reading.pending.append(_Pending(record, chunks, is_new=item.old is None))
    return reading


def chunk_id(chunk: Document) -> str:
    """Return a stable id from the chunk's source, page, offset and text."""
    meta = chunk.metadata
    key = f"{meta['source']}\0{meta.get('page', '')}\0{meta['start_index']}\0{chunk.page_content}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def embedding_text(chunk: Document) -> str:
    """Return the text embedded for a chunk: its title in front when the chunk lacks it.

    A paragraph from the middle of an article rarely names what the article is about;
    with the title in front its vector carries the topic. The stored text stays verbatim.
    """
    title = chunk.metadata.get("title", "")
    if title and title not in chunk.page_content:
        return f"{title}\n\n{chunk.page_content}"
    return chunk.page_content


def _embed(
    pending: list[_Pending],
    embeddings: Embeddings,
    batch_size: int,
    progress: Progress | None,
    commit: Callable[[list[_Pending]], None],
) -> None:
    """Embed the pending files' chunks in batches; ``commit`` each batch's newly complete files at once."""
    queue = [(item, chunk) for item in pending for chunk in item.chunks]
    files_total, chunks_total = len(pending), len(queue)
    files_done = sum(1 for item in pending if not item.chunks)
    if progress and chunks_total:  # nothing to embed: nothing to show
        progress(IngestProgress(files_done, files_total, 0, chunks_total, "embedding", queue[0][0].record.source))
    for start in range(0, chunks_total, batch_size):
        batch = queue[start : start + batch_size]
        vectors = embeddings.embed_documents([embedding_text(chunk) for _, chunk in batch])
        if len(vectors) != len(batch):
            raise RagchatError(f"The embedding model returned {len(vectors)} vectors for {len(batch)} chunks.")
        complete = []
        for (item, _), vector in zip(batch, np.asarray(vectors, dtype=np.float32), strict=True):
            item.vectors.append(vector)
            if len(item.vectors) == len(item.chunks):
                complete.append(item)
        if complete:
            commit(complete)
            files_done += len(complete)
        if progress:
            reached = batch[-1][0].record.source
            progress(IngestProgress(files_done, files_total, start + len(batch), chunks_total, "embedding", reached))


def _splitting(progress: Progress, files_done: int, files_total: int, source: str, before: int) -> SplitProgress:
    """Turn the splitter's counts for one file into ingest progress, chunks counted across the ingest."""

    def report(found: int, chars_done: int, chars_total: int) -> None:
        progress(
            IngestProgress(files_done, files_total, before + found, 0, "splitting", source, chars_done, chars_total)
        )

    return report


def _stacked(vectors: list[np.ndarray]) -> np.ndarray:
    return np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)


def _existing(path: Path, docs_dir: Path) -> Path:
    """Return ``path``, or the documents folder's file of that source name when only that exists.

    So ``ragchat ingest notes/a.md`` adds back what ``ragchat sources`` lists, from any folder.
    """
    if path.is_absolute() or os.path.lexists(path):
        return path
    inside = Path(docs_dir) / path
    return inside if os.path.lexists(inside) else path


def source_path(source: str, docs_dir: Path) -> Path:
    """Return where the file named ``source`` lives: the inverse of :func:`knowledge.scan.source_name`.

    >>> source_path("a/b.md", Path("/data/docs")).as_posix(), source_path("/elsewhere/c.pdf", Path("/d")).as_posix()
    ('/data/docs/a/b.md', '/elsewhere/c.pdf')
    """
    path = Path(source)
    return path if path.is_absolute() else Path(docs_dir) / path
