"""The index on disk: generation folders of data and the manifest (``current.json``) that names the live one.

An index lives in ``<home>/index/``. Its data is written into a new generation folder
(``g000007/``: vectors, chunk records, keyword index); then ``current.json`` — the
manifest of indexed files, the sources the user forgot, the embedding model's name and
dimension, and the name of the live generation — is replaced atomically (temp file +
rename). A crash at any moment leaves either the old or the new index, never a mix; older
generations are removed after the switch. Reading checks what it reads; an unreadable
index is set aside (renamed), never deleted.

What it does not do: search, or hold the index in memory (:mod:`knowledge.index` does).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from knowledge.calibration import HELD_ASIDE, IDENTITY, Calibration
from knowledge.errors import EmbedderMismatch, IndexDamaged, RagchatError, explain_os_error
from knowledge.keyword import KeywordIndex
from knowledge.store import MatrixStore, read_matrix

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

FORMAT_VERSION = 2
MANIFEST = "current.json"
CALIBRATION_FILE = "calibration.npy"
GENERATION_NAME = r"^g[0-9]{6}$"


def now() -> str:
    """Return the current UTC time as ISO 8601 seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class FileRecord:
    """What the manifest knows of one indexed file."""

    source: str
    path: str
    sha256: str
    size: int
    mtime_ns: int
    chunks: int
    indexed_at: str = field(default_factory=now)


@dataclass
class IndexInfo:
    """What the index was built with; saved in the manifest."""

    embedding: str
    dimension: int = 0
    chunk_size: int = 500
    chunk_overlap: int = 50
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    calibration: str = ""
    """The identity of the held-aside questions whose vectors the generation holds (``""``: none)."""


class Manifest(BaseModel):
    """What ``current.json`` must hold (checked strictly: no coercion, no unknown fields)."""

    model_config = ConfigDict(extra="forbid")
    format: int
    generation: str = Field(pattern=GENERATION_NAME)
    info: IndexInfo
    files: dict[str, FileRecord]
    forgotten: list[str] = Field(default_factory=list)


UNREADABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError, EOFError, OSError)
"""What reading damaged files raises (json, numpy, bm25s, pydantic); a ``MemoryError`` is not damage."""
REBUILD = "rebuild it with `ragchat ingest --rebuild` (the unreadable files are kept aside, not deleted)"


def read_manifest(path: Path) -> Manifest:
    """Read and check the manifest at ``path`` (strict types, one entry per source, this format version)."""
    raw = path.read_bytes()
    data = orjson.loads(raw)
    version = data.get("format") if isinstance(data, dict) else None
    if type(version) is int and version != FORMAT_VERSION:
        raise IndexDamaged(
            f"The index in {path.parent} has format {version}, this ragchat reads {FORMAT_VERSION} — {REBUILD}."
        )
    manifest = Manifest.model_validate_json(raw, strict=True)
    for source, record in manifest.files.items():
        if record.source != source:
            raise ValueError(f"the entry {source!r} describes {record.source!r}")
    return manifest


def _check_agreement(info: IndexInfo, files: dict[str, FileRecord], store: MatrixStore, keyword: KeywordIndex) -> None:
    if len(store) and store.dimension != info.dimension:
        raise ValueError(f"the vectors are {store.dimension}-d, the manifest says {info.dimension}-d")
    if keyword.size != len(store):
        raise ValueError(f"the keyword index holds {keyword.size} chunks, the vectors {len(store)}")
    # A listed file whose chunks are missing would count as unchanged and never come back.
    counts = Counter(metadata.get("source") for metadata in store.metadatas)
    wrong = next((source for source, record in files.items() if counts[source] != record.chunks), None)
    if wrong is not None:
        raise ValueError(f"the index holds {counts[wrong]} chunks of {wrong}, the manifest lists {files[wrong].chunks}")


