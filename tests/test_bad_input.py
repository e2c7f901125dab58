"""Bad input: each gives a one-line error or a documented skip, never a traceback, and loses nothing."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama
from ui.cli import main


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_questions(assistant: Assistant, question: str) -> None:
    with pytest.raises(RagchatError, match="^The question is empty — type a question about your documents.$"):
        assistant.ask(question, "t")


def test_a_200000_character_question_is_refused_with_the_limit(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    with pytest.raises(RagchatError, match=r"^The question is too long \(200,000 characters; the limit is 6,144\)"):
        assistant.ask("w" * 200_000, "t")
    assert fake_ollama.calls("/api/chat") == [] and assistant.history("t") == []


@pytest.mark.parametrize("thread", ["a/b", "../../etc/passwd", 'it\'s "quoted"', "🚢 Skerrowick – notes", "x" * 200])
def test_odd_thread_ids_are_just_names(assistant: Assistant, thread: str, tmp_path: Path) -> None:
    before = set(tmp_path.rglob("*"))
    assistant.ask("Who cast the Quillmarsh bell?", thread).run()
    written = sorted(path.relative_to(tmp_path).as_posix() for path in set(tmp_path.rglob("*")) - before)
    assert written and all(THREAD_STORE.fullmatch(name) for name in written), written  # none named after the thread
    reopened = Assistant(assistant.settings)
    assert [t.id for t in reopened.threads()] == [thread]
    assert len(reopened.history(thread)) == 2
    reopened.delete_thread(thread)  # the name finds its thread again, exactly
    assert reopened.threads() == [] and reopened.history(thread) == []


THREAD_STORE = re.compile(r"home/(threads\.sqlite(-wal|-shm)?|locks(/[0-9a-f]{32}\.lock)?)")
"""What a first turn may add: the thread database and a lock file named by a hash of the thread."""


@pytest.mark.parametrize(
    ("thread", "message"),
    [("", "The thread name is empty"), ("x" * 201, "longer than 200"), ("a\x00b", "control characters")],
)
def test_unusable_thread_ids(assistant: Assistant, thread: str, message: str) -> None:
    with pytest.raises(RagchatError, match=message):
        assistant.ask("Who cast the Quillmarsh bell?", thread)


def test_corrupt_index_is_reported_and_rebuild_keeps_the_damaged_copy(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest"]) == 0
    database = env.index_path
    database.write_bytes(database.read_bytes()[:5000])  # truncated
    capsys.readouterr()
    assert main(["ask", "Who cast the Quillmarsh bell?"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"Error: The index {database} is damaged (") and "ragchat ingest --rebuild" in err
    assert "Traceback" not in err
    assert main(["ingest", "--rebuild"]) == 0
    kept = list(env.home.glob("knowledge.damaged-*.sqlite"))
    assert len(kept) == 1 and kept[0].stat().st_size == 5000  # set aside, never deleted
    assert "The unreadable index was kept as knowledge.damaged-" in capsys.readouterr().err
    assert main(["ask", "Who cast the Quillmarsh bell?"]) == 0


def test_corrupt_thread_database_is_set_aside_and_a_new_one_started(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--thread", "t", "Who cast the Quillmarsh bell?"]) == 0
    database = env.home / "threads.sqlite"
    for journal in ("threads.sqlite-wal", "threads.sqlite-shm"):  # a damaged main file, as after a disk fault
        (env.home / journal).unlink(missing_ok=True)
    database.write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert main(["ask", "--thread", "t", "Who cast the Quillmarsh bell?"]) == 0
    err = capsys.readouterr().err
    assert "Warning: The threads database was damaged" in err and "a new one started" in err
    kept = list(env.home.glob("threads.damaged-*.sqlite"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM ragchat_threads").fetchone() == (1,)


def test_questions_with_markup_and_control_text_are_just_text(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    question = "<b>Who cast</b> the {sources} Quillmarsh bell? %s \x1b[1m"
    assistant.ask(question, "t").run()
    assert fake_ollama.calls("/api/chat")[-1]["messages"][-1]["content"] == question.strip()


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_unexpected_errors_are_one_line_without_debug(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(Assistant, "threads", broken)
    assert main(["threads"]) == 1
    assert capsys.readouterr().err == (
        "Error: unexpected KeyError: 'surprise' — set RAGCHAT_DEBUG=1 to see the traceback.\n"
    )
    monkeypatch.setenv("RAGCHAT_DEBUG", "1")
    with pytest.raises(KeyError):
        main(["threads"])


def test_keyboard_interrupt_exits_130(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Assistant, "threads", interrupted)
    assert main(["threads"]) == 130
    assert capsys.readouterr() == ("", "\nInterrupted.\n")  # one word on its own line, no traceback


INVISIBLE = "The thread name has no visible characters — give a name such as `--thread notes`."
HIDDEN = (
    "The thread name contains invisible or text-direction characters (such as U+202E) — "
    "use letters, digits and punctuation."
)


@pytest.mark.parametrize("thread", ["\u200b", "\u202e\u202d", "\ufeff", "\u2066", "\u200d\u200c", "\u2060 \u00ad"])
def test_a_thread_name_of_only_invisible_characters_is_refused(
    env: Settings, assistant: Assistant, thread: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--thread", thread, "Who cast the Quillmarsh bell?"]) == 1
    assert capsys.readouterr().err == f"Error: {INVISIBLE}\n"


@pytest.mark.parametrize(
    ("thread", "code"),
    [("notes\u202etxt.exe", "U+202E"), ("a\u200bb", "U+200B"), ("\u2067x\u2069", "U+2067"), ("x\u200fy", "U+200F")],
)
def test_a_thread_name_with_direction_or_zero_width_characters_is_refused(
    env: Settings, assistant: Assistant, thread: str, code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "--thread", thread, "Who cast the Quillmarsh bell?"]) == 1
    assert capsys.readouterr().err == f"Error: {HIDDEN.replace('U+202E', code)}\n"


@pytest.mark.parametrize("thread", ["a\u2028b", "a\u2029b", "a\x85b"])
def test_line_and_paragraph_separators_count_as_control_characters(assistant: Assistant, thread: str) -> None:
    with pytest.raises(RagchatError, match="^The thread name contains control characters"):
        assistant.ask("Who cast the Quillmarsh bell?", thread)


SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize("thread", ["👩\u200d💻 notes", "می\u200cخواهم", SCOTLAND])
def test_joiners_inside_emoji_and_words_are_allowed(assistant: Assistant, thread: str) -> None:
    assistant.ask("Who cast the Quillmarsh bell?", thread).run()
    assert [t.id for t in assistant.threads()] == [thread]


def test_a_bad_thread_name_is_refused_before_any_indexing(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--thread", "notes\u202etxt.exe", "Who cast the Quillmarsh bell?"]) == 1
    assert capsys.readouterr().err == f"Error: {HIDDEN}\n"  # no progress bar: nothing was indexed first
    assert not env.index_path.exists()
