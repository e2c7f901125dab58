import json
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.errors import RagchatError
from knowledge.index import KnowledgeIndex
from tests.fake_ollama import FakeOllama


def test_saved_index_loads_without_embedding_again(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    before = len(fake_ollama.calls("/api/embed"))
    reopened = Assistant(assistant.settings)
    index = reopened.load_index()
    assert index.info.chunks == assistant.load_index().info.chunks
    assert index.info.files == ["harbour.md", "notes/market.txt"]
    assert index.info.embedding == "ollama/nomic-embed-text"
    assert index.info.dimension == 768
    assert len(fake_ollama.calls("/api/embed")) == before


def test_ingest_embeds_in_batches_and_reports_progress(settings: Settings, fake_ollama: FakeOllama) -> None:
    seen: list[tuple[int, int]] = []
    result = Assistant(settings).ingest(progress=lambda done, total: seen.append((done, total)))
    chunks = result.index.info.chunks
    assert seen[0] == (0, chunks) and seen[-1] == (chunks, chunks)
    assert len(fake_ollama.calls("/api/embed")) == 1  # a handful of chunks is one batch


def test_opening_with_another_embedder_names_both_and_how_to_rebuild(assistant: Assistant) -> None:
    other = Settings(**{**assistant.settings.model_dump(), "embedding_model": "mxbai-embed-large"})
    with pytest.raises(RagchatError) as error:
        Assistant(other).load_index()
    message = str(error.value)
    assert "ollama/nomic-embed-text (768-d)" in message
    assert "ollama/mxbai-embed-large" in message
    assert "ragchat ingest" in message


def test_damaged_index_file_is_a_clear_error_and_is_kept(settings: Settings) -> None:
    settings.index_path.parent.mkdir(parents=True)
    settings.index_path.write_text('{"format": 1, "info": {"embed')
    with pytest.raises(RagchatError, match="is damaged .* rebuild it with `ragchat ingest`"):
        Assistant(settings).load_index()
    assert settings.index_path.read_text() == '{"format": 1, "info": {"embed'


def test_failed_ingest_keeps_the_previous_index(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    path = assistant.settings.index_path
    saved = path.read_bytes()
    fake_ollama.fail("/api/embed", 500, "out of memory")
    with pytest.raises(RagchatError, match="out of memory"):
        assistant.ingest()
    assert path.read_bytes() == saved
    assert [p.name for p in path.parent.iterdir()] == ["index.json"]  # no temp files left behind


def test_index_file_records_how_it_was_built(assistant: Assistant) -> None:
    info = json.loads(Path(assistant.settings.index_path).read_text())["info"]
    assert (info["chunk_size"], info["chunk_overlap"]) == (500, 50)


def test_empty_index_searches_to_nothing(assistant: Assistant) -> None:
    index = KnowledgeIndex(type(assistant.load_index().store)(assistant.embeddings), assistant.load_index().info)
    assert index.search("anything") == []
