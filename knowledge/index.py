"""Embed chunks into a vector store, save it atomically, load it back, and search it.

The store is LangChain's ``InMemoryVectorStore``. On disk an index is one JSON file
holding :class:`IndexInfo` (which embedding model made the vectors, their dimension, how
the text was split) beside the store's records. Saving writes a temporary file and
renames it over the old one, so a crash mid-save leaves the previous index intact.

What it does not do yet: incremental updates (every ingest re-embeds everything) and
keyword search.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore

from knowledge.errors import RagchatError
from knowledge.loader import LoadReport, load_folder
from knowledge.splitter import split_documents

FORMAT_VERSION = 1
BATCH_SIZE = 64
Progress = Callable[[int, int], None]
"""Called as ``progress(chunks_done, chunks_total)`` while embedding."""


@dataclass
class IndexInfo:
    """What an index was built from and with; saved beside the vectors."""

    embedding: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    folder: str = ""
    files: list[str] = field(default_factory=list)
    chunks: int = 0
    built_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class KnowledgeIndex:
    """A vector store plus the facts needed to trust it after a restart."""

    def __init__(self, store: InMemoryVectorStore, info: IndexInfo) -> None:
        """Wrap an already-filled ``store`` described by ``info``."""
        self.store = store
        self.info = info

    @classmethod
    def build(
        cls,
        chunks: list[Document],
        embeddings: Embeddings,
        info: IndexInfo,
        progress: Progress | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> KnowledgeIndex:
        """Embed ``chunks`` in batches (one embedding request per batch) into a new index."""
        store = InMemoryVectorStore(embeddings)
        total = len(chunks)
        if progress:
            progress(0, total)
        for start in range(0, total, batch_size):
            batch = chunks[start : start + batch_size]
            store.add_documents(batch, ids=[f"chunk-{start + i}" for i in range(len(batch))])
            if progress:
                progress(start + len(batch), total)
        dimensions = {len(record["vector"]) for record in store.store.values()}
        if len(dimensions) > 1:
            raise RagchatError(f"The embedding model returned vectors of mixed sizes {sorted(dimensions)}.")
        info.dimension = dimensions.pop() if dimensions else 0
        info.chunks = total
        return cls(store, info)

    def save(self, path: str | Path) -> None:
        """Write the index to ``path`` atomically (temporary file, then rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        payload = {"format": FORMAT_VERSION, "info": asdict(self.info), "records": self.store.store}
        fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(payload, f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, embeddings: Embeddings, embedding: str) -> KnowledgeIndex | None:
        """Load the index at ``path``, or return ``None`` when there is none yet.

        Raises:
            RagchatError: if the file is damaged or was built with another embedding model.
        """
        source = Path(path)
        if not source.exists():
            return None
        try:
            payload = json.loads(source.read_text(encoding="utf-8"))
            info = IndexInfo(**payload["info"])
            records = payload["records"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RagchatError(
                f"The index at {source} is damaged ({type(exc).__name__}) — rebuild it with `ragchat ingest`."
            ) from exc
        if payload.get("format") != FORMAT_VERSION:
            raise RagchatError(
                f"The index at {source} has format {payload.get('format')}, this ragchat reads "
                f"{FORMAT_VERSION} — rebuild it with `ragchat ingest`."
            )
        if info.embedding != embedding:
            raise RagchatError(
                f"The index was built with {info.embedding} ({info.dimension}-d) but ragchat is set to "
                f"{embedding} — rebuild it with `ragchat ingest`, or switch the embedding setting back."
            )
        store = InMemoryVectorStore(embeddings)
        store.store = records  # the same assignment InMemoryVectorStore.load makes
        return cls(store, info)

    def search(self, query: str, k: int = 4) -> list[tuple[Document, float]]:
        """Return the ``k`` chunks most similar to ``query`` with their cosine scores."""
        if not self.store.store:
            return []
        return self.store.similarity_search_with_score(query, k=k)


def ingest_folder(
    folder: str | Path,
    embeddings: Embeddings,
    embedding: str,
    chunk_size: int = 500,
    chunk_overlap: int = 50,
    progress: Progress | None = None,
) -> tuple[KnowledgeIndex, LoadReport]:
    """Load, split and embed every readable document under ``folder`` into a new index.

    Raises:
        RagchatError: if the folder is missing or holds no readable document.
    """
    report = load_folder(folder)
    if not report.documents:
        skipped = f" (skipped: {', '.join(name for name, _ in report.skipped)})" if report.skipped else ""
        raise RagchatError(
            f"No readable .txt or .md documents in {folder}{skipped} — add some files and run `ragchat ingest` again."
        )
    chunks = split_documents(report.documents, chunk_size, chunk_overlap)
    info = IndexInfo(
        embedding=embedding,
        dimension=0,
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        folder=str(folder),
        files=report.files,
    )
    return KnowledgeIndex.build(chunks, embeddings, info, progress), report
