"""A vector store that keeps every vector in one contiguous float32 matrix.

Vectors are L2-normalised once, when added, so a query is one matrix-vector product
(cosine similarity) plus a partial sort: no per-query conversion of Python lists, which
is what makes LangChain's ``InMemoryVectorStore`` slow past a few thousand chunks.
Rows are kept in insertion order; adding an existing id replaces that row in place.
The matrix grows by doubling, so adding is amortised O(1) per row.

What it does not do: approximate search (exact search at 100k x 768 takes a few
milliseconds), or persistence on its own terms — ``save``/``load`` write and read a
folder that :mod:`knowledge.index` makes atomic.

:class:`MatrixStore` is plain on purpose: LangChain's ``VectorStore`` base class imports its
tracing stack (about a second), which `ragchat sources` and keyword search do not need.
:class:`knowledge.vectorstore.MatrixVectorStore` adds LangChain's interface on top.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from langchain_core.documents import Document

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

VECTORS_FILE = "vectors.npy"
RECORDS_FILE = "records.json"
UNIT_TOLERANCE = 1e-3
"""How far a saved row's squared length may be from 1 (float32 rounding gives ~1e-6)."""


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Return float32 rows scaled to unit length (zero rows stay zero).

    Input that must be converted anyway (lists, other dtypes) is scaled in place after
    conversion; a float32 array from the caller is copied first, never changed.
    """
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    if matrix is vectors or (matrix.base is not None and matrix.base is vectors):
        matrix = matrix.copy()  # never scale the caller's own array
    matrix /= norms
    return matrix


def _interned(metadata: dict[str, Any]) -> dict[str, Any]:
    # Every chunk of a file repeats its source and title; sharing one string object per
    # value instead of one per chunk saves ~10% of a loaded index's memory.
    return {key: sys.intern(value) if isinstance(value, str) and len(value) < 256 else value
            for key, value in metadata.items()}  # fmt: skip


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the indices of the ``k`` highest scores, best first (ties by row order)."""
    if k <= 0 or scores.size == 0:
        return np.empty(0, dtype=np.int64)
    if k < scores.size:
        candidates = np.argpartition(-scores, k - 1)[:k]
    else:
        candidates = np.arange(scores.size)
    return candidates[np.lexsort((candidates, -scores[candidates]))]


