"""The persistent, incremental index: restart, unchanged/changed/deleted files, failures, formats on disk."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama
from tests.indexes import stored


def embed_calls(fake: FakeOllama) -> int:
    return len(fake.calls("/api/embed"))


def chunk_ids(app: Assistant) -> list[str]:
    return [chunk.id for chunk in stored(app.load_index())]


def write_long_files(folder: Path, count: int, paragraphs: int = 20) -> None:
    """Files of ~20 chunks each, every paragraph with words of its own."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(count):
        body = "\n\n".join(
            f"Paragraph {p} of file {f}. " + " ".join(f"w{f}x{p}y{i}" for i in range(55)) for p in range(paragraphs)
        )
        (folder / f"long{f}.txt").write_text(body)


def test_restart_loads_the_index_without_embedding(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    before = embed_calls(fake_ollama)
    reopened = Assistant(assistant.settings)
    index = reopened.load_index()
    assert (index.chunk_count, sorted(index.files)) == (4, ["harbour.md", "notes/market.txt"])
    assert (index.info.embedding, index.info.dimension) == ("ollama/nomic-embed-text", 768)
    assert reopened.search("Quillmarsh bell", mode="keyword")[0].metadata["source"] == "harbour.md"
    assert embed_calls(fake_ollama) == before


def test_unchanged_corpus_makes_zero_embedding_calls(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    before = embed_calls(fake_ollama)
    report = Assistant(assistant.settings).ingest().report
    assert embed_calls(fake_ollama) == before
    assert (report.added, report.updated, report.removed, report.unchanged) == ([], [], [], 2)


def test_touched_but_identical_file_is_not_reembedded(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    path = assistant.settings.docs_dir / "harbour.md"
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    before, ids = embed_calls(fake_ollama), chunk_ids(assistant)
    assert assistant.ingest().report.unchanged == 2
    assert embed_calls(fake_ollama) == before and chunk_ids(assistant) == ids


def test_changed_file_alone_is_reembedded(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    (assistant.settings.docs_dir / "notes" / "market.txt").write_text("Market day\n\nThe market now sells oysters.\n")
    texts_before = len(fake_ollama.embedded_texts)
    report = assistant.ingest().report
    assert report.updated == ["notes/market.txt"] and report.unchanged == 1
    assert all("harbour" not in t.lower() for t in fake_ollama.embedded_texts[texts_before:])
    market = [c.page_content for c in stored(assistant.load_index()) if c.metadata["source"] == "notes/market.txt"]
    assert market == ["Market day\n\nThe market now sells oysters."]


def test_a_file_of_the_same_size_and_time_is_trusted_without_reading_it(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    harbour = assistant.settings.docs_dir / "harbour.md"
    kept = harbour.stat()
    harbour.write_text(harbour.read_text().replace("1743", "1744"))  # same size: only a read could tell
    os.utime(harbour, ns=(kept.st_atime_ns, kept.st_mtime_ns))
    market = assistant.settings.docs_dir / "notes" / "market.txt"
    market.write_text("Market day\n\nThe market now sells oysters.\n")
    texts_before = len(fake_ollama.embedded_texts)
    report = assistant.ingest().report
    assert (report.updated, report.unchanged) == (["notes/market.txt"], 1)
    assert [t.split("\n")[-1] for t in fake_ollama.embedded_texts[texts_before:]] == ["The market now sells oysters."]
    record = assistant.load_index().files["notes/market.txt"]
    assert record.sha256 == hashlib.sha256(market.read_bytes()).hexdigest()  # hashed from the bytes it indexed
    assert "1743" in assistant.search("Quillmarsh bell cast", mode="keyword")[0].page_content  # harbour not re-read


def test_deleted_file_is_dropped(assistant: Assistant) -> None:
    (assistant.settings.docs_dir / "notes" / "market.txt").unlink()
    report = assistant.ingest().report
    assert report.removed == ["notes/market.txt"]
    index = Assistant(assistant.settings).load_index()
    assert sorted(index.files) == ["harbour.md"]
    assert {c.metadata["source"] for c in stored(index)} == {"harbour.md"}


def test_new_file_is_added(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    (assistant.settings.docs_dir / "tides.md").write_text("# Tides\n\nHigh tide is at 06:40.\n")
    before = embed_calls(fake_ollama)
    assert assistant.ingest().report.added == ["tides.md"]
    assert embed_calls(fake_ollama) == before + 1
    assert assistant.load_index().chunk_count == 5


def test_ingesting_the_same_file_again_never_duplicates(assistant: Assistant) -> None:
    docs = assistant.settings.docs_dir
    assistant.ingest([docs / "harbour.md", docs / "harbour.md", docs], rebuild=True)
    assistant.ingest([docs / "harbour.md"])
    ids = chunk_ids(assistant)
    assert len(ids) == len(set(ids)) == 4


def test_embeddings_are_batched_and_progress_reported(settings: Settings, fake_ollama: FakeOllama) -> None:
    write_long_files(settings.docs_dir / "long", 4)
    seen = []
    result = Assistant(settings).ingest(progress=seen.append)
    chunks = result.index.chunk_count
    assert chunks > 64
    assert embed_calls(fake_ollama) == -(-chunks // 64) + 1  # one per batch of 64, one for the calibration
    assert (seen[0].chunks_done, seen[0].files_done) == (0, 0)
    assert (seen[-1].chunks_done, seen[-1].chunks_total, seen[-1].files_done, seen[-1].files_total) == (
        chunks,
        chunks,
        6,
        6,
    )


def test_failure_halfway_keeps_the_completed_files_and_a_rerun_completes_to_a_fresh_build(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    app = Assistant(settings)
    app.ingest()
    write_long_files(settings.docs_dir / "long", 6)
    fake_ollama.fail("/api/embed", 500, "runner crashed", after=1)
    with pytest.raises(RagchatError, match="runner crashed"):
        app.ingest()
    saved = Assistant(settings).load_index()  # what a restart would see
    assert {"harbour.md", "notes/market.txt"} <= set(saved.files)
    partial = set(saved.files) - {"harbour.md", "notes/market.txt"}
    assert 0 < len(partial) < 6  # the files whose chunks all arrived were kept
    report = Assistant(settings).ingest().report
    assert sorted(report.added) == sorted(f"long/long{n}.txt" for n in range(6) if f"long/long{n}.txt" not in partial)
    rerun = sorted(chunk_ids(Assistant(settings)))
    Assistant(settings).ingest(rebuild=True)
    assert sorted(chunk_ids(Assistant(settings))) == rerun  # exactly the chunks of a fresh build
    assert len(set(rerun)) == len(rerun)


def test_other_embedder_names_both_and_how_to_rebuild(assistant: Assistant) -> None:
    other = load_settings(**{**assistant.settings.model_dump(), "embedding_model": "mxbai-embed-large"})
    with pytest.raises(RagchatError) as error:
        Assistant(other).load_index()
    assert str(error.value) == (
        "The index was built with ollama/nomic-embed-text (768-d) but ragchat is set to ollama/mxbai-embed-large "
        "— rebuild it with `ragchat ingest --rebuild`, or switch the embedding setting back."
    )


def test_rebuild_switches_embedder(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.models.append("mxbai-embed-large:latest")
    other = load_settings(**{**assistant.settings.model_dump(), "embedding_model": "mxbai-embed-large"})
    assert Assistant(other).ingest(rebuild=True).index.info.embedding == "ollama/mxbai-embed-large"
    assert Assistant(other).load_index().chunk_count == 4


def test_a_file_that_is_not_a_database_is_a_clear_error_and_is_kept(assistant: Assistant) -> None:
    assistant.knowledge.engine.close()  # as when ragchat exits: the journal is folded into the file
    path = assistant.settings.index_path
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(
        RagchatError, match=r"knowledge.sqlite is damaged .* rebuild it with `ragchat ingest --rebuild`"
    ):
        Assistant(assistant.settings).load_index()
    assert path.read_bytes() == b"not a database at all" * 100


def test_index_from_the_first_version_asks_for_a_rebuild(settings: Settings) -> None:
    settings.home.mkdir(parents=True)
    (settings.home / "index.json").write_text("{}")
    with pytest.raises(RagchatError, match="older ragchat — rebuild it with `ragchat ingest --rebuild`"):
        Assistant(settings).load_index()


def test_a_change_rewrites_only_its_own_rows(assistant: Assistant) -> None:
    engine = assistant.knowledge.engine
    harbour = {key for key, chunk in engine.chunks(engine.keys()).items() if chunk.metadata["source"] == "harbour.md"}
    (assistant.settings.docs_dir / "notes" / "market.txt").write_text("Market day\n\nThe market now sells oysters.\n")
    (assistant.settings.docs_dir / "tides.md").write_text("High tide is at 06:40.\n")
    assistant.ingest()
    after = engine.chunks(engine.keys())
    assert harbour <= set(after)  # the unchanged file's rows were not touched: same database keys
    assert {after[key].metadata["source"] for key in set(after) - harbour} == {"notes/market.txt", "tides.md"}


def test_unreadable_files_are_summarised_and_the_rest_indexed(settings: Settings) -> None:
    (settings.docs_dir / "photo.txt").write_bytes(b"\x89PNG\x00\x00\x00")
    (settings.docs_dir / "empty.md").write_text("\n\n")
    (settings.docs_dir / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    report = Assistant(settings).ingest().report
    assert sorted(report.skipped) == [
        ("broken.pdf", "damaged PDF"),
        ("empty.md", "empty"),
        ("photo.txt", "binary content, not text"),
    ]
    assert sorted(report.added) == ["harbour.md", "notes/market.txt"]


def test_forget_removes_a_file_by_name_or_path(assistant: Assistant) -> None:
    assert assistant.forget([str(assistant.settings.docs_dir / "notes")]) == ["notes/market.txt"]
    assert sorted(Assistant(assistant.settings).load_index().files) == ["harbour.md"]
    assert assistant.forget(["harbour.md"]) == ["harbour.md"]


def test_forget_of_an_unknown_file_changes_nothing(assistant: Assistant) -> None:
    with pytest.raises(RagchatError, match="nope.md is not in the index — `ragchat sources` lists what is."):
        assistant.forget(["harbour.md", "nope.md"])
    assert assistant.load_index().chunk_count == 4


def test_missing_path_is_a_clear_error(assistant: Assistant, tmp_path: Path) -> None:
    with pytest.raises(RagchatError, match=r"No such file or folder: .*absent — check the path"):
        assistant.ingest([tmp_path / "absent"])


def test_a_running_assistant_picks_up_an_index_saved_by_another_process(assistant: Assistant) -> None:
    other = Assistant(assistant.settings)  # e.g. `ragchat ingest` beside the web page
    (assistant.settings.docs_dir / "tides.md").write_text("# Tides\n\nHigh tide is at 06:40.\n")
    other.ingest()
    assert assistant.load_index().chunk_count == 5
    assert assistant.search("tide", mode="keyword")[0].metadata["source"] == "tides.md"
