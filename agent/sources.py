"""Retrieved chunks as the user sees them: source records, labels, passages, plain-text snippets, relevance.

Every view (the page, the terminal, exported Markdown) shows a source from the same record
(:func:`source_record`), so a source reads the same everywhere. :func:`rate` says once, for
all of them, how each chunk matched the question.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from langchain_core.documents import Document

SNIPPET_CHARS = 160


def source_record(number: int, doc: Document) -> dict[str, Any]:
    """Return what the UI shows for one source.

    Number, file, article, page, title, offset, the lines it spans (``[first, last]``, or
    ``None`` where the index did not record them), the search's score, a readable
    ``relevance`` (set by :func:`rate`; ``""`` if not rated), a plain-text snippet and the
    whole chunk ``text`` as stored.
    """
    meta = doc.metadata
    line_start, line_end = meta.get("line_start"), meta.get("line_end")
    return {
        "number": number,
        "source": meta.get("source", ""),
        "article": meta.get("article"),
        "page": meta.get("page"),
        "title": meta.get("title", ""),
        "start_index": meta.get("start_index"),
        "lines": [line_start, line_end] if line_start is not None and line_end is not None else None,
        "score": meta.get("score"),
        "relevance": meta.get("relevance", ""),
        "snippet": snippet(plain_text(doc.page_content, meta.get("source", ""))),
        "text": doc.page_content,
    }


def source_label(source: dict[str, Any]) -> str:
    """Return ``file · page n · article n “title” · lines a–b — relevance`` for one source record.

    The article number is there only for a file of several ``---`` articles (the loader
    numbers no other), the page only for a PDF, the lines only where the index recorded
    them (text and Markdown files), the relevance only where the search rated it (a record
    stored by an older version has none, and its raw score is not shown).

    >>> source_label({"source": "a.md", "article": 2, "title": "Tides", "lines": [12, 19],
    ...               "relevance": "strong match · by meaning and by words (tide)"})
    'a.md · article 2 “Tides” · lines 12–19 — strong match · by meaning and by words (tide)'
    >>> source_label({"source": "b.md", "title": "Ferry", "score": 0.93})
    'b.md “Ferry”'
    """
    label = str(source.get("source", ""))
    if source.get("page") is not None:
        label += f" · page {source['page']}"
    if source.get("article") is not None:
        label += f" · article {source['article']}"
    if source.get("title"):
        label += f" “{source['title']}”"
    if where := lines_label(source):
        label += f" · {where}"
    if source.get("relevance"):
        label += f" — {source['relevance']}"
    return label


def lines_label(source: dict[str, Any]) -> str:
    """Return ``lines a–b`` (or ``line a``) for a record that has its lines, else ``""``.

    >>> lines_label({"lines": [7, 7]}), lines_label({"lines": None}), lines_label({})
    ('line 7', '', '')
    """
    lines = source.get("lines")
    if not lines:
        return ""
    first, last = lines
    return f"line {first}" if first == last else f"lines {first}–{last}"


def passage(source: dict[str, Any]) -> str:
    r"""Return the whole passage of a record as a person reads it: Markdown as plain text, lines kept.

    A record stored by an older version has no passage; its snippet is all there is.

    >>> print(passage({"source": "a.md", "text": "# Tides\n\n**High** water\nat 06:40."}))
    Tides
    <BLANKLINE>
    High water
    at 06:40.
    >>> passage({"source": "a.md", "snippet": "High water…"})
    'High water…'
    """
    if "text" not in source:
        return str(source.get("snippet", ""))
    return plain_text(source["text"], str(source.get("source", "")))


MARKDOWN_EXTENSIONS = (".md",)


@functools.cache
def _markdown_parser() -> Any:
    """Return the CommonMark parser, imported when first needed so the CLI's start-up stays light."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False})


