"""Keyword ranking in memory: BM25 over the postings of the words asked for, kept in step with the database.

FTS5 can rank by BM25 on its own, but it walks the whole doclist of every query word and
calls ``bm25()`` for every chunk holding one: 44 ms for a four-word question at 100k
chunks, where the in-memory index ragchat had before the database took 2 ms. So the
embedded engine asks FTS5 only for a word's postings (which chunks hold it, how often),
the first time the word is searched for, and keeps them as two numpy arrays. Chunks loaded
later add their counts to the words held, so a word's postings always cover every chunk
up to :attr:`Postings.upto`; removed chunks drop out through the vector matrix, which knows
which rows are alive and how long each chunk is. Ranking a question is then a few array
operations, and scores are FTS5's own (:func:`knowledge.keyword.bm25`).

The words held are bounded (:data:`BUDGET` postings together); the least recently asked
for go first.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Collection, Iterable

import numpy as np

from knowledge.keyword import BM25_B, BM25_K1, bm25_weight
from knowledge.matrix import VectorMatrix

BUDGET = 4_000_000
"""Postings held in memory at most (12 bytes each: ~48 MB); a 100k-chunk index holds ~6M in all."""

Fetch = Callable[[str, int], tuple[np.ndarray, np.ndarray]]
"""Reads a word's postings from the database: ``(word, upto) -> (keys ascending, counts)``, keys up to ``upto``."""


class Postings:
    """The postings of the words searched for lately, each covering every chunk key up to :attr:`upto`."""

    def __init__(self, budget: int = BUDGET) -> None:
        """Hold nothing yet; ``budget`` bounds the postings held together."""
        self.budget = budget
        self.upto = 0
        self._held: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._size = 0

    def __contains__(self, word: str) -> bool:
        return word in self._held

    def clear(self) -> None:
        """Forget every word (the chunks were replaced wholesale)."""
        self._held.clear()
        self._size, self.upto = 0, 0

    def of(self, word: str, fetch: Fetch) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(keys, counts)`` of the chunks holding ``word``, read by ``fetch`` unless held."""
        held = self._held.get(word)
        if held is not None:
            self._held.move_to_end(word)
            return held
        keys, counts = fetch(word, self.upto)
        self._held[word] = (keys, counts)
        self._size += max(1, len(keys))
        while self._size > self.budget and len(self._held) > 1:
            _, (old, _) = self._held.popitem(last=False)
            self._size -= max(1, len(old))
        return keys, counts

    def extend(self, chunks: Iterable[tuple[int, str]], upto: int) -> None:
        """Add new chunks (``(key, stems joined by spaces)``, keys ascending, above :attr:`upto`) to the words held."""
        if self._held:
            found: dict[str, list[tuple[int, int]]] = {}
            for key, words in chunks:
                for word, count in Counter(words.split()).items():
                    if word in self._held:
                        found.setdefault(word, []).append((key, count))
            for word, more in found.items():
                keys, counts = self._held[word]
                added = np.array(more, dtype=np.int64)
                self._held[word] = (np.concatenate([keys, added[:, 0]]), np.concatenate([counts, added[:, 1]]))
                self._size += len(more)
        self.upto = max(self.upto, upto)


def rank(
    postings: Iterable[tuple[np.ndarray, np.ndarray]], matrix: VectorMatrix, depth: int, files: Collection[int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(keys, scores)`` of the ``depth`` chunks (of ``files`` when given) best by BM25, best first.

    ``postings`` are the query words' ``(keys, counts)``; chunks the matrix does not hold are
    left out, and a word's rarity is counted over the chunks it does hold. Ties go to the
    earlier chunk.
    """
    chunks = len(matrix)
    average = matrix.words / chunks if chunks else 0.0
    rows_parts, score_parts = [], []
    for keys, counts in postings:
        rows = matrix.rows_of(keys)
        held = rows >= 0
        rows, found = rows[held], counts[held].astype(np.float64)
        if not len(rows):
            continue
        lengths = matrix.lengths_of(rows)
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / average) if average else np.full(len(rows), BM25_K1)
        rows_parts.append(rows)
        score_parts.append(bm25_weight(chunks, len(rows)) * found * (BM25_K1 + 1) / (found + norm))
    if not rows_parts or depth <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores = np.bincount(np.concatenate(rows_parts), np.concatenate(score_parts), minlength=matrix.count)
    candidates = np.flatnonzero(scores)
    if files is not None:
        candidates = candidates[np.isin(matrix.files_of(candidates), np.fromiter(files, dtype=np.int64))]
    if len(candidates) > depth:  # the best ``depth`` first, ties at the edge included, then sorted
        edge = np.partition(scores[candidates], len(candidates) - depth)[len(candidates) - depth]
        candidates = candidates[scores[candidates] >= edge]
    order = np.lexsort((candidates, -scores[candidates]))[:depth]
    best = candidates[order]
    return matrix.keys_of(best), scores[best].astype(np.float32)
