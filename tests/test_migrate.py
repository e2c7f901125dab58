"""``ragchat migrate --to URL``: a data folder's knowledge base and threads moved into a shared Postgres."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from tests.fake_ollama import FakeOllama
from tests.indexes import stored
from ui.cli import main


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def used(env: Settings, fake_ollama: FakeOllama) -> Assistant:
    """A data folder as a user leaves it: documents indexed, one forgotten, two conversations, one scoped."""
    app = Assistant(env)
    app.ensure_index()
    app.ask("Who cast the Quillmarsh bell?", "bells").run()
    app.ask("And how heavy is it?", "bells").run()
    app.ask("When does the ferry leave?", "ferries").run()
    app.set_scope("ferries", ["harbour.md"])
    app.forget(["notes/market.txt"])
    app.close()
    return app


def test_everything_moves_and_is_used_from_postgres(
    used: Assistant, postgres_url: str, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = used.settings
    before = snapshot(settings.home)
    calls = len(fake_ollama.calls("/api/embed"))
    assert main(["migrate", "--to", postgres_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Moved 1 file (2 chunks, nothing embedded again) and 2 threads to postgresql://")
    assert len(fake_ollama.calls("/api/embed")) == calls
    assert snapshot(settings.home) == before  # the data folder is left as it was

    shared = Assistant(settings.model_copy(update={"database_url": postgres_url, "home": settings.home / "other"}))
    index = shared.load_index()
    assert sorted(index.files) == ["harbour.md"] and index.forgotten == {"notes/market.txt"}
    assert sorted(c.id for c in stored(index)) == sorted(c.id for c in stored(Assistant(settings).load_index()))
    listed = [(t.id, t.title, t.messages, t.scope) for t in Assistant(settings).threads()]
    assert [(t.id, t.title, t.messages, t.scope) for t in shared.threads()] == listed
    assert [m.content for m in shared.history("bells")] == [m.content for m in Assistant(settings).history("bells")]
    assert shared.search("Quillmarsh bell", mode="keyword")[0].metadata["source"] == "harbour.md"
    shared.ask("Who rang it last?", "bells").run()  # the conversation goes on from Postgres
    assert len(shared.history("bells")) == 6


def test_a_database_that_already_holds_a_knowledge_base_is_refused(
    used: Assistant, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate", "--to", postgres_url]) == 0
    capsys.readouterr()
    assert main(["migrate", "--to", postgres_url]) == 1
    err = capsys.readouterr().err
    assert "already holds a thread named" in err and "moving never merges" in err and err.count("\n") == 1