def plain_text(text: str, source: str) -> str:
    r"""Return Markdown ``text`` (from a ``.md`` ``source``) as the plain text a reader sees; other text as it is.

    Headings, emphasis and link syntax go; an image becomes its alt text and address, code
    its characters, a list item starts with ``•`` (or its number). HTML stays as the
    characters it is. Each block starts on its own line, blank lines between blocks as in
    the file, so line breaks stay where they were.

    >>> plain_text("## Ferry\n\n- leaves at **nine** from [pier 2](http://x.test)", "a.md")
    'Ferry\n\n• leaves at nine from pier 2'
    >>> plain_text("## Ferry **nine**", "a.txt")
    '## Ferry **nine**'
    """
    if not source.lower().endswith(MARKDOWN_EXTENSIONS):
        return text
    out: list[str] = []
    last_line: int | None = None
    marker = ""
    for token in _markdown_parser().parse(text):
        if token.type == "list_item_open":
            marker = f"{token.info}{token.markup} " if token.info else "• "
        if token.type not in ("inline", "fence", "code_block") or token.map is None:
            continue
        first, end = token.map
        if last_line is not None:
            out.append("\n" * max(1, first - last_line))
        last_line = end - 1
        if token.type == "inline":
            out.append(marker + _inline_text(token.children or []))
            marker = ""
        else:
            out.append(token.content.rstrip("\n"))
    return "".join(out)


def _inline_text(tokens: list[Any]) -> str:
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif token.type == "image":
            parts.append(f"{_inline_text(token.children or [])} (image: {token.attrGet('src')})")
    return "".join(parts)


MIN_COVERAGE = 0.5
"""A chunk holding at least half of the question's content words is keyword evidence."""


MAX_WORDS_SHOWN = 5


def rate(documents: list[Document], query: str, min_score: float) -> list[Document]:
    """Record in each document's metadata, as ``relevance``, why and how strongly it matches ``query``.

    Done once, when the search is made: the page, the terminal and the stored thread then
    show the same words. Returns ``documents`` (changed in place).
    """
    from knowledge.keyword import terms

    wanted = terms(query)
    words = _query_words(query)
    for doc in documents:
        found = terms(doc.page_content)
        shared = [word for word, stem in words if stem in found]
        share = len(wanted & found) / len(wanted) if wanted else 0.0
        doc.metadata["relevance"] = relevance(doc.metadata.get("vector_score"), shared, share, min_score)
    return documents


def relevance(
    cosine: float | None, words: list[str], share: float, min_score: float, min_coverage: float = MIN_COVERAGE
) -> str:
    """Say in plain words how a passage matches: how strongly, then which search found it.

    *By meaning* when its ``cosine`` reaches the evidence threshold ``min_score`` (a keyword
    search computes no cosine); *by words* naming the query's ``words`` it contains (at most
    :data:`MAX_WORDS_SHOWN`). Strength follows the abstention rule's two signals — the
    cosine, and the ``share`` of the query's content words (at least ``min_coverage``):
    **strong** when both hold, **good** when one does, **weak** when neither.

    >>> relevance(0.71, ["ferry", "nine"], 1.0, 0.5)
    'strong match · by meaning and by words (ferry, nine)'
    >>> relevance(0.71, [], 0.0, 0.5)
    'good match · by meaning'
    >>> relevance(None, ["ferry", "nine"], 1.0, 0.5)
    'good match · by words (ferry, nine)'
    >>> relevance(0.32, ["ferry"], 0.25, 0.5)
    'weak match · by words (ferry)'
    >>> relevance(0.32, [], 0.0, 0.5)
    'weak match · no words in common'
    >>> relevance(None, list("abcdef"), 1.0, 0.5)
    'good match · by words (a, b, c, d, e, …)'
    """
    by_meaning = cosine is not None and cosine >= min_score
    strength = ("weak", "good", "strong")[by_meaning + (share >= min_coverage)]
    how = ["by meaning"] if by_meaning else []
    if words:
        shown = words[:MAX_WORDS_SHOWN] + (["…"] if len(words) > MAX_WORDS_SHOWN else [])
        how.append(f"by words ({', '.join(shown)})")
    if not how:
        how.append("no words in common")
    return f"{strength} match · {' and '.join(how)}"


def _query_words(query: str) -> list[tuple[str, str]]:
    """Return the query's content words (lower case, first of each stem) with their stems, in order."""
    from knowledge.keyword import terms

    seen: set[str] = set()
    words = []
    for word in re.findall(r"\w+", query.lower()):
        for stem in terms(word) - seen:
            seen.add(stem)
            words.append((word, stem))
    return words


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    r"""Collapse whitespace and cut at a word boundary near ``limit`` characters.

    >>> snippet("The   ferry\nleaves at nine.", 15)
    'The ferry…'
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"
