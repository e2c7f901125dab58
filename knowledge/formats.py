"""Read one file of a supported format (text, Markdown, PDF, HTML, Word) into plain-text sections.

:func:`read_sections` dispatches on the file's suffix (PDF, HTML and Word readers are in
:mod:`knowledge.readers`, loaded only when needed) and returns :class:`Section` objects:
one per PDF page that has text (with its 1-based page number), one for the whole file
otherwise. Text is UTF-8 unless a BOM says UTF-16/32; other text (old Latin-1 or
Windows-1252 notes) is decoded in the encoding charset-normalizer detects. Anything wrong
with the content (binary data, a bad encoding, an encrypted or damaged PDF, a broken DOCX,
nothing to read) raises :class:`UnreadableFile` with a short lower-case reason meant for a
"skipped: reason" summary line, never another exception.

What it does not do: legacy ``.doc`` files (what the PDF, HTML and Word readers leave out
is listed in :mod:`knowledge.readers`), or splitting into articles and chunks (that is
the loader's and the splitter's job).
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".txt", ".md", ".pdf", ".html", ".htm", ".docx")

# Above this share of U+FFFD replacement characters a file is not text in the expected
# encoding; below it, a few stray bytes in a real text file must not lose the whole file.
MAX_REPLACEMENT_SHARE = 0.05
BLANK_LINE_RUNS = re.compile(r"\n{3,}")

NOT_REGULAR = "not a regular file"
"""Why a named pipe, device or socket is skipped (it is never read)."""


class UnreadableFile(Exception):
    """A file that cannot be read as text; ``str(exc)`` is a short lower-case reason for a summary line."""


@dataclass
class Section:
    """A piece of a file's text, with the PDF page it came from (``None`` for other formats)."""

    text: str
    page: int | None = None


def read_sections(path: Path, data: bytes | None = None) -> list[Section]:
    """Read ``path`` into text sections, choosing the reader by its lower-cased suffix.

    ``data``, when given, is the file's content already read (ingest hashes and parses the
    same bytes, so a file changing in between cannot be recorded under the wrong hash).

    Raises:
        UnreadableFile: if the type is not supported, the file cannot be opened, or its
            content yields no text; ``str(exc)`` says which.
    """
    reader = _reader(path.suffix.lower())
    if reader is None:
        raise UnreadableFile("unsupported file type")
    if data is None:
        try:
            data = read_regular(path)
        except OSError as exc:
            raise UnreadableFile(exc.strerror or "cannot be read") from exc
    return reader(data)


def read_regular(path: Path) -> bytes:
    """Return the bytes of ``path`` if it is a regular file (following links).

    The file is opened without blocking and checked before reading, so a named pipe or a
    device put in its place after it was listed can neither hang the reader nor feed it
    endless data.

    Raises:
        UnreadableFile: if ``path`` is not a regular file.
        OSError: if it cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnreadableFile(NOT_REGULAR)
        return f.read()


def decode_text(data: bytes) -> str:
    r"""Decode the bytes of a text file: a BOM's UTF-16/32, else UTF-8, else a detected legacy encoding.

    UTF-8 (BOM allowed) is tried first. Text that holds valid UTF-8 beyond ASCII is
    taken as UTF-8 even with a few invalid bytes (they become U+FFFD, as long as they
    are rare). Anything else, such as an old Latin-1 or Windows-1252 note, is decoded in
    the encoding ``charset-normalizer`` finds (see :func:`_detect`).

    >>> decode_text(b"\xef\xbb\xbfcaf\xc3\xa9"), decode_text(b"caf\xe9 cr\xe8me")
    ('café', 'café crème')

    Raises:
        UnreadableFile: if the bytes hold NUL characters or fit no encoding (binary data),
            or a BOM's encoding is mostly invalid.
    """
    encoding = bom_encoding(data)
    if encoding is not None:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            text = data.decode(encoding, errors="replace")
        if text.count("\ufffd") > MAX_REPLACEMENT_SHARE * len(text):
            raise UnreadableFile(f"not {encoding.upper()} text")
        return text
    if b"\x00" in data:
        raise UnreadableFile("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("utf-8-sig", errors="replace")
    # A legacy single-byte file has no valid UTF-8 sequence beyond ASCII: every accent
    # would become U+FFFD, so it goes to detection however few accents it has.
    has_utf8 = any(ord(ch) > 127 and ch != "\ufffd" for ch in text)
    if has_utf8 and text.count("\ufffd") <= MAX_REPLACEMENT_SHARE * len(text):
        return text
    return _detect(data)


def _detect(data: bytes) -> str:
    """Decode ``data`` in the encoding charset-normalizer finds most plausible.

    Short texts often fit several single-byte encodings equally well (``café`` reads the
    same in Windows-1250 and 1252); among the most plausible, Windows-1252 (a superset
    of Latin-1's printable characters) wins, as the commonest encoding of old notes.
    """
    from charset_normalizer import from_bytes  # only files that are not UTF-8 pay for the import

    matches = list(from_bytes(data))
    if not matches:
        raise UnreadableFile("binary content, not text")
    least_chaos = min(match.chaos for match in matches)
    if any("cp1252" in m.could_be_from_charset for m in matches if m.chaos == least_chaos):
        with suppress(UnicodeDecodeError):  # five bytes have no Windows-1252 character
            return data.decode("cp1252")
    return str(matches[0])


def _read_text(data: bytes) -> list[Section]:
    text = decode_text(data)
    if not text.strip():
        raise UnreadableFile("empty")
    return [Section(text)]


def bom_encoding(data: bytes) -> str | None:
    """Return the encoding a UTF-16/32 byte order mark at the start of ``data`` announces, if any."""
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _reader(suffix: str) -> Callable[[bytes], list[Section]] | None:
    if suffix in (".txt", ".md"):
        return _read_text
    if suffix not in SUPPORTED_EXTENSIONS:
        return None
    from knowledge import readers  # pypdf, python-docx and BeautifulSoup load only when such a file is read

    return {
        ".pdf": readers.read_pdf,
        ".html": readers.read_html,
        ".htm": readers.read_html,
        ".docx": readers.read_docx,
    }[suffix]
