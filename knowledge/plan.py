"""Decide what an ingest must change before any file is read: new, changed, unchanged, skipped, left out, gone.

:func:`plan_sync` is a pure function of what is known: the index's file records, the
files found on disk with what ``stat`` said of them (:class:`OnDisk`), the forgotten
sources and what the ingest was asked to cover (:class:`Targets`). Only two small
functions here touch the disk: :func:`look` (one ``stat`` per file found) and
:func:`targets` (which given paths are folders).

A file is read when it is new or its size or modification time differ from its record;
whether it really changed is known only once its bytes are hashed, which is the
applying step's job (:func:`knowledge.ingest.sync`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.engine import FileRecord
from knowledge.formats import SUPPORTED_EXTENSIONS
from knowledge.scan import source_name


@dataclass(frozen=True)
class OnDisk:
    """A file found to index, as the planner sees it: its name, where it is, and what ``stat`` said."""

    source: str
    path: str
    """Absolute path."""
    size: int = 0
    mtime_ns: int = 0
    error: str = ""
    """Why ``stat`` failed (the file cannot be looked at); empty when it did not."""


@dataclass(frozen=True)
class Targets:
    """What an ingest was asked to cover."""

    files: frozenset[str] = frozenset()
    """Sources named one by one: read even when forgotten."""
    subfolders: tuple[str, ...] = ()
    """Source prefixes (``"notes/"``) of sub-folders of the documents folder that were named: they name their files."""
    folders: tuple[str, ...] = ()
    """Absolute paths, ending in a separator, of the folders ingested: an indexed file under one that is not
    found there any more is gone."""

    def name(self, source: str) -> bool:
        """Whether ``source`` was named: the file itself, or a sub-folder of the documents folder holding it."""
        return source in self.files or source.startswith(self.subfolders)


@dataclass(frozen=True)
class ToRead:
    """A file to read: new (``old`` is ``None``) or changed in size or time since ``old`` was recorded."""

    file: OnDisk
    position: int
    """Its place among the files found, for progress."""
    old: FileRecord | None = None


@dataclass
class SyncPlan:
    """What an ingest will do, file by file, each list in the order the files were found."""

    read: list[ToRead] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    """Indexed sources to drop: gone from a folder ingested, or found but unreadable."""
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """``(source, reason)`` of files found that will not be read."""
    left_out: list[str] = field(default_factory=list)
    """Forgotten sources found on disk that nothing named."""

    @property
    def add(self) -> list[str]:
        """Sources to read that the index does not hold yet."""
        return [item.file.source for item in self.read if item.old is None]

    @property
    def change(self) -> list[str]:
        """Indexed sources to read again: their size or modification time differ."""
        return [item.file.source for item in self.read if item.old is not None]


def plan_sync(
    indexed: Mapping[str, FileRecord],
    found: Sequence[OnDisk],
    forgotten: Collection[str],
    targets: Targets,
    unlisted: Sequence[str | Path] = (),
) -> SyncPlan:
    """Sort the files found, and the indexed files not found, into what an ingest must do with each.

    ``unlisted`` are folders that could not be read: an indexed file under one is not
    known to be gone, so it stays.

    >>> record = FileRecord("a.md", "/d/a.md", "0f", size=3, mtime_ns=7, chunks=1)
    >>> plan = plan_sync({"a.md": record}, [OnDisk("a.md", "/d/a.md", 3, 7), OnDisk("b.md", "/d/b.md")], (), Targets())
    >>> plan.unchanged, plan.add
    (['a.md'], ['b.md'])
    """
    plan = SyncPlan()
    seen: set[str] = set()
    for position, file in enumerate(found):
        source = file.source
        if source in seen:
            continue
        seen.add(source)
        old = indexed.get(source)
        if source in forgotten and not targets.name(source):
            plan.left_out.append(source)
        elif os.path.splitext(file.path)[1].lower() not in SUPPORTED_EXTENSIONS:
            plan.skipped.append((source, "unsupported file type"))
        elif file.error:
            plan.skipped.append((source, file.error))
            if old is not None:
                plan.remove.append(source)  # its indexed text no longer matches a file that can be read
        elif old is not None and (old.size, old.mtime_ns) == (file.size, file.mtime_ns):
            plan.unchanged.append(source)
        else:
            plan.read.append(ToRead(file, position, old))
    unreadable = tuple(os.path.join(folder, "") for folder in unlisted)
    for source, record in indexed.items():
        if source in seen or not record.path.startswith(targets.folders) or record.path.startswith(unreadable):
            continue
        plan.remove.append(source)
    return plan


def look(files: Sequence[tuple[Path, str]]) -> list[OnDisk]:
    """Return each ``(path, source)`` found with its size and modification time, or why ``stat`` failed."""
    looked = []
    for path, source in files:
        absolute = os.path.abspath(path)
        try:
            info = os.stat(absolute)
        except OSError as exc:
            looked.append(OnDisk(source, absolute, error=exc.strerror or str(exc)))
            continue
        looked.append(OnDisk(source, absolute, info.st_size, info.st_mtime_ns))
    return looked


def targets(roots: Sequence[Path], docs_dir: Path) -> Targets:
    """Return what ``roots`` cover: files named, sub-folders of ``docs_dir`` named, and every folder ingested.

    The documents folder as a whole names no file in particular: it is what "ingest
    everything" means, so forgotten files stay out of it. So does a folder outside it:
    ingesting that again refreshes it as a whole, like a second documents folder.
    """
    docs = Path(os.path.abspath(docs_dir))
    files: set[str] = set()
    subfolders: list[str] = []
    folders: list[str] = []
    for root in roots:
        absolute = Path(os.path.abspath(root))
        if not absolute.is_dir():
            files.add(source_name(absolute, docs))
            continue
        folders.append(os.path.join(absolute, ""))
        if absolute != docs and absolute.is_relative_to(docs):
            subfolders.append(source_name(absolute, docs) + "/")
    return Targets(frozenset(files), tuple(subfolders), tuple(folders))
