"""The knowledge base: one data folder's index, and every way it changes or is searched.

:class:`KnowledgeBase` is the single seam between ragchat's conversations and its storage:
it opens the saved index (again when another process saved a newer one), ingests folders
and uploads, forgets files, searches, and holds the locking and damage handling that go
with them. It knows nothing of chat. A different storage engine sits behind this class.

Writers take a file lock in the data folder, so one ingest runs at a time across
processes, and change a private copy of the index: questions keep reading the live one
until the new one is complete and saved, then see it at once.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.errors import EmbedderMismatch, IndexDamaged, RagchatError, explain_os_error, write_refusal
from knowledge.index import MANIFEST, IndexInfo, KnowledgeIndex, SearchMode

# Reading files, embedding and uploads are imported where used: `ragchat sources` and a
# keyword search need none of them.
if TYPE_CHECKING:
    from filelock import FileLock
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from knowledge.ingest import Progress, SyncReport
    from knowledge.uploads import SavedUpload

WRITE_LOCK = "index.lock"
WRITE_LOCK_WAIT = 2.0
"""Seconds to wait for another process's ingest before saying so (they can take minutes)."""


@dataclass
class IngestResult:
    """What an ingest did, for the summary line."""

    index: KnowledgeIndex
    report: SyncReport
    warnings: list[str] = field(default_factory=list)
    """One-line notices about this ingest (e.g. an unreadable index was set aside)."""


@dataclass
class UploadResult:
    """Where uploads were saved, and what indexing them did."""

    saved: list[SavedUpload]
    ingest: IngestResult


