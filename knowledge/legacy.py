"""Indexes in the format before SQLite: read once, moved into the database, never written.

Until this version an index was a folder ``<home>/index/`` of generation folders
(``g000007/``: vectors, chunk records, a bm25s keyword index) and a manifest
(``current.json``) naming the live one. :func:`migrate` reads such an index — checked as
carefully as ever: every field's type, and that vectors, records and manifest agree — and
writes its files, chunks, vectors, forgotten sources and calibration into a new SQLite
database, so nothing is embedded again. The database is built under a temporary name and
renamed into place once complete; only then is the old folder removed. An index that cannot
be read is not migrated: the user is told to rebuild, and the folder is kept.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.atomic import aside_name
from knowledge.calibration import HELD_ASIDE, IDENTITY, Calibration
from knowledge.engine import FileChunks, FileRecord, IndexInfo, in_batches
from knowledge.errors import IndexDamaged, RagchatError, explain_os_error
from knowledge.store import MatrixStore, read_matrix

FOLDER = "index"
FORMAT_VERSION = 2
MANIFEST = "current.json"
CALIBRATION_FILE = "calibration.npy"
GENERATION_NAME = r"^g[0-9]{6}$"
UNREADABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OSError)
"""What reading damaged files raises (json, numpy, pydantic); a ``MemoryError`` is not damage."""
REBUILD = "rebuild it with `ragchat ingest --rebuild` (the unreadable index is kept aside, not deleted)"


class Manifest(BaseModel):
    """What ``current.json`` must hold (checked strictly: no coercion, no unknown fields)."""

    model_config = ConfigDict(extra="forbid")
    format: int
    generation: str = Field(pattern=GENERATION_NAME)
    info: IndexInfo
    files: dict[str, FileRecord]
    forgotten: list[str] = Field(default_factory=list)


def found(home: Path) -> bool:
    """Whether ``home`` holds an index in a format before SQLite (an ``index`` folder, or ``index.json``)."""
    return (home / FOLDER).exists() or (home / "index.json").exists()


def migrate(home: Path, target: Path) -> None:
    """Move the old index under ``home`` into a new SQLite database at ``target``, reusing its vectors.

    Nothing is embedded. The database is written as ``target`` plus ``.migrating`` and renamed
    into place when complete; then the old index folder is removed.

    Raises:
        IndexDamaged: if the old index cannot be read as a whole (it is left where it is).
        RagchatError: if the disk refuses (full, read-only); nothing changes then.
    """
    from knowledge.sqlite_engine import SQLiteEngine

    if not (home / FOLDER).exists():  # only the first version's index.json
        raise IndexDamaged(f"The index in {home} was made by an older ragchat — {REBUILD}.")
    manifest, store, calibration = read(home)
    staging = target.with_name(target.name + ".migrating")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{staging}{suffix}").unlink(missing_ok=True)  # left by a migration that was cut short
    engine = SQLiteEngine(home, staging.name)
    try:
        engine.start(manifest.info)
        rows: dict[str, list[int]] = defaultdict(list)
        for row, meta in enumerate(store.metadatas):
            rows[meta.get("source", "")].append(row)
        files = (
            FileChunks(record, [store.document(row) for row in rows[source]], store.vectors[rows[source]])
            for source, record in manifest.files.items()
        )
        for batch in in_batches(files):
            engine.commit(add=batch, keep_times=True)
        engine.forget((), manifest.forgotten)
        if calibration is not None:
            engine.save_calibration(calibration)
        engine.close()
        os.replace(staging, target)
    except BaseException as exc:
        engine.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{staging}{suffix}").unlink(missing_ok=True)
        fault = explain_os_error(exc, home) if isinstance(exc, OSError) else None
        if fault is not None:
            raise fault from exc
        raise
    shutil.rmtree(home / FOLDER, ignore_errors=True)


def read(home: Path) -> tuple[Manifest, MatrixStore, Calibration | None]:
    """Read and check the old index under ``home``: manifest, chunks with vectors, and calibration.

    Raises:
        IndexDamaged: if anything is unreadable or the parts disagree.
        RagchatError: if the disk refuses to be read (permission): nothing is damaged then.
    """
    folder = home / FOLDER
    try:
        manifest = read_manifest(folder / MANIFEST)
        data = folder / manifest.generation
        store = MatrixStore.load(data)
        _check_agreement(manifest.info, manifest.files, store)
    except UNREADABLE as exc:
        fault = explain_os_error(exc, home) if isinstance(exc, OSError) and exc.errno else None
        if fault is not None:
            raise fault from exc
        raise IndexDamaged(
            f"The index in {folder} could not be moved to the new format ({_reason(exc)}) — {REBUILD}."
        ) from exc
    return manifest, store, read_calibration(data, manifest, store.dimension or 0)


def read_manifest(path: Path) -> Manifest:
    """Read and check the manifest at ``path`` (strict types, one entry per source, this format version)."""
    raw = path.read_bytes()
    data = orjson.loads(raw)
    version = data.get("format") if isinstance(data, dict) else None
    if type(version) is int and version != FORMAT_VERSION:
        raise ValueError(f"format {version}, not {FORMAT_VERSION}")
    manifest = Manifest.model_validate_json(raw, strict=True)
    for source, record in manifest.files.items():
        if record.source != source:
            raise ValueError(f"the entry {source!r} describes {record.source!r}")
    return manifest


def _check_agreement(info: IndexInfo, files: dict[str, FileRecord], store: MatrixStore) -> None:
    if len(store) and store.dimension != info.dimension:
        raise ValueError(f"the vectors are {store.dimension}-d, the manifest says {info.dimension}-d")
    counts: dict[str, int] = defaultdict(int)
    for metadata in store.metadatas:
        counts[metadata.get("source")] += 1
    wrong = next((source for source, record in files.items() if counts[source] != record.chunks), None)
    if wrong is not None:
        raise ValueError(f"the index holds {counts[wrong]} chunks of {wrong}, the manifest lists {files[wrong].chunks}")
    if set(counts) - set(files):
        raise ValueError("the index holds chunks of files the manifest does not list")


def read_calibration(data: Path, manifest: Manifest, dimension: int) -> Calibration | None:
    """Return the held-aside question vectors saved with the old index, or ``None`` (remade when needed)."""
    if manifest.info.calibration != IDENTITY:
        return None
    try:
        vectors = read_matrix(data / CALIBRATION_FILE)
    except UNREADABLE:
        return None
    if vectors.shape != (len(HELD_ASIDE), dimension) or not np.isfinite(vectors).all():
        return None
    return Calibration(vectors)


def _reason(exc: BaseException) -> str:
    """Say in a few words what is wrong, on one line."""
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        reason = f"{where}: {error['msg']}" if where else error["msg"]
    elif isinstance(exc, OSError) and exc.filename:
        reason = f"{exc.strerror or type(exc).__name__}: {Path(exc.filename).name}"
    elif isinstance(exc, KeyError):
        reason = f"missing {exc.args[0]!r}" if exc.args else "missing entry"
    else:
        reason = str(exc) or type(exc).__name__
    return " ".join(reason.split())[:200]


def set_aside(home: Path) -> str:
    """Rename an unreadable old-format index (folder, first-version file) to ``*.damaged-<time>``; return the name.

    Never deletes it; a read-only or full disk is its one-line error, and then nothing is renamed.
    """
    kept = ""
    for name in (FOLDER, "index.json"):
        path = home / name
        try:
            if path.exists():
                target = aside_name(path, name)
                os.replace(path, target)
                kept = kept or target.name
        except OSError as exc:
            fault = explain_os_error(exc, home)
            if fault is None:
                raise
            raise fault from exc
    return kept


__all__ = ["FOLDER", "RagchatError", "found", "migrate", "read", "set_aside"]
