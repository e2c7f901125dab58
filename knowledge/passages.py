"""Passages from ranked chunks: neighbours joined into one.

Among the k places of a search, two chunks of the same passage — overlapping, or one directly
after the other in the same article — would say the same thing twice; :func:`group` puts them
in one place and :func:`joined` gives that place the file's own text across them. Both work on
the ranked chunks as the engine returned them, by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.documents import Document

MAX_GAP = 2
"""Characters between two chunks that still make them neighbours: a space, or a blank line between paragraphs."""


def group(chunks: Mapping[int, Document], ranked: list[int], k: int, chunk_size: int) -> list[list[int]]:
    """Group the ranked chunk keys into at most ``k`` passages, best first; neighbours share one place.

    A chunk that overlaps, directly follows or directly precedes one already taken (same file
    and article) joins it instead of taking a place of its own. A passage grows to twice the
    chunk size at most; rows after the ``k``-th passage are left out.
    """
    passages: list[list[int]] = []
    spans: list[tuple[str, object, int, int]] = []  # source, article, start, end of each passage
    limit = 2 * max(chunk_size, 1)
    for row in ranked:
        meta, length = chunks[row].metadata, len(chunks[row].page_content)
        start = int(meta.get("start_index") or 0)
        end = start + length
        for n, (source, article, first, last) in enumerate(spans):
            joins = source == meta.get("source") and article == meta.get("article")
            if (
                joins
                and start - last <= MAX_GAP
                and first - end <= MAX_GAP
                and max(end, last) - min(start, first) <= limit
            ):
                passages[n].append(row)
                spans[n] = (source, article, min(start, first), max(end, last))
                break
        else:
            if len(passages) == k:
                break
            passages.append([row])
            spans.append((meta.get("source"), meta.get("article"), start, end))
    return passages


def joined(chunks: Mapping[int, Document], rows: list[int]) -> Document:
    """Return one new document for neighbouring chunks: their text in file order, the first one's metadata widened.

    Overlapping text is kept once; between chunks that only touch, the one or two characters the
    splitter dropped are put back as a space (inside a paragraph) or a blank line (between two).
    """
    from langchain_core.documents import Document

    top = chunks[rows[0]]
    first = Document(page_content=top.page_content, metadata=dict(top.metadata), id=top.id)
    if len(rows) == 1:
        return first
    ordered = sorted(rows, key=lambda row: int(chunks[row].metadata.get("start_index") or 0))
    text, end = "", None
    for row in ordered:
        start, piece = int(chunks[row].metadata.get("start_index") or 0), chunks[row].page_content
        if end is None:
            text, end = piece, start + len(piece)
        elif start + len(piece) > end:
            gap = start - end
            text += (" " if gap == 1 else "\n\n" if gap > 1 else "") + piece[max(end - start, 0) :]
            end = start + len(piece)
    metas = [chunks[row].metadata for row in ordered]
    first.page_content = text
    first.metadata["start_index"] = metas[0].get("start_index")
    if all("line_start" in m and "line_end" in m for m in metas):
        first.metadata["line_start"] = min(m["line_start"] for m in metas)
        first.metadata["line_end"] = max(m["line_end"] for m in metas)
    first.metadata["chunks"] = len(rows)
    return first
