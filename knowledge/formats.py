"""Read one file of a supported format (text, Markdown, PDF, HTML, Word) into plain-text sections.

:func:`read_sections` dispatches on the file's suffix and returns :class:`Section` objects:
one per PDF page that has text (with its 1-based page number), one for the whole file
otherwise. Text is UTF-8 unless a BOM says UTF-16/32; other text (old Latin-1 or
Windows-1252 notes) is decoded in the encoding charset-normalizer detects. Anything wrong
with the content (binary data, a bad encoding, an encrypted or damaged PDF, a broken DOCX,
nothing to read) raises :class:`UnreadableFile` with a short lower-case reason meant for a
"skipped: reason" summary line, never another exception.

What it does not do: OCR of scanned PDFs, PDF passwords other than the empty one, legacy
``.doc`` files, DOCX headers, footers, footnotes and text boxes, HTML that only CSS hides,
or splitting into articles and chunks (that is the loader's and the splitter's job).
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import docx
from bs4 import (
    BeautifulSoup,
    CData,
    MarkupResemblesLocatorWarning,
    NavigableString,
    ParserRejectedMarkup,
    Tag,
    XMLParsedAsHTMLWarning,
)
from docx.table import Table
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".txt", ".md", ".pdf", ".html", ".htm", ".docx")

# Above this share of U+FFFD replacement characters a file is not text in the expected
# encoding; below it, a few stray bytes in a real text file must not lose the whole file.
MAX_REPLACEMENT_SHARE = 0.05

HTML_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head", "title"})
# Block elements end a line; these "paragraph" ones also leave a blank line, so the
# splitter can cut between them.
HTML_PARAGRAPH_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "details", "dl", "fieldset", "figure", "footer",
        "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre",
        "section", "table", "ul",
    }
)  # fmt: skip
HTML_LINE_TAGS = frozenset(
    {
        "body", "caption", "center", "dd", "dialog", "dir", "div", "dt", "figcaption", "html", "legend",
        "li", "menu", "option", "summary", "tbody", "tfoot", "thead", "tr",
    }
)  # fmt: skip
HTML_CELL_TAGS = frozenset({"td", "th"})
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
    reader = _READERS.get(path.suffix.lower())
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
    encoding = _bom_encoding(data)
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


def _read_pdf(data: bytes) -> list[Section]:
    with _quiet_pypdf():
        try:
            reader = PdfReader(io.BytesIO(data))
            # PdfReader already tries the empty password; asking again makes the check explicit.
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise UnreadableFile("encrypted PDF (needs a password)")
            pages = [(number, page.extract_text()) for number, page in enumerate(reader.pages, start=1)]
        except UnreadableFile:
            raise
        except DependencyError as exc:
            # Without the optional `cryptography` package pypdf only decrypts RC4, not AES.
            raise UnreadableFile("encrypted PDF (AES needs the cryptography package)") from exc
        except Exception as exc:  # pypdf has no single error base class for damaged files
            raise UnreadableFile("damaged PDF") from exc
    sections = [Section(text, page=number) for number, text in pages if text and text.strip()]
    if not sections:
        raise UnreadableFile("no extractable text (scanned PDF?)")
    return sections


def _read_html(data: bytes) -> list[Section]:
    # Bytes that are valid UTF-8 (or carry a UTF-16/32 BOM) are taken as such even when a
    # stale <meta charset> says otherwise; anything else is left to BeautifulSoup, which
    # follows the <meta charset> and falls back to guessing (e.g. windows-1252).
    markup: str | bytes
    bom_encoding = _bom_encoding(data)
    if bom_encoding is None and b"\x00" in data:
        raise UnreadableFile("binary content, not text")
    try:
        markup = data.decode(bom_encoding or "utf-8-sig")
    except UnicodeDecodeError:
        markup = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        try:
            soup = BeautifulSoup(markup, "html.parser")
        except ParserRejectedMarkup as exc:
            raise UnreadableFile("damaged HTML") from exc
    body = _html_to_text(soup)
    if not body:
        # A page with a title and nothing else (a redirect stub, a script-only app) has no content.
        raise UnreadableFile("empty")
    title = next((t for t in soup.find_all("title") if not t.find_parent("svg")), None)
    title_text = " ".join(title.get_text().split()) if title else ""
    return [Section(f"{title_text}\n\n{body}" if title_text else body)]


def _html_to_text(soup: BeautifulSoup) -> str:
    # Visible text only: one line per block element, a blank line after paragraph-like ones,
    # table cells joined with " | "; <head> and <title> are left out (the caller adds the title).
    writer = _TextWriter()
    # An explicit stack instead of recursion: deeply nested markup must not hit the recursion limit.
    stack: list[tuple[Tag | NavigableString, bool]] = [(soup, False)]
    while stack:
        node, closing = stack.pop()
        if isinstance(node, Tag):
            name = node.name.lower()
            if closing:
                if name == "pre":
                    writer.pre_depth -= 1
                writer.block_end(name)
                continue
            if name in HTML_SKIPPED_TAGS:
                continue
            if name == "br":
                writer.line_break()
                continue
            writer.block_start(name, first_cell=name in HTML_CELL_TAGS and node.find_previous_sibling(True) is None)
            if name == "pre":
                writer.pre_depth += 1
            stack.append((node, True))
            stack.extend((child, False) for child in reversed(node.contents))
        elif type(node) in (NavigableString, CData):
            # Comments, doctypes and processing instructions are NavigableString subclasses: skipped.
            writer.text(str(node))
    return writer.result()


class _TextWriter:
    """Collect text pieces, turning block boundaries into (at most two) newlines."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pending = 0
        self.pre_depth = 0

    def block_start(self, name: str, *, first_cell: bool) -> None:
        if name in HTML_CELL_TAGS and not first_cell:
            self.text(" | ")
        else:
            self._ask(name)

    def block_end(self, name: str) -> None:
        self._ask(name)

    def line_break(self) -> None:
        self._flush()
        self.parts.append("\n")

    def text(self, text: str) -> None:
        if self.pre_depth:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        elif not text.strip():
            # Whitespace between block elements must not turn a pending line break into two.
            if self.parts and not self.pending:
                self.parts.append(" ")
            return
        else:
            text = (" " if text[0].isspace() else "") + " ".join(text.split()) + (" " if text[-1].isspace() else "")
        self._flush()
        self.parts.append(text)

    def result(self) -> str:
        lines = [" ".join(line.split()) for line in "".join(self.parts).split("\n")]
        return BLANK_LINE_RUNS.sub("\n\n", "\n".join(lines)).strip()

    def _ask(self, name: str) -> None:
        if name in HTML_PARAGRAPH_TAGS:
            self.pending = 2
        elif name in HTML_LINE_TAGS:
            self.pending = max(self.pending, 1)

    def _flush(self) -> None:
        if self.pending and self.parts:
            self.parts.append("\n" * self.pending)
        self.pending = 0


def _read_docx(data: bytes) -> list[Section]:
    lines: list[str] = []
    try:
        document = docx.Document(io.BytesIO(data))
        # Document order, so a table stays next to the heading that introduces it.
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_table_rows(block))
            else:
                lines.append(block.text)
    except Exception as exc:  # zipfile, lxml and python-docx each raise their own types for broken files
        raise UnreadableFile("damaged DOCX") from exc
    text = BLANK_LINE_RUNS.sub("\n\n", "\n".join(lines)).strip()
    if not text:
        raise UnreadableFile("empty")
    return [Section(text)]


def _table_rows(table: Table) -> Iterator[str]:
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            # A horizontally merged cell is returned once per grid column it spans.
            if previous is not None and cell._tc is previous:
                continue
            previous = cell._tc
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            yield " | ".join(cells)


def _bom_encoding(data: bytes) -> str | None:
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


@contextmanager
def _quiet_pypdf() -> Iterator[None]:
    # pypdf logs a warning for every repairable defect; a summary line says enough.
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


_READERS = {
    ".txt": _read_text,
    ".md": _read_text,
    ".pdf": _read_pdf,
    ".html": _read_html,
    ".htm": _read_html,
    ".docx": _read_docx,
}
