"""Cut articles into chunks of whole paragraphs and sentences whose ``start_index`` points into the source file.

A paragraph (text between blank lines) that fits the chunk size is never cut, and short
paragraphs are packed together up to the size. A longer paragraph is cut at sentence ends;
only a single sentence longer than a chunk is cut at line ends, then words, then characters.
A heading stays in the same chunk as the text after it: a Markdown heading, or any short
paragraph (at most three lines) that does not end with a full stop — an article's title and
byline, a sub-heading, a line ending in a colon — is glued to the next paragraph, so no chunk
holds a title alone (unless the heading is longer than half a chunk).

The packing, the overlap (the last whole pieces of a chunk, sentences or short paragraphs,
that fit in ``chunk_overlap`` characters) and the offsets are LangChain's
(``RecursiveCharacterTextSplitter`` and its ``_merge_splits``); this module only decides
where the pieces are cut. The splitter reports offsets within the article; we add the
article's own offset so the invariant holds for the whole file:
``file_text[start:start + len(chunk)] == chunk``. Chunks of text and Markdown files also get
``line_start`` / ``line_end``, the 1-based lines of the file they span (other formats'
extracted text has no lines a reader could find). Splitting a big file takes a while (about
0.3 s per MB), so it can report how far it is.

What it does not do: recognise abbreviations beyond a few titles and initials ("Mr.",
"St.", "J."), or find paragraphs in text that has no blank lines (a Word file's paragraphs
are single lines: there sentence ends decide).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from itertools import pairwise

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

SplitProgress = Callable[[int, int, int], None]
"""Called with the chunks found so far, the characters split so far and the characters in all."""

PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n\s*")
"""A blank line (or several), and the indentation after it."""
SENTENCE_END = (
    r"(?=[.!?…。！？])(?:"  # first a cheap test: most characters are no sentence end (10 times faster)
    # Not after a title or an initial ("Mr. Smith", "J. Smith"); not before a lower-case word ("e.g. the").
    r"(?<!\bMrs)(?<!\bMr)(?<!\bMs)(?<!\bDr)(?<!\bSt)(?<!\bNo)(?<!\b[A-Z])"
    r"[.!?…]+[\"'”’»)\]]*\s+(?=[^\sa-z])"
    r"|[。！？]+[\"'”’」』)）]*\s*)"
)
"""Where a sentence ends: its punctuation, closing quotes and the spaces after them (kept with the sentence)."""
SEPARATORS = [SENTENCE_END, r"\n", r"\s+", ""]
"""How a paragraph too long for one chunk is cut: at sentence ends, then lines, words, characters."""
MARKDOWN_HEADING = re.compile(r"#{1,6}(?:\s|$)|(?:=+|-+)\s*$")
"""A Markdown ``# heading`` line, or the ``===`` / ``---`` line under a heading."""
FULL_STOP = re.compile(r"[.…][\"'”’»)\]]*\s*$")
HEADING_LINES = 3


def make_splitter(chunk_size: int = 800, chunk_overlap: int = 50) -> ParagraphSplitter:
    """Return the splitter used for every document, recording chunk offsets."""
    return ParagraphSplitter(chunk_size, chunk_overlap)


def split_documents(
    documents: list[Document],
    chunk_size: int = 800,
    chunk_overlap: int = 50,
    progress: SplitProgress | None = None,
    every: int = 64,
) -> list[Document]:
    """Split article documents into chunks with file-level ``start_index`` metadata.

    ``progress`` is called before splitting, each time ``every`` more chunks have been
    found, and once at the end (all characters split, every chunk counted).
    """
    if progress is None:
        splitter = make_splitter(chunk_size, chunk_overlap)
    else:
        total = sum(len(doc.page_content) for doc in documents)
        splitter = _ReportingSplitter(_Counter(progress, total, every), chunk_size, chunk_overlap)
        progress(0, 0, total)
    chunks = []
    for document in documents:
        pieces = splitter.split_documents([document])
        _record_lines(pieces, document.page_content)  # while ``start_index`` is still within the article
        for chunk in pieces:
            meta = chunk.metadata
            meta["start_index"] = meta.get("start_index", 0) + meta.pop("article_start", 0)
        chunks += pieces
    if isinstance(splitter, _ReportingSplitter):
        splitter.counter.finish(len(chunks))
    return chunks


