"""Read one file into LangChain ``Document`` objects with their provenance.

Plain text and Markdown files are cut into articles at lines that are exactly ``---``
(the newspaper pages the design came from put one story between such lines). A PDF gives
one document per page with text; HTML and Word files give one document each. Metadata:
``source`` (the file's name in the index), ``title`` (first non-empty line of the
article or file), ``article`` (1-based, only in a text file of several articles, so a
plain file is not labelled "article 1"), ``page`` (1-based, PDFs only)
``article_start`` (offset of the document's text in the file's extracted text, so
chunk offsets can point into it) and, for text and Markdown files, ``article_line`` (the
1-based line it starts on, so chunks can say which lines of the file they span).

What it does not do: find files (``knowledge.scan`` does), decode their bytes
(``knowledge.formats`` does), or decide what changed since the last ingest
(``knowledge.plan`` does).
"""

from __future__ import annotations

import re
from pathlib import Path

from langchain_core.documents import Document

from knowledge.formats import UnreadableFile, read_sections

ARTICLE_EXTENSIONS = (".txt", ".md")
ARTICLE_SEPARATOR = re.compile(r"^---\r?$", re.MULTILINE)
TITLE_MARKUP = re.compile(r"^[#>*\s]+")


def split_articles(text: str, source: str) -> list[Document]:
    r"""Cut ``text`` at ``---`` lines into articles, dropping blank ones; number them if there are several.

    >>> [d.metadata.get("article") for d in split_articles("a\n---\n\n---\nb", "f.txt")]
    [1, 2]
    >>> [d.metadata.get("article") for d in split_articles("a\n---\n", "f.txt")]
    [None]
    """
    documents: list[Document] = []
    start = 0
    line = 1  # the line ``start`` is on, counted as we go (counting from the top each time is quadratic)
    bounds = [(m.start(), m.end()) for m in ARTICLE_SEPARATOR.finditer(text)] + [(len(text), len(text))]
    for sep_start, sep_end in bounds:
        body = text[start:sep_start]
        if body.strip():
            documents.append(
                Document(
                    page_content=body,
                    metadata={
                        "source": source,
                        "article": len(documents) + 1,
                        "title": first_line(body),
                        "article_start": start,
                        "article_line": line,
                    },
                )
            )
        line += text.count("\n", start, sep_end)
        start = sep_end
    if len(documents) == 1:
        del documents[0].metadata["article"]
    return documents


def load_file(path: Path, source: str, data: bytes | None = None) -> list[Document]:
    """Read one file (or its already-read ``data``) into documents named ``source``.

    Raises:
        UnreadableFile: with a short reason, if the file has no readable text.
    """
    sections = read_sections(path, data)
    if path.suffix.lower() in ARTICLE_EXTENSIONS:
        documents = [doc for section in sections for doc in split_articles(section.text, source)]
        if not documents:
            raise UnreadableFile("empty")
        return documents
    title = next((first_line(s.text) for s in sections if s.text.strip()), "")
    documents = []
    for section in sections:
        metadata = {"source": source, "title": title, "article_start": 0}
        if section.page is not None:
            metadata["page"] = section.page
        documents.append(Document(page_content=section.text, metadata=metadata))
    return documents


def first_line(text: str) -> str:
    """Return the first non-empty line without Markdown heading or quote marks, at most 120 characters."""
    for line in text.splitlines():
        if line.strip():
            return TITLE_MARKUP.sub("", line).strip()[:120]
    return ""
