"""Cut articles into overlapping chunks whose ``start_index`` points into the source file.

Uses LangChain's ``RecursiveCharacterTextSplitter`` (paragraphs, then lines, then words).
The splitter reports offsets within the article; we add the article's own offset so the
invariant holds for the whole file: ``file_text[start:start + len(chunk)] == chunk``.
Chunks of text and Markdown files also get ``line_start`` / ``line_end``, the 1-based lines
of the file they span (other formats' extracted text has no lines a reader could find).
Splitting a big file takes a while (about 0.3 s per MB), so it can report how far it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

SplitProgress = Callable[[int, int, int], None]
"""Called with the chunks found so far, the characters split so far and the characters in all."""


def make_splitter(chunk_size: int = 500, chunk_overlap: int = 50) -> RecursiveCharacterTextSplitter:
    """Return the splitter used for every document, recording chunk offsets."""
    return RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True)


def split_documents(
    documents: list[Document],
    chunk_size: int = 500,
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


class _ReportingSplitter(RecursiveCharacterTextSplitter):
    """The same splitter, counting as it goes.

    The splitter works through a text in order and turns each run of pieces into chunks
    in ``_merge_splits``; the pieces it is given are consecutive slices of the text
    (separators kept), so their lengths add up to the characters split so far.
    """

    def __init__(self, counter: _Counter, chunk_size: int, chunk_overlap: int) -> None:
        super().__init__(chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True)
        self.counter = counter

    def _merge_splits(self, splits: Iterable[str], separator: str) -> list[str]:
        splits = list(splits)
        chunks = super()._merge_splits(splits, separator)
        self.counter.add(len(chunks), sum(map(len, splits)))
        return chunks