def _damaged(what: str, exc: BaseException, home: Path) -> RagchatError:
    """Return the error for ``exc`` met while reading ``what``: a disk fault as such, anything else as damage."""
    fault = explain_os_error(exc, home) if isinstance(exc, OSError) else None
    return fault or IndexDamaged(f"{what} is damaged ({_reason(exc)}) — {REBUILD}.")


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_generation(
    folder: Path,
    store: MatrixStore,
    keyword: KeywordIndex,
    info: IndexInfo,
    files: dict[str, FileRecord],
    forgotten: set[str],
    generation: int,
    calibration: Calibration | None = None,
) -> None:
    """Write generation ``generation`` into ``folder``, switch the manifest to it, then drop older generations.

    ``info``'s dimension, update time and calibration identity are set as they are saved.
    """
    folder.mkdir(parents=True, exist_ok=True)
    name = f"g{generation:06d}"
    final = folder / name
    staging = Path(tempfile.mkdtemp(prefix=f"{name}.", suffix=".tmp", dir=folder))
    try:
        store.save(staging)
        keyword.save(staging / "keyword")
        info.calibration = ""
        if calibration is not None and calibration.vectors.shape[1:] == (store.dimension,):
            np.save(staging / CALIBRATION_FILE, calibration.vectors, allow_pickle=False)
            info.calibration = calibration.identity
        if final.exists():  # left over from a crash between rename and manifest switch
            shutil.rmtree(final)
        os.replace(staging, final)
        info.dimension = store.dimension or info.dimension
        info.updated_at = now()
        manifest = {
            "format": FORMAT_VERSION,
            "generation": name,
            "info": asdict(info),
            "files": {source: asdict(record) for source, record in sorted(files.items())},
        }
        if forgotten:  # only then: an index without any stays readable by an older ragchat
            manifest["forgotten"] = sorted(forgotten)
        write_atomic(folder / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    except BaseException:  # the manifest still names the old generation: drop the new one
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(final, ignore_errors=True)
        raise
    for old in folder.iterdir():  # the switch is done: older generations are garbage
        if old.name != name and old.name != MANIFEST and old.name.startswith("g"):
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)


def read_index(
    home: Path, embeddings: Embeddings | Callable[[], Embeddings] | None, embedding: str
) -> tuple[Manifest, MatrixStore, KeywordIndex] | None:
    """Read the index under ``home``: its manifest, vectors and keyword index; ``None`` if there is none.

    What is read is checked, not only parsed: the manifest's fields and their types,
    and that vectors, chunk records, keyword index and manifest agree (counts, widths,
    finite values).

    Raises:
        IndexDamaged: if the index is unreadable, inconsistent, or from another ragchat.
        EmbedderMismatch: if it was made by another embedder.
        RagchatError: if the disk refuses to be read (permission): nothing is damaged then.
    """
    folder = home / "index"
    manifest_path = folder / MANIFEST
    try:
        if folder.exists() and not folder.is_dir():
            raise IndexDamaged(f"The index data in {folder} is damaged (not a folder) — {REBUILD}.")
        if not manifest_path.exists():
            if (home / "index.json").exists():
                raise IndexDamaged(f"The index in {home} was made by an older ragchat — {REBUILD}.")
            return None
        manifest = read_manifest(manifest_path)
    except UNREADABLE as exc:
        raise _damaged(f"The index manifest {manifest_path}", exc, home) from exc
    info = manifest.info
    if info.embedding != embedding:
        raise EmbedderMismatch(
            f"The index was built with {info.embedding} ({info.dimension}-d) but ragchat is set to "
            f"{embedding} — rebuild it with `ragchat ingest --rebuild`, or switch the embedding setting back."
        )
    data = folder / manifest.generation
    try:
        store = MatrixStore.load(data, embeddings)
        keyword = KeywordIndex.load(data / "keyword")
        _check_agreement(info, manifest.files, store, keyword)
    except UNREADABLE as exc:
        raise _damaged(f"The index data in {data}", exc, home) from exc
    return manifest, store, keyword


def read_calibration(home: Path, manifest: Manifest, dimension: int) -> Calibration | None:
    """Return the held-aside question vectors saved with the index, or ``None`` (none saved, another list, unreadable).

    Never an error: a calibration is remade from the embedder when it is missing.
    """
    if manifest.info.calibration != IDENTITY:
        return None
    try:
        vectors = read_matrix(home / "index" / manifest.generation / CALIBRATION_FILE)
    except UNREADABLE:
        return None
    if vectors.shape != (len(HELD_ASIDE), dimension) or not np.isfinite(vectors).all():
        return None
    return Calibration(vectors)


def set_aside(home: str | Path) -> Path | None:
    """Rename an unreadable index (folder and first-version file) to ``*.damaged-<time>``; never delete it."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    kept = None
    for name in ("index", "index.json"):
        path = Path(home) / name
        try:
            if path.exists():
                kept = path.with_name(f"{name}.damaged-{stamp}")
                for n in range(2, 1000):  # a second damaged index within the same second
                    if not kept.exists():
                        break
                    kept = path.with_name(f"{name}.damaged-{stamp}-{n}")
                os.replace(path, kept)
        except OSError as exc:  # a read-only data folder: nothing was renamed
            fault = explain_os_error(exc, home)
            if fault is None:
                raise
            raise fault from exc
    return kept


def read_forgotten(home: str | Path) -> set[str]:
    """Return the sources forgotten in the index under ``home``; none if it has no readable manifest."""
    try:
        return set(read_manifest(Path(home) / "index" / MANIFEST).forgotten)
    except (*UNREADABLE, RagchatError):
        return set()
