"""The thread store under stress: busy, full or read-only disks, simultaneous turns, turns killed midway.

Each test reproduces a way conversations were lost: a healthy database set aside as "damaged",
two questions on one thread overwriting each other, a killed first turn leaving an unlisted thread.
"""

from __future__ import annotations

import gc
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agent import thread_store, threads
from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from agent.turns import Token
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama, Fault
from tests.mounts import fill, read_only, small_disk
from tests.test_kill import start, wait_for
from ui.cli import main

QUESTION = "Who cast the Quillmarsh bell?"
BUSY = "Error: ragchat's thread store is busy in another process — try again in a moment.\n"
STILL_ANSWERING = "This conversation is still answering another question — try again when it has finished."


def indexed(settings: Settings) -> None:
    """Index the corpus, then let go of the database (the test's subprocesses use it next)."""
    app = Assistant(settings)
    app.ensure_index()
    app.close()


def first_turn_stalled(settings: Settings, fake: FakeOllama) -> subprocess.Popen[str]:
    """Start `ragchat ask` on a new thread whose answer never comes; return once the request is on its way."""
    indexed(settings)
    fake.fault("/api/chat", Fault("stall", seconds=30))
    process = start(["ask", "--thread", "fresh", QUESTION], fake)
    wait_for(lambda: fake.calls("/api/chat"))
    time.sleep(0.2)
    return process


def seed(settings: Settings) -> None:
    """Index the corpus and store one answered thread "kept", then let go of the database."""
    app = Assistant(settings)
    app.ensure_index()
    app.ask(QUESTION, "kept").run()
    app.close()


def listed(home: Path) -> list[str]:
    """Files in the data folder, without SQLite's own journal files (which come and go)."""
    return sorted(p.name for p in home.iterdir() if not p.name.endswith(("-wal", "-shm")))