class MatrixStore:
    """Exact cosine search over a contiguous, normalised float32 matrix."""

    def __init__(
        self, embedding: Embeddings | Callable[[], Embeddings] | None = None, dimension: int | None = None
    ) -> None:
        """Create an empty store; ``dimension`` is fixed by the first vectors added if not given.

        ``embedding`` may be a function that makes the model: it is called when something is
        first embedded, so a store searched only by keyword never loads an embedding client.
        """
        self._embedding = embedding
        self.dimension = dimension
        self._matrix = np.zeros((0, dimension or 0), dtype=np.float32)
        self._count = 0
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.metadatas: list[dict[str, Any]] = []
        self._rows: dict[str, int] = {}
        self.version = 0
        """Bumped on every change, so callers can cache things derived from the rows."""

    @property
    def embedding(self) -> Embeddings | None:
        """The embedding model used for texts and queries (made now if it was deferred)."""
        if self._embedding is not None and not hasattr(self._embedding, "embed_query"):
            self._embedding = self._embedding()
        return self._embedding

    @property
    def embeddings(self) -> Embeddings | None:
        """The embedding model, under the name LangChain's vector stores use."""
        return self.embedding

    def __len__(self) -> int:
        return self._count

    @property
    def vectors(self) -> np.ndarray:
        """The normalised vectors, one row per chunk (a view, do not modify)."""
        return self._matrix[: self._count]

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed ``texts`` in one call and add (or replace, by id) them."""
        texts = list(texts)
        if not texts:
            return []
        if self.embedding is None:
            raise ValueError("The store needs an embedding model to add texts.")
        vectors = self.embedding.embed_documents(texts)
        return self.add_vectors(vectors, texts, metadatas, ids)

    def add_vectors(
        self,
        vectors: Sequence[Sequence[float]] | np.ndarray,
        texts: Sequence[str],
        metadatas: Sequence[dict] | None = None,
        ids: Sequence[str | None] | None = None,
    ) -> list[str]:
        """Add precomputed vectors; an id already present has its row replaced."""
        matrix = normalise(vectors) if len(texts) else np.zeros((0, 0), np.float32)
        if len(matrix) != len(texts):
            raise ValueError(f"Got {len(matrix)} vectors for {len(texts)} texts.")
        if self.dimension is None or (self._count == 0 and self._matrix.shape[1] == 0):
            self.dimension = matrix.shape[1]
            self._matrix = np.zeros((0, self.dimension), dtype=np.float32)
        if matrix.shape[1] != self.dimension:
            raise ValueError(f"Vectors have dimension {matrix.shape[1]}, the store holds {self.dimension}.")
        metadatas = list(metadatas) if metadatas is not None else [{} for _ in texts]
        ids = [i or str(uuid.uuid4()) for i in ids] if ids is not None else [str(uuid.uuid4()) for _ in texts]
        if len(metadatas) != len(texts) or len(ids) != len(texts):
            raise ValueError("texts, metadatas and ids must have the same length.")
        self._reserve(self._count + len(ids))  # one allocation for the batch, not doubling per row
        for vector, text, metadata, id_ in zip(matrix, texts, metadatas, ids, strict=True):
            row = self._rows.get(id_)
            if row is None:
                row = self._append_row()
                self._rows[id_] = row
                self.ids.append(id_)
                self.texts.append(text)
                self.metadatas.append(dict(metadata))
            else:
                self.texts[row] = text
                self.metadatas[row] = dict(metadata)
            self._matrix[row] = vector
        self.version += 1
        return list(ids)

    def keep_rows(self, keep: np.ndarray) -> None:
        """Keep only the rows where ``keep`` is true, compacting the matrix in order."""
        rows = np.flatnonzero(keep)
        self._matrix = np.ascontiguousarray(self._matrix[rows])
        self._count = len(rows)
        self.ids = [self.ids[r] for r in rows]
        self.texts = [self.texts[r] for r in rows]
        self.metadatas = [self.metadatas[r] for r in rows]
        self._rows = {id_: n for n, id_ in enumerate(self.ids)}
        self.version += 1

    def document(self, row: int) -> Document:
        """Return row ``row`` as a new Document (callers may change it freely)."""
        return Document(page_content=self.texts[row], metadata=dict(self.metadatas[row]), id=self.ids[row])

    def search_vector(
        self, embedding: Sequence[float] | np.ndarray, k: int = 4, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(rows, cosine scores)`` of the ``k`` nearest rows, optionally only where ``mask``."""
        if self._count == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        scores = self.vectors @ normalise(np.asarray(embedding, dtype=np.float32))[0]
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
            k = min(k, int(mask.sum()))
        rows = top_rows(scores, k)
        return rows, scores[rows]

    def embed_query(self, query: str) -> list[float]:
        """Embed a search query with the store's model."""
        if self.embedding is None:
            raise ValueError("The store needs an embedding model to search by text.")
        return self.embedding.embed_query(query)

    # -- persistence --------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        """Write ``vectors.npy`` and ``records.json`` into ``folder`` (which must exist)."""
        folder = Path(folder)
        np.save(folder / VECTORS_FILE, self.vectors, allow_pickle=False)
        records = {"ids": self.ids, "texts": self.texts, "metadatas": self.metadatas, "dimension": self.dimension}
        (folder / RECORDS_FILE).write_bytes(orjson.dumps(records))

    @classmethod
    def load(cls, folder: str | Path, embedding: Embeddings | Callable[[], Embeddings] | None = None) -> MatrixStore:
        """Read a store written by :meth:`save`, checking that it is whole.

        Raises:
            ValueError: (or another read error) if the files do not hold one consistent
                store: records of the wrong types or lengths, repeated ids, vectors of
                another shape or type than the records say, or vectors that are not
                finite unit rows.
        """
        folder = Path(folder)
        records = _Records.read(folder / RECORDS_FILE)
        matrix = read_matrix(folder / VECTORS_FILE)
        _check(records, matrix)
        store = cls(embedding, records.dimension)
        store._matrix = np.ascontiguousarray(matrix)
        store._count = len(matrix)
        store.ids, store.texts = records.ids, records.texts
        store.metadatas = [_interned(m) for m in records.metadatas]
        store._rows = {id_: n for n, id_ in enumerate(store.ids)}
        return store

    # -- internals ----------------------------------------------------------------------
    def _reserve(self, rows: int) -> None:
        if rows > len(self._matrix):
            grown = np.zeros((max(rows, 16), self.dimension), dtype=np.float32)
            grown[: self._count] = self._matrix[: self._count]
            self._matrix = grown

    def _append_row(self) -> int:
        if self._count == len(self._matrix):
            self._reserve(2 * len(self._matrix))
        self._count += 1
        return self._count - 1


