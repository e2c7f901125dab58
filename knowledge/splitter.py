"""Cut articles into overlapping chunks whose ``start_index`` points into the source file.

Uses LangChain's ``RecursiveCharacterTextSplitter`` (paragraphs, then lines, then words).
The splitter reports offsets within the article; we add the article's own offset so the
invariant holds for the whole file: ``file_text[start:start + len(chunk)] == chunk``.
"""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter


def make_splitter(chunk_size: int = 500, chunk_overlap: int = 50) -> RecursiveCharacterTextSplitter:
    """Return the splitter used for every document, recording chunk offsets."""
    return RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap, add_start_index=True)


def split_documents(documents: list[Document], chunk_size: int = 500, chunk_overlap: int = 50) -> list[Document]:
    """Split article documents into chunks with file-level ``start_index`` metadata."""
    chunks = make_splitter(chunk_size, chunk_overlap).split_documents(documents)
    for chunk in chunks:
        meta = chunk.metadata
        meta["start_index"] = meta.get("start_index", 0) + meta.pop("article_start", 0)
    return chunks
