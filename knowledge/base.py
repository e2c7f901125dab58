"""The knowledge base: one data folder's index, and every way it changes or is searched.

:class:`KnowledgeBase` is the single seam between ragchat's conversations and its storage:
it opens the index (and picks up what another process committed since), ingests folders
and uploads, forgets files, searches, and holds the locking and damage handling that go
with them. It knows nothing of chat. The storage engine behind it is a database
(:mod:`knowledge.engine`): SQLite in the data folder unless another engine is given.

One writer at a time (a lock the engine holds across processes); every change is a set
of transactions the size of what changed, so questions go on during an ingest and see
each file's new chunks as soon as they are committed, never half of a file.
"""

from __future__ import annotations

import os
import shlex
import shutil
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge import legacy
from knowledge.engine import Engine, IndexInfo
from knowledge.errors import EmbedderMismatch, IndexDamaged, RagchatError, counted, write_refusal
from knowledge.index import KnowledgeIndex, SearchMode
from knowledge.sqlite_engine import SQLiteEngine

# Reading files, embedding and uploads are imported where used: `ragchat sources` and a
# keyword search need none of them.
if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings

    from knowledge.ingest import Progress, SyncReport
    from knowledge.uploads import SavedUpload


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
        engine: Engine | None = None,
    ) -> None:
        """Describe the knowledge base; nothing is read until it is first used.

        Args:
            home: The data folder (the SQLite index lives in ``home/knowledge.sqlite``).
            docs_dir: The documents folder that a plain ingest reads.
            embedding: The embedder's identity recorded with the index (``ollama/nomic-embed-text``).
            embeddings: Returns the embedding model; called only when something must be embedded.
            chunk_size: Characters per chunk for a new index.
            chunk_overlap: Characters shared by neighbouring chunks in a new index.
            engine: Where the index is stored (default: SQLite in ``home``).
        """
        self.home, self.docs_dir, self.embedding = Path(home), Path(docs_dir), embedding
        self._embeddings = embeddings
        self._chunking = (chunk_size, chunk_overlap)
        self.engine: Engine = engine if engine is not None else SQLiteEngine(self.home)
        self._index = KnowledgeIndex(self.engine, embeddings)
        self._lock = threading.RLock()
        self._writer = threading.RLock()
        self._legacy_checked = False

    # -- reading ----------------------------------------------------------------------
    def current(self) -> KnowledgeIndex | None:
        """Return the index, or ``None`` if nothing has been ingested yet.

        Each call picks up what was committed since the last (by this process or another: the
        CLI beside the web page) — a read of a few bytes when nothing changed. An index in the
        format before SQLite is moved into the database first, without embedding anything.

        Raises:
            RagchatError: if the index is damaged or was built by another embedding model.
        """
        self._migrate_legacy()
        with self._lock:
            self.engine.refresh()
            info = self.engine.info
            if info is None or not (self.engine.files or self.engine.forgotten):
                return None
            if info.embedding != self.embedding:
                raise EmbedderMismatch(
                    f"The index was built with {info.embedding} ({info.dimension}-d) but ragchat is set to "
                    f"{self.embedding} — rebuild it with `ragchat ingest --rebuild`, "
                    "or switch the embedding setting back."
                )
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
        """Bring the index up to date with ``paths`` (default: the documents folder).

        Only new and changed files are embedded, and each is committed as soon as its chunks
        are: a failure part-way keeps the files that completed. ``rebuild`` starts from an empty
        index (needed after changing the embedding model) that still keeps forgotten files out;
        an index the database reports damaged is set aside first, and the result says so.
        Forgotten files stay out unless a path names them (see :func:`knowledge.ingest.sync`); a
        path that does not exist is also tried as a source name in the documents folder.

        Raises:
            RagchatError: if another process is ingesting, the disk refuses, or no document is readable.
        """
        from knowledge.ingest import sync

        targets = list(paths) if paths else [self.docs_dir]
        warnings: list[str] = []
        with self._writing():  # one writer at a time, across processes; questions go on meanwhile
            forgotten: set[str] = set()
            if rebuild:
                forgotten, warnings = self._clear_for_rebuild()
            else:
                self.current()  # a damaged index or another embedder: say so before changing anything
            chunk_size, chunk_overlap = self._chunking
            self.engine.start(
                IndexInfo(self.embedding, chunk_size=chunk_size, chunk_overlap=chunk_overlap), reset=rebuild
            )
            if forgotten:
                self.engine.forget((), forgotten)
            with self._lock:
                self.engine.refresh()
            try:
                report = sync(
                    self._index, targets, docs_dir=self.docs_dir, embeddings=self._embeddings(), progress=progress
                )
                self.engine.settle()
            finally:
                with self._lock:
                    self.engine.refresh()  # what was committed, even by a sync that failed part-way
            if self._index.chunk_count == 0:
                raise nothing_indexed(targets, report)
            return IngestResult(index=self._index, report=report, warnings=warnings)

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
            index = self.require()
            sources = [source for name in names for source in self._matching(index, name)]
            paths = [Path(index.files[s].path) for s in sources]
            docs = Path(os.path.abspath(self.docs_dir))
            doomed = [path for path in paths if path.is_relative_to(docs)] if delete_files else []
            for folder in sorted({path.parent for path in doomed}):  # refuse before the index changes
                if refusal := write_refusal(folder):
                    raise refusal
            keep_out = [s for s, path in zip(sources, paths, strict=True) if path not in doomed]
            self.engine.forget(sources, keep_out)
            with self._lock:
                self.engine.refresh()
            for path in doomed:
                path.unlink(missing_ok=True)
            return sources

    def close(self) -> None:
        """Let go of the database (it opens again when next used)."""
        with self._lock:
            self.engine.close()

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

    def _migrate_legacy(self) -> None:
        """Move an index in the format before SQLite into the database, once, reusing its vectors."""
        if self._legacy_checked or not isinstance(self.engine, SQLiteEngine):
            return
        if legacy.found(self.home) and not self.engine.exists():
            with self._writing():
                if legacy.found(self.home) and not self.engine.exists():  # not done by another process meanwhile
                    legacy.migrate(self.home, self.engine.path)
        self._legacy_checked = True

    def _clear_for_rebuild(self) -> tuple[set[str], list[str]]:
        """Before a rebuild: keep the forgotten sources, and move a damaged or old-format index out of the way.

        Only damage is set aside (renamed, never deleted). A readable index of another model is
        emptied by the rebuild as usual; a disk that refuses to be read is no damage: its error is
        raised and nothing is renamed.
        """
        warnings: list[str] = []
        if isinstance(self.engine, SQLiteEngine) and legacy.found(self.home) and not self.engine.exists():
            try:
                forgotten = set(legacy.read(self.home)[0].forgotten)
                shutil.rmtree(self.home / legacy.FOLDER, ignore_errors=True)
                (self.home / "index.json").unlink(missing_ok=True)
            except IndexDamaged:
                forgotten = set()
                kept = legacy.set_aside(self.home)
                warnings.append(f"The unreadable index was kept as {kept}; a new one is being built.")
            self._legacy_checked = True
            return forgotten, warnings
        try:
            with self._lock:
                self.engine.refresh()
            return set(self.engine.forgotten), warnings
        except IndexDamaged:
            with self._lock:
                kept = self.engine.set_aside()
            if kept:
                warnings.append(f"The unreadable index was kept as {Path(kept).name}; a new one is being built.")
            return set(), warnings

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the right to change the index: one thread here, one writer on this knowledge base."""
        with self._writer, self.engine.writing():
            yield


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
            f"Every document in {where} is forgotten ({counted(count, 'file')}) — "
            "`ragchat sources --forgotten` lists them, `ragchat ingest FILE` adds one back."
        )
    skipped = "; ".join(f"{name}: {why}" for name, why in report.skipped)
    return RagchatError(
        f"No readable documents in {where}" + (f" (skipped {skipped})" if skipped else "")
        + f" — add {', '.join(SUPPORTED_EXTENSIONS)} files and run `ragchat ingest` again."
    )  # fmt: skip
