"""Readers for PDF, HTML and Word files: bytes in, plain-text :class:`~knowledge.formats.Section` objects out.

Each reader raises :class:`~knowledge.formats.UnreadableFile` with a short lower-case
reason for anything wrong with the content, never another exception. A PDF gives one
section per page that has text; HTML and Word files one section each. HTML keeps visible
text only: one line per block element, a blank line after paragraph-like ones, table
cells joined with `` | ``; a hand-written walker over BeautifulSoup's tree rather than a
library (inscriptis, html2text) because those lose deeply nested text, print ``<noscript>``
and SVG text, or write Markdown markup into the chunks.

Imported by :func:`knowledge.formats.read_sections` only when such a file is read, so
plain-text ingests and ``ragchat sources`` never load pypdf, python-docx or BeautifulSoup.

What it does not do: OCR of scanned PDFs, PDF passwords other than the empty one, DOCX
headers, footers, footnotes and text boxes, or HTML that only CSS hides.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

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

from knowledge.formats import BLANK_LINE_RUNS, Section, UnreadableFile, bom_encoding

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


def read_pdf(data: bytes) -> list[Section]:
    """Return one section per page with text, numbered from 1; an encrypted, damaged or scanned PDF is unreadable."""
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


def read_html(data: bytes) -> list[Section]:
    """Return the page's visible text as one section, its ``<title>`` first; a page with no text is unreadable."""
    # Bytes that are valid UTF-8 (or carry a UTF-16/32 BOM) are taken as such even when a
    # stale <meta charset> says otherwise; anything else is left to BeautifulSoup, which
    # follows the <meta charset> and falls back to guessing (e.g. windows-1252).
    markup: str | bytes
    declared = bom_encoding(data)
    if declared is None and b"\x00" in data:
        raise UnreadableFile("binary content, not text")
    try:
        markup = data.decode(declared or "utf-8-sig")
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


def read_docx(data: bytes) -> list[Section]:
    """Return paragraphs and table rows in document order as one section; a broken or empty file is unreadable."""
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
