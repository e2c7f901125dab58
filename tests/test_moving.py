"""Moving a knowledge base to another engine: everything copied as it is, nothing embedded, never merged."""

from __future__ import annotations

import pytest

from agent.assistant import Assistant
from knowledge.errors import RagchatError
from knowledge.moving import copy_knowledge
from knowledge.sqlite_engine import SQLiteEngine
from tests.fake_ollama import FakeOllama
from tests.indexes import stored


def test_everything_is_copied_without_embedding(assistant: Assistant, fake_ollama: FakeOllama, tmp_path) -> None:
    assistant.forget(["notes/market.txt"])
    source = assistant.knowledge.engine
    source.refresh()
    target = SQLiteEngine(tmp_path / "elsewhere")
    calls = len(fake_ollama.calls("/api/embed"))
    seen: list[tuple[int, int]] = []
    assert copy_knowledge(source, target, lambda done, total: seen.append((done, total))) == 2
    assert seen[-1] == (2, 2) and len(fake_ollama.calls("/api/embed")) == calls
    assert target.files == source.files  # records with their indexing times
    assert target.forgotten == {"notes/market.txt"} and target.info.embedding == source.info.embedding
    assert target.calibration is not None
    assert (target.calibration.vectors == source.calibration.vectors).all()
    moved = {c.id: (c.page_content, c.metadata) for c in target.chunks(target.keys()).values()}
    assert moved == {c.id: (c.page_content, c.metadata) for c in stored(assistant.load_index())}
    query = source.vector_ranking(source._matrix.live()[0], 2, None)
    assert target.vector_ranking(source._matrix.live()[0], 2, None)[1].tolist() == query[1].tolist()


def test_a_target_that_holds_a_knowledge_base_is_refused(assistant: Assistant, tmp_path) -> None:
    target = SQLiteEngine(tmp_path / "elsewhere")
    copy_knowledge(assistant.knowledge.engine, target)
    with pytest.raises(RagchatError, match=r"already holds a knowledge base \(2 files\) — moving never merges two"):
        copy_knowledge(assistant.knowledge.engine, target)


def test_an_empty_source_is_refused(tmp_path) -> None:
    with pytest.raises(RagchatError, match="There is nothing to move"):
        copy_knowledge(SQLiteEngine(tmp_path / "a"), SQLiteEngine(tmp_path / "b"))


def test_a_knowledge_base_moves_back_from_postgres(assistant: Assistant, postgres_url: str, tmp_path) -> None:
    from knowledge.postgres_engine import PostgresEngine

    shared = PostgresEngine(postgres_url)
    try:
        copy_knowledge(assistant.knowledge.engine, shared)
        back = SQLiteEngine(tmp_path / "back")
        assert copy_knowledge(shared, back) == 4
        assert back.files == assistant.knowledge.engine.files
        query = assistant.knowledge.engine._matrix.live()[0]
        assert back.vector_ranking(query, 3, None)[1] == pytest.approx(
            assistant.knowledge.engine.vector_ranking(query, 3, None)[1], abs=1e-6
        )  # the very vectors, through pgvector and back
    finally:
        shared.close()
