"""Read a folder of text files into one LangChain ``Document`` per article.

A file is cut into articles at lines that are exactly ``---`` (the newspaper pages the
design came from put one story between such lines). Each article keeps where it came
from: ``source`` (path relative to the folder, with ``/``), ``article`` (1-based number
within the file), ``title`` (its first non-empty line) and ``article_start`` (character
offset of the article in the decoded file), so chunk offsets can point into the file.

What it does not do: other formats than plain text (``.txt``, ``.md``), or OCR.
Files that cannot be read as text are reported in :class:`LoadReport.skipped`, never raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.documents import Document

from knowledge.errors import RagchatError

TEXT_EXTENSIONS = (".txt", ".md")
ARTICLE_SEPARATOR = re.compile(r"^---\r?$", re.MULTILINE)
TITLE_MARKUP = re.compile(r"^[#>*\s]+")


@dataclass
class LoadReport:
    """What a folder load produced: the articles, and the files it had to skip, with why."""

    documents: list[Document] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def read_text(path: Path) -> str:
    """Decode a file as UTF-8 (BOM allowed), replacing invalid bytes.

    Raises:
        ValueError: if the file holds NUL bytes, i.e. is binary under a text name.
    """
    data = path.read_bytes()
    if b"\x00" in data:
        raise ValueError("binary content, not text")
    return data.decode("utf-8-sig", errors="replace")


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
                        "title": _title(body),
                        "article_start": start,
                    },
                )
            )
        start = sep_end
    return documents


def load_folder(folder: str | Path, extensions: tuple[str, ...] = TEXT_EXTENSIONS) -> LoadReport:
    """Load every file with one of ``extensions`` under ``folder``, recursively, in name order.

    Raises:
        RagchatError: if ``folder`` does not exist or is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise RagchatError(f"The documents folder {root} does not exist — create it or pass another folder.")
    report = LoadReport()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix.lower() not in extensions or _hidden(path.relative_to(root)):
            continue
        source = path.relative_to(root).as_posix()
        try:
            text = read_text(path)
        except (OSError, ValueError) as exc:
            report.skipped.append((source, str(exc) if isinstance(exc, ValueError) else exc.strerror or str(exc)))
            continue
        articles = split_articles(text, source)
        if not articles:
            report.skipped.append((source, "empty"))
            continue
        report.files.append(source)
        report.documents.extend(articles)
    return report


def _title(body: str) -> str:
    for line in body.splitlines():
        if line.strip():
            return TITLE_MARKUP.sub("", line).strip()[:120]
    return ""


def _hidden(relative: Path) -> bool:
    # Editors and tools leave dot-files and dot-folders around (.git, .DS_Store, .#draft.md).
    return any(part.startswith(".") for part in relative.parts)