@dataclass
class _Records:
    """What ``records.json`` holds: one id, text and metadata per row, and the vectors' width."""

    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    dimension: int | None

    @classmethod
    def read(cls, path: Path) -> _Records:
        # Checked by hand rather than by a pydantic model: at 100k chunks this is 0.02 s, a model 0.15 s.
        data = orjson.loads(path.read_bytes())
        if not isinstance(data, dict) or set(data) != {"ids", "texts", "metadatas", "dimension"}:
            raise ValueError(f"{RECORDS_FILE} does not hold ids, texts, metadatas and dimension")
        for name, kind in (("ids", str), ("texts", str), ("metadatas", dict)):
            values = data[name]
            if type(values) is not list or not all(type(value) is kind for value in values):
                raise ValueError(f"{RECORDS_FILE} {name} are not all {'text' if kind is str else 'objects'}")
        if data["dimension"] is not None and type(data["dimension"]) is not int:
            raise ValueError(f"{RECORDS_FILE} dimension is not a whole number")
        return cls(data["ids"], data["texts"], data["metadatas"], data["dimension"])


_HEADER = re.compile(r"\{'descr': '(<f4)', 'fortran_order': False, 'shape': \((\d+), (\d+)\), \}\s*")


def read_matrix(path: Path) -> np.ndarray:
    """Read the float32 matrix :meth:`MatrixStore.save` wrote, without ``np.load``.

    ``np.load`` parses the file's header with ``ast``, whose state CPython 3.11 shares between
    threads: a parse elsewhere (LangChain inspecting a function) can make it fail with a
    SystemError. The header ``np.save`` writes for a C-ordered float32 matrix is matched instead.
    """
    with path.open("rb") as file:
        major, _ = np.lib.format.read_magic(file)
        size = int.from_bytes(file.read(2 if major == 1 else 4), "little")
        header = _HEADER.fullmatch(file.read(size).decode("latin-1"))
        if header is None:
            raise ValueError(f"{path.name} does not hold a float32 matrix")
        rows, width = int(header[2]), int(header[3])
        matrix = np.fromfile(file, dtype="<f4", count=rows * width)
    if matrix.size != rows * width:
        raise ValueError(f"{path.name} is cut short: {matrix.size} values of {rows * width}")
    return matrix.reshape(rows, width)


def _check(records: _Records, matrix: np.ndarray) -> None:
    rows = len(records.ids)
    if len(records.texts) != rows or len(records.metadatas) != rows:
        raise ValueError(f"{RECORDS_FILE} holds {rows} ids, {len(records.texts)} texts and "
                         f"{len(records.metadatas)} metadata entries")  # fmt: skip
    if len(set(records.ids)) != rows:
        raise ValueError(f"{RECORDS_FILE} repeats chunk ids")
    if matrix.dtype != np.float32 or matrix.ndim != 2:
        raise ValueError(f"{VECTORS_FILE} holds {matrix.ndim}-d {matrix.dtype} data, not a float32 matrix")
    if len(matrix) != rows:
        raise ValueError(f"{VECTORS_FILE} holds {len(matrix)} vectors for {rows} chunks")
    if rows and matrix.shape[1] != records.dimension:
        raise ValueError(f"{VECTORS_FILE} holds {matrix.shape[1]}-d vectors, {RECORDS_FILE} says {records.dimension}")
    squared = np.einsum("ij,ij->i", matrix, matrix)  # one pass: a NaN or infinity anywhere in a row shows here
    if not np.isfinite(squared).all():
        raise ValueError(f"{VECTORS_FILE} holds values that are not finite numbers")
    if ((np.abs(squared - 1) > UNIT_TOLERANCE) & (squared != 0)).any():
        raise ValueError(f"{VECTORS_FILE} holds vectors that are not normalised")
