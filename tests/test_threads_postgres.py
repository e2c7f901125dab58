"""Threads in a shared Postgres (RAGCHAT_DATABASE_URL): several ragchats, on different machines, one set of threads.

Two Assistants with the same database URL but different data folders stand for two machines.
Every test runs on a real Postgres (see tests/postgres.py), in a database of its own.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from agent import thread_store, threads
from agent.assistant import Assistant
from agent.settings import Settings
from agent.turns import Done, Status
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama, Fault
from tests.test_kill import wait_for
from ui.cli import main

QUESTION = "Who cast the Quillmarsh bell?"
FOLLOW_UP = "How heavy is the Quillmarsh bell?"
Machine = Callable[[str], Assistant]
STILL_ANSWERING = "This conversation is still answering another question — try again when it has finished."


@pytest.fixture
def machine(settings: Settings, postgres_url: str, tmp_path: Path) -> Iterator[Machine]:
    """Make an Assistant as a ragchat on machine ``name`` would be: its own data folder, the shared database."""
    made: list[Assistant] = []

    def make(name: str) -> Assistant:
        app = Assistant(settings.model_copy(update={"home": tmp_path / name, "database_url": postgres_url}))
        app.ensure_index()
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def assert_no_thread_files(home: Path) -> None:
    """Threads and the knowledge base are in Postgres: the data folder holds neither (it is not even made)."""
    names = sorted(p.name for p in home.iterdir()) if home.exists() else []
    assert [name for name in names if name.startswith(("threads", "locks", "knowledge", "index"))] == []


def test_threads_survive_a_restart_and_leave_nothing_in_the_data_folder(
    machine: Machine, fake_ollama: FakeOllama
) -> None:
    app = machine("a")
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    app.ask(QUESTION, "bells").run()
    app.close()
    restarted = machine("a")
    assert [m.content for m in restarted.history("bells")] == [QUESTION, "Oriel Vantongeren cast it [1]."]
    assert restarted.history("bells")[-1].additional_kwargs["sources"][0]["source"] == "harbour.md"
    assert [(t.id, t.title, t.messages) for t in restarted.threads()] == [("bells", QUESTION, 2)]
    fake_ollama.enqueue("When was the Quillmarsh bell cast", "In 1743 [1].")
    restarted.ask("When was that?", "bells").run()
    answer = fake_ollama.calls("/api/chat")[-1]["messages"]
    assert [m["content"] for m in answer[1:3]] == [QUESTION, "Oriel Vantongeren cast it [1]."]
    assert restarted.threads()[0].messages == 4
    assert_no_thread_files(restarted.settings.home)


def test_two_machines_see_each_others_threads_titles_scopes_and_deletions(machine: Machine) -> None:
    a, b = machine("a"), machine("b")
    a.ask(QUESTION, "shared").run()
    assert [(t.id, t.title, t.messages) for t in b.threads()] == [("shared", QUESTION, 2)]
    b.rename_thread("shared", "Bells")
    assert [t.title for t in a.threads()] == ["Bells"]
    a.set_scope("shared", ["harbour.md"])
    assert b.registry.get("shared").scope == ["harbour.md"]
    b.ask(FOLLOW_UP, "shared").run()  # continues the conversation machine a started
    assert [str(m.content) for m in a.history("shared")][::2] == [QUESTION, FOLLOW_UP]
    assert [(t.title, t.messages) for t in a.threads()] == [("Bells", 4)]
    assert a.export_thread("shared").startswith("# Bells\n")
    b.delete_thread("shared")
    assert a.threads() == [] and a.history("shared") == []
    with pytest.raises(RagchatError, match="There is no thread 'shared'"):
        a.rename_thread("shared", "Gone")
    for app in (a, b):
        assert_no_thread_files(app.settings.home)


def test_turns_of_one_thread_on_two_machines_never_interleave(machine: Machine, fake_ollama: FakeOllama) -> None:
    a, b = machine("a"), machine("b")
    fake_ollama.fault("/api/chat", Fault("stall", seconds=1.0))
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    first = threading.Thread(target=lambda: a.ask(QUESTION, "same").run())
    first.start()
    wait_for(lambda: fake_ollama.calls("/api/chat"))
    assert b.registry.answering("same")  # machine b sees machine a's turn running
    assert [m.type for m in b.history("same")] == ["human"]  # so its question is not marked unanswered
    events = list(b.ask(FOLLOW_UP, "same").events())
    first.join(timeout=30)
    assert events[0] == Status("waiting") and isinstance(events[-1], Done)
    second = fake_ollama.calls("/api/chat")[-1]["messages"]
    assert [m["content"] for m in second[1:3]] == [QUESTION, "Oriel Vantongeren cast it [1]."]  # read after a's turn
    history = a.history("same")
    assert [m.type for m in history] == ["human", "ai", "human", "ai"]
    assert [str(m.content) for m in history][::2] == [QUESTION, FOLLOW_UP]
    assert not any(m.additional_kwargs.get("interrupted") for m in history)
    assert not a.registry.answering("same") and not b.registry.answering("same")


def test_a_turn_that_cannot_wait_for_another_machine_is_refused_in_one_line(
    machine: Machine,
    fake_ollama: FakeOllama,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(threads, "TURN_WAIT", 0.3)
    a, b = machine("a"), machine("b")
    fake_ollama.fault("/api/chat", Fault("stall", seconds=1.2))
    first = threading.Thread(target=lambda: a.ask(QUESTION, "same").run())
    first.start()
    wait_for(lambda: fake_ollama.calls("/api/chat"))
    with pytest.raises(RagchatError, match=f"^{STILL_ANSWERING}$"):
        b.ask(FOLLOW_UP, "same").run()
    first.join(timeout=30)
    assert [str(m.content) for m in b.history("same")][::2] == [QUESTION]
    b.ask(FOLLOW_UP, "same").run()  # the lock was let go of


def test_dropped_connections_are_replaced(machine: Machine, postgres_url: str) -> None:
    app = machine("a")
    app.ask(QUESTION, "kept").run()
    with psycopg.connect(postgres_url, autocommit=True) as admin:  # as a restarted server or a network cut would
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert [t.id for t in app.threads()] == ["kept"]
    assert len(app.history("kept")) == 2


def test_ragchats_starting_at_once_on_a_new_database_all_set_it_up(postgres_url: str) -> None:
    failures: list[BaseException] = []

    def start() -> None:
        try:
            thread_store.make_checkpointer(Path("/nonexistent"), database_url=postgres_url)[0].conn.close()
        except BaseException as exc:  # reported below
            failures.append(exc)

    starting = [threading.Thread(target=start) for _ in range(4)]
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join(timeout=60)
    assert failures == []  # no "deadlock detected", no duplicate migration rows


def test_a_question_with_a_nul_character_is_stored(machine: Machine) -> None:
    app = machine("a")
    app.ask("Who cast\x00 the Quillmarsh bell?", "nul").run()
    app.rename_thread("nul", "Bells\x00 and ferries")
    assert [(t.title, t.messages) for t in app.threads()] == [("Bells and ferries", 2)]
    assert app.history("nul")[0].content == QUESTION


def test_an_unreachable_database_is_one_line(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("RAGCHAT_DATABASE_URL", f"postgresql://ragchat:secret@127.0.0.1:{port}/ragchat")
    assert main(["threads"]) == 1
    assert capsys.readouterr().err == (
        f"Error: Cannot reach the database at postgresql://ragchat:***@127.0.0.1:{port}/ragchat (Connection refused)"
        " — check RAGCHAT_DATABASE_URL and that Postgres is running.\n"
    )
    assert not env.home.exists() or not [p for p in env.home.iterdir() if p.name.startswith(("threads", "locks"))]