class KnowledgeBase:
    """The index of one data folder, kept current and changed safely. Shared by every conversation."""

    def __init__(
        self,
        home: Path,
        docs_dir: Path,
        embedding: str,
        embeddings: Callable[[], Embeddings],
        *,
        chunk_size: int,
        chunk_overlap: int,
    ) -> None:
        """Describe the knowledge base; nothing is read until it is first used.

        Args:
            home: The data folder (the index lives in ``home/index``).
            docs_dir: The documents folder that a plain ingest reads.
            embedding: The embedder's identity recorded with the index (``ollama/nomic-embed-text``).
            embeddings: Returns the embedding model; called only when something must be embedded.
            chunk_size: Characters per chunk for a new index.
            chunk_overlap: Characters shared by neighbouring chunks in a new index.
        """
        self.home, self.docs_dir, self.embedding = Path(home), Path(docs_dir), embedding
        self._embeddings = embeddings
        self._info = IndexInfo(embedding, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        self._index: KnowledgeIndex | None = None
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.RLock()
        self._writer = threading.RLock()
        self._file_lock: FileLock | None = None

    # -- reading ----------------------------------------------------------------------
    def current(self) -> KnowledgeIndex | None:
        """Return the saved index, or ``None`` if nothing has been ingested yet.

        If another process (the CLI beside the web page) saved a newer index since, that one
        is loaded: a ``stat`` of the manifest per call keeps long-running pages current.

        Raises:
            RagchatError: if the index is damaged or was built by another embedding model.
        """
        with self._lock:
            stamp = self._manifest_stamp()
            if self._index is None or stamp != self._stamp:
                # the embedding client is made when a search first needs it: not for a keyword search
                self._index, self._stamp = KnowledgeIndex.load(self.home, self._embeddings, self.embedding), stamp
            return self._index

    def require(self) -> KnowledgeIndex:
        """Return the index, or raise the one-line error saying to ingest first."""
        index = self.current()
        if index is None:
            raise no_index()
        return index

    def search(
        self,
        query: str | Sequence[str],
        k: int,
        mode: SearchMode = "hybrid",
        sources: frozenset[str] | None = None,
        keyword_weight: float = 0.5,
    ) -> list[Document]:
        """Return the ``k`` best chunks for ``query`` (several: fused), only of ``sources`` when given.

        Raises:
            RagchatError: if the query is empty or there is no index.
        """
        queries = [q.strip() for q in ([query] if isinstance(query, str) else query) if q and q.strip()]
        if not queries:
            raise RagchatError("The search query is empty — type some words to look for.")
        return self.require().search(queries, k, mode, sources, keyword_weight)

    def sources(self) -> list[str]:
        """Return the indexed documents' source names, sorted (none before anything is indexed)."""
        index = self.current()
        return sorted(index.files) if index is not None else []

    def openings(self, sources: Collection[str] | None, limit: int, articles: bool = False) -> list[Document]:
        """Return the first chunk of every file (of ``sources`` when given), or of every article."""
        return self.require().openings(sources, limit, articles)

    def evidence_threshold(self) -> float | None:
        """Return the calibrated cosine from which a chunk is evidence (see :mod:`knowledge.calibration`)."""
        index = self.current()
        return index.evidence_threshold() if index is not None else None

    def rarity(self, words: Sequence[str]) -> list[float]:
        """Return how rare each word is in the indexed documents (IDF); all equal before anything is indexed."""
        index = self.current()
        return index.rarity(words) if index is not None else [0.0] * len(words)

    def check_sources(self, sources: Sequence[str]) -> None:
        """Raise a one-line error unless every name in ``sources`` is an indexed document."""
        index = self.require()
        unknown = [s for s in sources if s not in index.files]
        if unknown:
            raise RagchatError(f"{', '.join(unknown)} is not in the index — `ragchat sources` lists what is.")

    # -- changing -----------------------------------------------------------------------
    def ingest(
        self, paths: Sequence[str | Path] | None = None, progress: Progress | None = None, rebuild: bool = False
    ) -> IngestResult:
        """Bring the index up to date with ``paths`` (default: the documents folder) and save it.

        Only new and changed files are embedded. ``rebuild`` starts from an empty index (needed
        after changing the embedding model) that still keeps forgotten files out; an unreadable
        index is set aside first, and the result says so. The index on disk is replaced only by a
        complete new version. Forgotten files stay out unless a path names them (see
        :func:`knowledge.ingest.sync`); a path that does not exist is also tried as a source name
        in the documents folder.

        Raises:
            RagchatError: if another process is ingesting, the disk refuses, or no document is readable.
        """
        from knowledge.ingest import sync

        targets = list(paths) if paths else [self.docs_dir]
        warnings: list[str] = []
        with self._writing():  # one writer at a time, across processes; questions go on meanwhile
            forgotten: set[str] = set()
            if rebuild:
                forgotten = KnowledgeIndex.read_forgotten(self.home)  # before a damaged index is set aside
                warnings += self._set_aside_if_unreadable()
            index = None if rebuild else self._private_copy()
            if index is None:
                index = KnowledgeIndex.empty(self._embeddings, self._info)
                index.forgotten = forgotten
            start, done = index.generation, False
            try:
                report = sync(
                    index, targets, docs_dir=self.docs_dir, home=self.home, embeddings=self._embeddings(),
                    progress=progress,
                )  # fmt: skip
                done = True
            finally:  # even a failed sync may have saved the files that completed; but a failed
                # save (full disk) leaves this copy ahead of the disk: the disk's is read again
                saved = index.generation > start or (done and index.generation > 0)
                self._swap(index if saved else None)
            if index.chunk_count == 0:
                raise nothing_indexed(targets, report)
            return IngestResult(index=index, report=report, warnings=warnings)

    def ensure(self, progress: Progress | None = None) -> KnowledgeIndex:
        """Return the index, building it from the documents folder if none exists yet."""
        index = self.current()
        if index is None:
            with self._writing():
                index = self.current()  # another caller may have built it meanwhile
                if index is None:
                    index = self.ingest(progress=progress).index
        return index

    def upload(self, files: Sequence[tuple[str, bytes]], progress: Progress | None = None) -> UploadResult:
        """Save uploaded ``(name, bytes)`` files into the documents folder and index them.

        Raises:
            RagchatError: if a file type is unsupported (nothing is saved then).
        """
        from knowledge.uploads import checked_name, save_upload

        for name, _ in files:
            checked_name(name)  # all checked before any is saved
        saved = [save_upload(self.docs_dir, name, data) for name, data in files]
        return UploadResult(saved=saved, ingest=self.ingest([item.path for item in saved], progress=progress))

    def forget(self, names: Sequence[str], delete_files: bool = False) -> list[str]:
        """Remove files from the index by source name or path, and keep them out; return the sources removed.

        A forgotten file stays on disk and out of every ingest of the documents folder (by its
        source name, even if deleted and made again) until it is named again: ``ingest([path])``,
        ingesting a sub-folder of the documents folder that holds it, or an upload of that name.
        With ``delete_files``, files inside the documents folder are deleted instead, so there is
        nothing to keep out: a new file of that name is indexed like any other. Files elsewhere
        are never deleted; they are kept out like forgotten ones.

        Raises:
            RagchatError: if a name matches nothing in the index (nothing is removed then).
        """
        with self._writing():
            index = self._private_copy()  # swapped in once saved
            if index is None:
                raise no_index()
            sources = [source for name in names for source in self._matching(index, name)]
            paths = [Path(index.files[s].path) for s in sources]
            docs = Path(os.path.abspath(self.docs_dir))
            doomed = [path for path in paths if path.is_relative_to(docs)] if delete_files else []
            for folder in sorted({path.parent for path in doomed}):  # refuse before the index changes
                if refusal := write_refusal(folder):
                    raise refusal
            index.remove_sources(sources)
            index.forgotten.update(s for s, path in zip(sources, paths, strict=True) if path not in doomed)
            index.save(self.home)
            self._swap(index)
            for path in doomed:
                path.unlink(missing_ok=True)
            return sources

    # -- inside -------------------------------------------------------------------------
    def _matching(self, index: KnowledgeIndex, name: str) -> list[str]:
        """The indexed sources ``name`` means: a source name, a path, or a folder holding some."""
        from knowledge.scan import source_name

        path = source_name(Path(name), self.docs_dir)
        if name in index.files or path in index.files:
            return [name if name in index.files else path]
        prefix = path.rstrip("/") + "/"  # a folder: everything indexed under it
        matches = [source for source in index.files if source.startswith(prefix)]
        if matches:
            return matches
        source = name if name in index.forgotten else path
        if source in index.forgotten:
            raise RagchatError(
                f"{name} is not in the index: it was forgotten — `ragchat ingest {shlex.quote(source)}` adds it back."
            )
        raise RagchatError(f"{name} is not in the index — `ragchat sources` lists what is.")

    def _private_copy(self) -> KnowledgeIndex | None:
        # From disk, not the live object: questions keep using the live index while this one
        # changes, and see the new one only once it is complete and saved.
        return KnowledgeIndex.load(self.home, self._embeddings, self.embedding)

    def _swap(self, index: KnowledgeIndex | None) -> None:
        """Make ``index`` (``None``: whatever is on disk) the one questions read, all at once."""
        with self._lock:
            self._index, self._stamp = index, self._manifest_stamp()

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.home / "index" / MANIFEST).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _set_aside_if_unreadable(self) -> list[str]:
        # Only damage is set aside. A readable index of another model is replaced by the
        # rebuild as usual; a disk that refuses to be read (permission) is no damage: its
        # error is raised and nothing is renamed.
        try:
            KnowledgeIndex.load(self.home, None, self.embedding)
        except EmbedderMismatch:
            return []
        except IndexDamaged:
            kept = KnowledgeIndex.set_aside(self.home)
            if kept:
                return [f"The unreadable index was kept as {kept.name}; a new one is being built."]
        return []

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the right to change the index: one thread here, one process on this data folder."""
        from filelock import FileLock, Timeout

        with self._writer:
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


def no_index() -> RagchatError:
    """Return the error for a command that needs an index when there is none."""
    return RagchatError("There is no index yet — run `ragchat ingest` first.")


def nothing_indexed(targets: Sequence[str | Path], report: SyncReport) -> RagchatError:
    """Return the error for an ingest that left the index empty, saying why."""
    from knowledge.formats import SUPPORTED_EXTENSIONS

    where = ", ".join(map(str, targets))
    if report.forgotten and not report.skipped:
        count = len(report.forgotten)
        return RagchatError(
            f"Every document in {where} is forgotten ({count} file{'s' if count > 1 else ''}) — "
            "`ragchat sources --forgotten` lists them, `ragchat ingest FILE` adds one back."
        )
    skipped = "; ".join(f"{name}: {why}" for name, why in report.skipped)
    return RagchatError(
        f"No readable documents in {where}" + (f" (skipped {skipped})" if skipped else "")
        + f" — add {', '.join(SUPPORTED_EXTENSIONS)} files and run `ragchat ingest` again."
    )  # fmt: skip
