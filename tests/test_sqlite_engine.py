"""The embedded engine with other processes: a busy database, readers beside a writer, changes picked up row by row."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.assistant import Assistant
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama
from tests.indexes import stored

ROOT = Path(__file__).parents[1]


def holding_the_write_lock(database: Path) -> sqlite3.Connection:
    """Another process's open write transaction on the database (as an ingest in the middle of a commit)."""
    other = sqlite3.connect(database, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO forgotten VALUES ('written by the other process')")
    return other


def cli(args: list[str], assistant: Assistant, fake: FakeOllama) -> None:
    env = {
        "OLLAMA_HOST": fake.url,
        "RAGCHAT_HOME": str(assistant.settings.home),
        "RAGCHAT_DOCS_DIR": str(assistant.settings.docs_dir),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run([sys.executable, "-m", "ui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_questions_are_answered_while_another_process_writes(assistant: Assistant) -> None:
    other = holding_the_write_lock(assistant.settings.index_path)
    try:
        fresh = Assistant(assistant.settings)  # opens the database while the write is under way
        assert [hit.metadata["source"] for hit in fresh.search("Quillmarsh bell")][:1] == ["harbour.md"]
        assert "written by the other process" not in fresh.load_index().forgotten  # not committed: not seen
    finally:
        other.rollback()
        other.close()


def test_a_database_busy_for_too_long_is_one_line_and_loses_nothing(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("knowledge.sqlite_engine.BUSY_TIMEOUT", 0.2)
    app = Assistant(assistant.settings)
    before = sorted(chunk.id for chunk in stored(app.load_index()))
    other = holding_the_write_lock(assistant.settings.index_path)
    try:
        with pytest.raises(RagchatError) as raised:
            app.forget(["harbour.md"])
        assert str(raised.value) == (
            f"The index {assistant.settings.index_path} is busy in another process — try again in a moment."
        )
    finally:
        other.rollback()
        other.close()
    assert sorted(chunk.id for chunk in stored(app.load_index())) == before
    assert app.forget(["harbour.md"]) == ["harbour.md"]  # free again


def test_another_processs_changes_are_picked_up_without_reading_the_index_again(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    engine = assistant.knowledge.engine
    held = engine._matrix  # the vectors in memory: kept, grown and masked, never read again whole
    harbour = {key for key, chunk in engine.chunks(engine.keys()).items() if chunk.metadata["source"] == "harbour.md"}
    (assistant.settings.docs_dir / "tides.md").write_text("# Tides\n\nHigh tide at Quillmarsh is at 06:40.\n")
    cli(["ingest"], assistant, fake_ollama)
    index = assistant.load_index()
    assert sorted(index.files) == ["harbour.md", "notes/market.txt", "tides.md"]
    assert engine._matrix is held and len(held) == 5
    assert assistant.search("high tide", mode="keyword")[0].metadata["source"] == "tides.md"
    cli(["forget", "harbour.md"], assistant, fake_ollama)
    index = assistant.load_index()
    assert "harbour.md" in index.forgotten and engine._matrix is held and len(held) == 3
    assert not harbour & set(engine.keys())
    assert all(hit.metadata["source"] != "harbour.md" for hit in assistant.search("Quillmarsh bell", k=4))