class ParagraphSplitter(RecursiveCharacterTextSplitter):
    r"""LangChain's recursive splitter, cutting at paragraphs, then sentences, with headings kept with their text.

    >>> splitter = ParagraphSplitter(chunk_size=60, chunk_overlap=0)
    >>> splitter.split_text("# Title\n\nOne short paragraph.\n\nA second one. It has two sentences.")
    ['# Title\n\nOne short paragraph.', 'A second one. It has two sentences.']
    """

    def __init__(self, chunk_size: int = 800, chunk_overlap: int = 50) -> None:
        super().__init__(
            separators=SEPARATORS,
            is_separator_regex=True,
            keep_separator="end",
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            add_start_index=True,
        )

    def split_text(self, text: str) -> list[str]:
        """Return the chunks of ``text``: its pieces packed by LangChain, up to the chunk size."""
        return self._merge_splits(self._pieces(text), "")

    def _pieces(self, text: str) -> Iterator[str]:
        """Yield consecutive slices of ``text``, each at most a chunk long, for LangChain to pack.

        They are paragraphs (a heading glued to the one after it), the blank lines between
        them, and the sentences (or smaller pieces) of a paragraph too long for a chunk.
        """
        head = ""  # heading paragraphs (with the blank lines after them) waiting for their text
        for paragraph, gap in _paragraphs(text):
            if gap and len(head) + len(paragraph) + len(gap) <= self._chunk_size // 2 and _is_heading(paragraph):
                head += paragraph + gap
                continue
            if head or paragraph:
                yield from self._fit(head + paragraph, len(head))
            head = ""
            if gap:
                yield from self._fit(gap)
        if head:
            yield head

    def _fit(self, text: str, head: int = 0) -> list[str]:
        """Return ``text`` whole if it fits, else cut finer; its first ``head`` characters stay with what follows."""
        if len(text) <= self._chunk_size:
            return [text]
        pieces = self._cut(text[head:], self._separators, whole=not head)
        if head:
            first = text[:head] + pieces[0]
            # Too long with its heading: cut at words, so the heading is packed with the first ones.
            pieces[:1] = [first] if len(first) <= self._chunk_size else self._cut(first, self._separators[-2:])
        return pieces

    def _cut(self, text: str, separators: list[str], whole: bool = True) -> list[str]:
        """Cut ``text`` after each match of the first separator it holds; cut pieces still too long at the next.

        ``text`` is returned whole when it fits, unless ``whole`` is false (a paragraph that fits
        alone but not with its heading is still cut at its sentences).
        """
        if whole and len(text) <= self._chunk_size:
            return [text]
        for position, separator in enumerate(separators):
            if not separator:
                return list(text)
            ends = [match.end() for match in re.finditer(separator, text)]
            bounds = [0, *(end for end in ends if end < len(text)), len(text)]
            if len(bounds) > 2:
                rest = separators[position + 1 :]
                return [piece for a, b in pairwise(bounds) for piece in self._cut(text[a:b], rest)]
        return [text]


def _paragraphs(text: str) -> Iterator[tuple[str, str]]:
    """Yield each paragraph of ``text`` with the blank lines after it (``""`` after the last)."""
    start = 0
    for match in PARAGRAPH_BREAK.finditer(text):
        yield text[start : match.start()], match.group()
        start = match.end()
    yield text[start:], ""


def _is_heading(paragraph: str) -> bool:
    r"""Tell whether a paragraph introduces the next: a Markdown heading, or a few lines not ending with a full stop.

    >>> _is_heading("# Gannet Point Light"), _is_heading("A Short History\nVisitor Office | March 2024")
    (True, True)
    >>> _is_heading("The tower was lit in 1871."), _is_heading("")
    (False, False)
    """
    lines = paragraph.strip().splitlines()
    if not lines or len(lines) > HEADING_LINES:
        return False
    return bool(MARKDOWN_HEADING.match(lines[-1])) or not FULL_STOP.search(lines[-1])


def _record_lines(chunks: list[Document], text: str) -> None:
    """Give each chunk of ``text`` the 1-based ``line_start`` / ``line_end`` it spans in its file.

    Only documents that know the line they start on (``article_line``: text and Markdown
    files) get lines. Chunks come in order of their offset in ``text``, so each newline is
    counted once.
    """
    offset, line = 0, 0
    for chunk in chunks:
        meta = chunk.metadata
        first = meta.pop("article_line", None)
        if first is None:
            continue
        start = max(meta.get("start_index", 0), offset)
        line = (line or first) + text.count("\n", offset, start)
        offset = start
        meta["line_start"], meta["line_end"] = line, line + chunk.page_content.count("\n")


class _Counter:
    """Chunks and characters split so far; passes them on every ``every`` chunks found."""

    def __init__(self, progress: SplitProgress, total: int, every: int) -> None:
        self.progress, self.total, self.every = progress, total, max(every, 1)
        self.found = self.chars = self.reported = 0

    def add(self, chunks: int, chars: int) -> None:
        self.found, self.chars = self.found + chunks, min(self.chars + chars, self.total)
        if self.found - self.reported >= self.every:
            self.reported = self.found
            self.progress(self.found, self.chars, self.total)

    def finish(self, found: int) -> None:
        if (self.reported, self.chars) != (found, self.total):
            self.progress(found, self.total, self.total)


class _ReportingSplitter(ParagraphSplitter):
    """The same splitter, counting as it goes.

    LangChain's ``_merge_splits`` pulls the pieces one at a time (consecutive slices of the
    text, so their lengths add up to the characters split so far) and joins each chunk in
    ``_join_docs`` as soon as it is full: counting there moves within one long article.
    """

    def __init__(self, counter: _Counter, chunk_size: int, chunk_overlap: int) -> None:
        super().__init__(chunk_size, chunk_overlap)
        self.counter = counter

    def _merge_splits(self, splits: Iterable[str], separator: str) -> list[str]:
        return super()._merge_splits(self._counted(splits), separator)

    def _counted(self, splits: Iterable[str]) -> Iterator[str]:
        for split in splits:
            self.counter.add(0, len(split))
            yield split

    def _join_docs(self, docs: list[str], separator: str) -> str | None:
        chunk = super()._join_docs(docs, separator)
        if chunk is not None:
            self.counter.add(1, 0)
        return chunk
