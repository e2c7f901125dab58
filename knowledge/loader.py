"""Find documents and read each into LangChain ``Document`` objects with their provenance.

Plain text and Markdown files are cut into articles at lines that are exactly ``---``
(the newspaper pages the design came from put one story between such lines). A PDF gives
one document per page with text; HTML and Word files give one document each. Metadata:
``source`` (the file's name in the index), ``title`` (first non-empty line of the
article or file), ``article`` (1-based, text files only), ``page`` (1-based, PDFs only)
and ``article_start`` (offset of the document's text in the file's extracted text, so
chunk offsets can point into it).

What it does not do: read file contents itself (``knowledge.formats`` does), or decide
what changed since the last ingest (``knowledge.ingest`` does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from knowledge.errors import RagchatError
from knowledge.formats import SUPPORTED_EXTENSIONS, UnreadableFile, read_sections

ARTICLE_EXTENSIONS = (".txt", ".md")
ARTICLE_SEPARATOR = re.compile(r"^---\r?$", re.MULTILINE)
TITLE_MARKUP = re.compile(r"^[#>*\s]+")


@dataclass
class LoadReport:
    """What a folder load produced: the documents, the files read, and the files skipped with why."""

    documents: list[Document] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def split_articles(text: str, source: str) -> list[Document]:
    r"""Cut ``text`` at ``---`` lines into articles, dropping blank ones.

    >>> [d.metadata["article"] for d in split_articles("a\n---\n\n---\nb", "f.txt")]
    [1, 2]
    """
    documents: list[Document] = []
    start = 0
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
                    },
                )
            )
        start = sep_end
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


def find_files(folder: Path) -> list[Path]:
    """Return the supported, non-hidden files under ``folder``, recursively, in name order."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file() and path.suffix.lower() in SUPPORTED_EXTENSIONS and not _hidden(path.relative_to(folder))
    )


def load_folder(folder: str | Path) -> LoadReport:
    """Load every supported file under ``folder``; ``source`` is the path relative to it.

    Raises:
        RagchatError: if ``folder`` does not exist or is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise RagchatError(f"The documents folder {root} does not exist — create it or pass another folder.")
    report = LoadReport()
    for path in find_files(root):
        source = path.relative_to(root).as_posix()
        try:
            report.documents.extend(load_file(path, source))
        except UnreadableFile as exc:
            report.skipped.append((source, str(exc)))
            continue
        report.files.append(source)
    return report


def first_line(text: str) -> str:
    """Return the first non-empty line without Markdown heading or quote marks, at most 120 characters."""
    for line in text.splitlines():
        if line.strip():
            return TITLE_MARKUP.sub("", line).strip()[:120]
    return ""


def _hidden(relative: Path) -> bool:
    # Editors and tools leave dot-files and dot-folders around (.git, .DS_Store, .#draft.md).
    return any(part.startswith(".") for part in relative.parts)


def iter_sources(paths: Iterable[Path], docs_dir: Path) -> Iterable[tuple[Path, str]]:
    """Yield ``(file, source)`` for files, expanding folders; ``source`` is relative to ``docs_dir`` when inside it."""
    for path in paths:
        for file in find_files(path) if path.is_dir() else [path]:
            yield file, source_name(file, docs_dir)


def source_name(path: Path, docs_dir: Path) -> str:
    """Name a file in the index: its path relative to the documents folder, else its absolute path.

    >>> source_name(Path("/data/docs/a/b.md"), Path("/data/docs"))
    'a/b.md'
    >>> source_name(Path("/elsewhere/c.pdf"), Path("/data/docs"))
    '/elsewhere/c.pdf'
    """
    absolute = Path(os.path.abspath(path))
    try:
        return absolute.relative_to(Path(os.path.abspath(docs_dir))).as_posix()
    except ValueError:
        return absolute.as_posix()
