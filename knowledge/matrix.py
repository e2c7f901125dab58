"""The vectors of a database-backed index, held in memory for exact search.

The database (:mod:`knowledge.sqlite_engine`) is where chunks live; this is a copy of
their vectors as one contiguous float32 matrix, so a query is one matrix-vector product
and a partial sort, as the design card asks. It is kept in step with the database row by
row: new chunks are appended, removed ones are masked at once and squeezed out when they
make up a quarter of the matrix (compaction costs one copy of the live rows).

Each row carries the chunk's database key and its file's key, so a search can be limited
to some files by a comparison on one small integer column, and its length in words, which
keyword ranking (:mod:`knowledge.postings`) needs for BM25. Keys only grow, so rows stay in
key order and a chunk's row is found by a binary search over the keys.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from knowledge.store import normalise, top_rows

COMPACT_AT = 0.25
"""Share of masked rows at which the matrix is compacted."""


class VectorMatrix:
    """Unit float32 rows keyed by chunk, each tagged with its file; rows can be appended and removed."""

    def __init__(self, dimension: int = 0) -> None:
        """Start empty; ``dimension`` is set by the first rows when 0."""
        self.dimension = dimension
        self._matrix = np.zeros((0, dimension), dtype=np.float32)
        self._keys = np.zeros(0, dtype=np.int64)
        self._files = np.zeros(0, dtype=np.int64)
        self._lengths = np.zeros(0, dtype=np.int32)
        self._alive = np.zeros(0, dtype=bool)
        self._count = 0  # rows used, alive or not
        self._words = 0  # the live rows' lengths together
        self._row_of: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def last_key(self) -> int:
        """The highest chunk key held (keys only grow), 0 when empty."""
        return int(self._keys[: self._count].max()) if self._count else 0

    @property
    def words(self) -> int:
        """How many words the chunks held have together (their lengths' sum)."""
        return self._words

    def keys(self) -> set[int]:
        """The keys of the chunks held."""
        return set(self._row_of)

    def reserve(self, more: int) -> None:
        """Make room for ``more`` rows, and some to spare: an eighth on first load, else a quarter (few copies).

        The spare room lets the changes after opening append without copying the whole matrix.
        """
        rows = self._count + more
        if rows > len(self._matrix) and self.dimension:
            rows = rows + rows // 8 if not self._count else max(rows, len(self._matrix) + len(self._matrix) // 4)
            self._matrix = _grown(self._matrix, rows, self._count)
            self._keys, self._files, self._lengths, self._alive = (
                _grown(a, rows, self._count) for a in (self._keys, self._files, self._lengths, self._alive)
            )

    def append(
        self, keys: np.ndarray, files: np.ndarray, vectors: np.ndarray, lengths: np.ndarray | None = None
    ) -> None:
        """Add rows (vectors are normalised here); keys must be new and above every key held."""
        if not len(keys):
            return
        if self._count and int(keys[0]) <= int(self._keys[self._count - 1]) or np.any(np.diff(keys) <= 0):
            raise ValueError("Chunk keys must be appended in increasing order, above the keys held.")
        rows = normalise(vectors)
        if not self.dimension or not self._count:
            self.dimension = rows.shape[1]
            if self._matrix.shape[1] != self.dimension:
                self._matrix = np.zeros((0, self.dimension), dtype=np.float32)
        if rows.shape[1] != self.dimension:
            raise ValueError(f"Vectors have dimension {rows.shape[1]}, the index holds {self.dimension}.")
        need = self._count + len(rows)
        if need > len(self._matrix):  # grow by doubling: appending is amortised O(1) per row
            size = max(need, 2 * len(self._matrix), 64)
            self._matrix = _grown(self._matrix, size, self._count)
            self._keys, self._files, self._lengths, self._alive = (
                _grown(a, size, self._count) for a in (self._keys, self._files, self._lengths, self._alive)
            )
        end = self._count + len(rows)
        self._matrix[self._count : end] = rows
        self._keys[self._count : end] = keys
        self._files[self._count : end] = files
        self._lengths[self._count : end] = 0 if lengths is None else lengths
        self._words += 0 if lengths is None else int(np.sum(lengths))
        self._alive[self._count : end] = True
        self._row_of.update((int(key), row) for row, key in enumerate(keys.tolist(), start=self._count))
        self._count = end

    def remove(self, keys: Collection[int]) -> None:
        """Mask the rows of ``keys`` (unknown keys are ignored); compact when enough are masked."""
        for key in keys:
            row = self._row_of.pop(int(key), None)
            if row is not None:
                self._alive[row] = False
                self._words -= int(self._lengths[row])
        if self._count and self._count - len(self._row_of) >= COMPACT_AT * self._count:
            self._compact()

    def remove_files(self, files: Collection[int]) -> None:
        """Mask every row of these files (a file's chunks go together); compact when enough are masked."""
        if not files or not self._count:
            return
        hit = np.flatnonzero(self._alive[: self._count] & np.isin(self._files[: self._count], list(files)))
        self.remove(self._keys[hit].tolist())

    def search(
        self, vector: np.ndarray, depth: int, files: Collection[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(keys, cosines)`` of the ``depth`` nearest chunks (of ``files`` when given), best first."""
        if not len(self._row_of) or depth <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self.cosines(vector)
        allowed = self._alive[: self._count]
        if files is not None:
            allowed = allowed & np.isin(self._files[: self._count], np.fromiter(files, dtype=np.int64))
        if not allowed.all():
            scores = np.where(allowed, scores, -np.inf)
        rows = top_rows(scores, min(depth, int(allowed.sum())))
        return self._keys[rows], scores[rows]

    def rows_of(self, keys: np.ndarray) -> np.ndarray:
        """Return the row of each key (ascending keys), -1 where the chunk is not held."""
        used = self._keys[: self._count]
        rows = np.searchsorted(used, keys)
        rows[rows >= self._count] = 0
        held = (used[rows] == keys) & self._alive[rows] if self._count else np.zeros(len(keys), dtype=bool)
        return np.where(held, rows, -1)

    @property
    def count(self) -> int:
        """Rows used, masked ones included (the length of :meth:`cosines` and of the row arrays)."""
        return self._count

    def files_of(self, rows: np.ndarray) -> np.ndarray:
        """Return the file key of each row."""
        return self._files[rows]

    def lengths_of(self, rows: np.ndarray) -> np.ndarray:
        """Return the length in words of each row's chunk."""
        return self._lengths[rows]

    def keys_of(self, rows: np.ndarray) -> np.ndarray:
        """Return the chunk key of each row."""
        return self._keys[rows]

    def cosines(self, vector: np.ndarray) -> np.ndarray:
        """Return the cosine of ``vector`` with every row used (masked rows included: callers mask them)."""
        query = normalise(np.asarray(vector, dtype=np.float32))[0]
        return self._matrix[: self._count] @ query

    def cosines_of(self, vector: np.ndarray, keys: Collection[int]) -> dict[int, float]:
        """Return the cosine of ``vector`` with each chunk of ``keys`` that is held."""
        query = normalise(np.asarray(vector, dtype=np.float32))[0]
        rows = {key: self._row_of[key] for key in keys if key in self._row_of}
        if not rows:
            return {}
        values = self._matrix[list(rows.values())] @ query
        return dict(zip(rows, values.tolist(), strict=True))

    def live(self) -> np.ndarray:
        """Return the live rows (a copy when some are masked)."""
        used = self._matrix[: self._count]
        return used if len(self._row_of) == self._count else used[self._alive[: self._count]]

    def _compact(self) -> None:
        keep = np.flatnonzero(self._alive[: self._count])
        self._matrix = np.ascontiguousarray(self._matrix[keep])
        self._keys, self._files, self._lengths = self._keys[keep], self._files[keep], self._lengths[keep]
        self._alive = np.ones(len(keep), dtype=bool)
        self._count = len(keep)
        self._row_of = {int(key): row for row, key in enumerate(self._keys.tolist())}


def _grown(array: np.ndarray, size: int, used: int) -> np.ndarray:
    grown = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    grown[:used] = array[:used]
    return grown
