"""Save uploaded files into the documents folder under safe names.

An upload's name comes from the browser and is not trusted: only its last path
component is kept (no ``../``, no absolute paths, no drive letters), characters outside
letters, digits, space and ``._-()`` become ``_``, a leading dot is dropped (hidden files
are not indexed), a long name is shortened to 120 characters and 240 UTF-8 bytes (file
systems count bytes; whole characters only, extension kept, room left for `` (2)``), and the
extension must be one the knowledge base reads. A file that
already exists with the same bytes is reused; with different bytes the upload gets a
free name (``report (2).pdf``) — nothing is overwritten.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from knowledge.errors import RagchatError, explain_os_error
from knowledge.formats import SUPPORTED_EXTENSIONS

UNSAFE = re.compile(r"[^\w .()\-]+", re.UNICODE)
MAX_NAME = 120
MAX_NAME_BYTES = 240
"""Most UTF-8 bytes in a saved name: file systems allow 255, and `` (99999)`` must still fit."""


@dataclass
class SavedUpload:
    """Where an upload went, and whether it was new, identical to a file there, or renamed."""

    path: Path
    status: str  # "saved", "unchanged" or "renamed"


def safe_name(name: str) -> str:
    r"""Return a harmless file name for an uploaded ``name``.

    >>> safe_name("../../etc/passwd.txt"), safe_name("C:\\Users\\me\\Notes 1.md"), safe_name(".hidden.md")
    ('passwd.txt', 'Notes 1.md', 'hidden.md')
    >>> safe_name("報告" * 100 + ".txt") == "報告" * 39 + ".txt"  # 234 bytes of whole characters, then .txt
    True
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    # NFC first: a decomposed "é" (e + combining accent, as some systems send it) stays one letter.
    base = UNSAFE.sub("_", unicodedata.normalize("NFC", base)).strip(" .")
    stem, dot, extension = base.rpartition(".")
    if not dot:
        stem, extension = base, ""
    extension = _cut(extension, MAX_NAME // 2, MAX_NAME_BYTES // 2)
    room = len(extension) + 1 if extension else 0
    stem = _cut(stem, MAX_NAME - room, MAX_NAME_BYTES - len(extension.encode()) - (1 if extension else 0))
    stem = stem.strip(" .") or "upload"
    return f"{stem}.{extension}" if extension else stem


def _cut(text: str, characters: int, size: int) -> str:
    """Return the longest prefix of ``text`` with at most ``characters`` characters and ``size`` UTF-8 bytes."""
    # Decoding a byte-cut prefix with errors="ignore" drops a character cut in half, never a whole one.
    return text[:characters].encode()[:size].decode(errors="ignore")


def checked_name(name: str) -> str:
    """Return the safe name for an upload, refusing types ragchat cannot read.

    Raises:
        RagchatError: if the file type is not one ragchat reads.
    """
    filename = safe_name(name)
    if Path(filename).suffix.lower() not in SUPPORTED_EXTENSIONS:
        raise RagchatError(f"{name} is not a supported file type — upload {', '.join(SUPPORTED_EXTENSIONS)} files.")
    return filename


def save_upload(folder: Path, name: str, data: bytes) -> SavedUpload:
    """Write ``data`` into ``folder`` under a safe, free name.

    Raises:
        RagchatError: if the file type is not one ragchat reads, or the disk is full or read-only.
    """
    filename = checked_name(name)
    try:
        return _save(folder, filename, data)
    except OSError as exc:  # a full or read-only disk: one line; a partial file was already removed
        raise (explain_os_error(exc, folder) or exc) from exc


def _save(folder: Path, filename: str, data: bytes) -> SavedUpload:
    extension = Path(filename).suffix.lower()
    folder.mkdir(parents=True, exist_ok=True)
    target, status = folder / filename, "saved"
    digest = hashlib.sha256(data).digest()
    stem, n = Path(filename).stem, 2
    while target.exists():
        if target.is_file() and hashlib.sha256(target.read_bytes()).digest() == digest:
            return SavedUpload(target, "unchanged")
        target, status = folder / f"{stem} ({n}){extension}", "renamed"
        n += 1
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)  # complete files only: the indexer never sees half an upload
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return SavedUpload(target, status)