# -- 1. a healthy store is never set aside ----------------------------------------------------------
def test_a_busy_thread_store_waits_then_says_so_and_sets_nothing_aside(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(env)
    monkeypatch.setattr(thread_store, "BUSY_TIMEOUT", 0.3)
    files = listed(env.home)
    holder = sqlite3.connect(env.home / "threads.sqlite", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE ragchat_threads SET title = title")
    try:
        capsys.readouterr()
        assert main(["threads"]) == 1
        assert capsys.readouterr().err == BUSY
        assert listed(env.home) == files
    finally:
        holder.rollback()
        holder.close()
    assert main(["threads"]) == 0
    assert "kept" in capsys.readouterr().out


def test_a_full_disk_is_named_and_nothing_is_set_aside(
    tmp_path: Path,
    fake_ollama: FakeOllama,
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        home = disk / "data"
        monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
        monkeypatch.setenv("RAGCHAT_DOCS_DIR", str(corpus))
        monkeypatch.setenv("RAGCHAT_HOME", str(home))
        seed(load_settings())
        files = listed(home)
        filler = fill(disk)
        capsys.readouterr()
        assert main(["threads"]) == 1
        assert capsys.readouterr().err == f"Error: The disk holding {home} is full — free space and try again.\n"
        assert main(["ask", "--thread", "kept", "How heavy is the Quillmarsh bell?"]) == 1
        assert "is full — free space and try again." in capsys.readouterr().err
        assert listed(home) == files
        filler.unlink()
        assert main(["threads"]) == 0
        assert "kept" in capsys.readouterr().out
        assert [m.content for m in Assistant(load_settings()).history("kept")][0] == QUESTION


def test_a_read_only_data_folder_is_named_and_nothing_is_set_aside(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(env)
    files = listed(env.home)
    with read_only(env.home):
        capsys.readouterr()
        assert main(["threads"]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"Error: {env.home} is read-only — ") and err.count("\n") == 1
        assert listed(env.home) == files
    assert main(["threads"]) == 0
    assert "kept" in capsys.readouterr().out


def test_a_database_that_is_not_a_database_is_still_set_aside(env: Settings) -> None:
    (env.home).mkdir(parents=True)
    (env.home / "threads.sqlite").write_bytes(b"SQLite format 3\0" + b"garbage" * 2000)
    app = Assistant(env)
    assert app.threads() == []
    assert len(list(env.home.glob("threads.damaged-*.sqlite"))) == 1
    [notice] = app.conversations.open()
    assert notice.startswith("The threads database was damaged (") and "it was kept as threads.damaged-" in notice


# -- 2. simultaneous questions on one thread ---------------------------------------------------------
def assert_every_turn_kept(app: Assistant, thread_id: str, questions: list[str]) -> None:
    history = app.history(thread_id)
    assert [m.type for m in history] == ["human", "ai"] * len(questions)
    assert sorted(str(m.content) for m in history[::2]) == sorted(questions)
    for answer in history[1::2]:
        assert str(answer.content) and not answer.additional_kwargs.get("interrupted")
    assert app.registry.get(thread_id).messages == len(history)


def test_turns_of_one_thread_from_eight_threads_are_serialised(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.fault("/api/chat", Fault("stall", seconds=0.2), times=20)
    questions = [f"Question {n}: how heavy is the Quillmarsh bell?" for n in range(8)]
    errors: list[BaseException] = []

    def ask(question: str) -> None:
        try:
            assistant.ask(question, "same").run()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert errors == []
    assert_every_turn_kept(Assistant(assistant.settings), "same", questions)


def test_a_second_question_half_a_second_later_keeps_the_first_answer(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.fault("/api/chat", Fault("stall", seconds=1.0))
    first = threading.Thread(target=lambda: assistant.ask(QUESTION, "same").run())
    first.start()
    time.sleep(0.5)
    Assistant(assistant.settings).ask("How heavy is the Quillmarsh bell?", "same").run()
    first.join(timeout=30)
    reopened = Assistant(assistant.settings)
    assert [m.content for m in reopened.history("same")][::2] == [QUESTION, "How heavy is the Quillmarsh bell?"]
    assert_every_turn_kept(reopened, "same", [QUESTION, "How heavy is the Quillmarsh bell?"])


def test_a_question_that_cannot_wait_is_refused_in_one_line(
    assistant: Assistant, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(threads, "TURN_WAIT", 0.3)
    fake_ollama.fault("/api/chat", Fault("stall", seconds=1.5))
    first = threading.Thread(target=lambda: assistant.ask(QUESTION, "same").run())
    first.start()
    wait_for(lambda: fake_ollama.calls("/api/chat"))
    with pytest.raises(RagchatError, match=f"^{STILL_ANSWERING}$"):
        Assistant(assistant.settings).ask("How heavy is the Quillmarsh bell?", "same").run()
    first.join(timeout=30)
    assert_every_turn_kept(Assistant(assistant.settings), "same", [QUESTION])


def test_four_processes_asking_in_one_thread_keep_every_turn(env: Settings, fake_ollama: FakeOllama) -> None:
    indexed(env)
    questions = [f"Question {n}: how heavy is the Quillmarsh bell?" for n in range(4)]
    processes = [start(["ask", "--thread", "same", q], fake_ollama) for q in questions]
    results = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, [err for _, err in results]
    assert_every_turn_kept(Assistant(load_settings()), "same", questions)


# -- 3. a turn killed at any moment leaves a listed thread -------------------------------------------
def test_a_first_turn_killed_leaves_a_listed_thread_with_the_question_marked(
    env: Settings, fake_ollama: FakeOllama
) -> None:
    process = first_turn_stalled(env, fake_ollama)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    restarted = Assistant(load_settings())
    assert [(t.id, t.title, t.messages) for t in restarted.threads()] == [("fresh", QUESTION, 1)]
    history = restarted.history("fresh")
    assert [m.type for m in history] == ["human", "ai"]
    assert history[1].content == "" and history[1].additional_kwargs["interrupted"] is True
    assert "*No answer: the turn was stopped before it finished.*" in restarted.export_thread("fresh")


def test_ctrl_c_during_a_first_turn_keeps_a_listed_thread(env: Settings, fake_ollama: FakeOllama) -> None:
    process = first_turn_stalled(env, fake_ollama)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and err.strip() == "Interrupted."
    restarted = Assistant(load_settings())
    assert [t.id for t in restarted.threads()] == ["fresh"]
    assert restarted.history("fresh")[1].additional_kwargs["interrupted"] is True


def test_ctrl_c_mid_answer_keeps_what_was_printed_and_leaves_promptly(env: Settings, fake_ollama: FakeOllama) -> None:
    indexed(env)
    fake_ollama.fault("/api/chat", Fault("slow", seconds=0.5))  # about 10 s for the whole answer
    fake_ollama.enqueue("Oriel Vantongeren cast the bell in 1743 and it still hangs in the harbour tower today [1].")
    process = start(["ask", "--thread", "cut", QUESTION], fake_ollama)
    printed = ""
    while "1743" not in printed:
        printed += process.stdout.read(1)
    began = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and err.strip() == "Interrupted."
    assert time.monotonic() - began < 5  # not held until Ollama finishes writing
    answer = Assistant(load_settings()).history("cut")[1]
    assert answer.additional_kwargs["interrupted"] is True
    assert str(answer.content).startswith(printed) and "harbour tower" not in str(answer.content)


def test_a_closed_tab_mid_answer_keeps_the_partial_answer_marked(assistant: Assistant) -> None:
    stream = assistant.ask(QUESTION, "tab").events()
    tokens = (event.text for event in stream if isinstance(event, Token))
    shown = next(tokens) + next(tokens)
    stream.close()  # what the page does when its script run is cut off by a rerun or a closed tab
    history = Assistant(assistant.settings).history("tab")
    assert [m.type for m in history] == ["human", "ai"]
    assert history[1].content == shown and history[1].additional_kwargs["interrupted"] is True
    assert [t.id for t in Assistant(assistant.settings).threads()] == ["tab"]
    Assistant(assistant.settings).ask("How heavy is the Quillmarsh bell?", "tab").run()  # not left locked


def test_a_thread_stored_without_a_registry_entry_is_listed(assistant: Assistant) -> None:
    assistant.ask(QUESTION, "orphan").run()
    with sqlite3.connect(assistant.settings.home / "threads.sqlite") as conn:
        conn.execute("DELETE FROM ragchat_threads")  # as left by a version that registered threads at the end
    assistant.close()
    gc.collect()
    assert [(t.id, t.title, t.messages) for t in Assistant(assistant.settings).threads()] == [("orphan", QUESTION, 2)]
