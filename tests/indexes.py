"""Indexes made directly for tests: a knowledge index over a fresh engine, filled from plain texts."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from knowledge.engine import Engine, FileChunks, FileRecord, IndexInfo
from knowledge.index import KnowledgeIndex
from knowledge.ingest import chunk_id
from knowledge.sqlite_engine import SQLiteEngine


def open_index(where: Path | Engine, embeddings: Embeddings | None, info: IndexInfo | None = None) -> KnowledgeIndex:
    """Return a knowledge index over ``where``: an engine, or a folder for a new SQLite database."""
    engine = SQLiteEngine(where) if isinstance(where, Path) else where
    engine.start(info or IndexInfo("fake"))
    engine.refresh()
    return KnowledgeIndex(engine, embeddings)


def add_texts(index: KnowledgeIndex, embeddings: Embeddings, texts: list[str], metadatas: list[dict[str, Any]]) -> None:
    """Store each text as a chunk of the file its metadata names (one commit for all), embedded by ``embeddings``."""
    by_source: dict[str, list[Document]] = defaultdict(list)
    for text, meta in zip(texts, metadatas, strict=True):
        chunk = Document(page_content=text, metadata={"start_index": 0, **meta})
        chunk.id = chunk_id(chunk)
        by_source[meta["source"]].append(chunk)
    items = []
    for source, chunks in by_source.items():
        vectors = np.asarray(embeddings.embed_documents([c.page_content for c in chunks]), dtype=np.float32)
        items.append(FileChunks(FileRecord(source, f"/nowhere/{source}", "0" * 64, 1, 1, len(chunks)), chunks, vectors))
    index.engine.commit(add=items)
    index.engine.refresh()


def stored(index: KnowledgeIndex) -> list[Document]:
    """Every chunk the index holds, in the order they were stored."""
    keys = index.engine.keys()
    chunks = index.engine.chunks(keys)
    return [chunks[key] for key in keys]
