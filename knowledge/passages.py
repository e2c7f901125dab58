"""Passages from ranked chunks: neighbours joined into one, and how files begin.

Among the k places of a search, two chunks of the same passage — overlapping, or one directly
after the other in the same article — would say the same thing twice; :func:`group` puts them
in one place and :func:`joined` gives that place the file's own text across them. For a
question about the documents themselves, :func:`openings` gives the first chunk of each file
(or of each article).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from knowledge.store import MatrixStore

MAX_GAP = 2
"""Characters between two chunks that still make them neighbours: a space, or a blank line between paragraphs."""


def group(store: MatrixStore, ranked: list[int], k: int, chunk_size: int) -> list[list[int]]:
    """Group the ranked rows into at most ``k`` passages, best first; neighbours share one place.

    A chunk that overlaps, directly follows or directly precedes one already taken (same file
    and article) joins it instead of taking a place of its own. A passage grows to twice the
    chunk size at most; rows after the ``k``-th passage are left out.
    """
    passages: list[list[int]] = []
    spans: list[tuple[str, object, int, int]] = []  # source, article, start, end of each passage
    limit = 2 * max(chunk_size, 1)
    for row in ranked:
        meta, length = store.metadatas[row], len(store.texts[row])
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


def joined(store: MatrixStore, rows: list[int]) -> Document:
    """Return one document for neighbouring rows: their text in file order, the first row's metadata widened.

    Overlapping text is kept once; between chunks that only touch, the one or two characters the
    splitter dropped are put back as a space (inside a paragraph) or a blank line (between two).
    """
    first = store.document(rows[0])
    if len(rows) == 1:
        return first
    ordered = sorted(rows, key=lambda row: int(store.metadatas[row].get("start_index") or 0))
    text, end = "", None
    for row in ordered:
        start, piece = int(store.metadatas[row].get("start_index") or 0), store.texts[row]
        if end is None:
            text, end = piece, start + len(piece)
        elif start + len(piece) > end:
            gap = start - end
            text += (" " if gap == 1 else "\n\n" if gap > 1 else "") + piece[max(end - start, 0) :]
            end = start + len(piece)
    metas = [store.metadatas[row] for row in ordered]
    first.page_content = text
    first.metadata["start_index"] = metas[0].get("start_index")
    if all("line_start" in m and "line_end" in m for m in metas):
        first.metadata["line_start"] = min(m["line_start"] for m in metas)
        first.metadata["line_end"] = max(m["line_end"] for m in metas)
    first.metadata["chunks"] = len(rows)
    return first


def openings(store: MatrixStore, sources: Collection[str] | None, limit: int, articles: bool = False) -> list[Document]:
    """Return how files begin: the first chunk of every file (of ``sources`` when given), or of every article.

    In source and then file order, at most ``limit``; what an overview of the documents is written from.
    """
    wanted = None if sources is None else set(sources)
    first: dict[tuple[str, object], tuple[int, int]] = {}
    for row, meta in enumerate(store.metadatas):
        source = meta.get("source", "")
        if wanted is not None and source not in wanted:
            continue
        key = (source, meta.get("article") if articles else None)
        start = int(meta.get("start_index") or 0)
        if key not in first or start < first[key][0]:
            first[key] = (start, row)
    ordered = sorted(first.items(), key=lambda item: (item[0][0], item[1][0]))
    return [store.document(row) for _, (_, row) in ordered[:limit]]
