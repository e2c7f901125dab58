"""The terminal shows text, never control sequences from documents, file names, titles or questions.

A hostile document can hold escape sequences that retitle the terminal (OSC), clear the screen (CSI),
colour what follows, overwrite a line with a carriage return or reverse text with a bidi override.
Names and one-line fields show them escaped (``\\x1b``); running text loses them.
"""

from __future__ import annotations

import io
import shlex
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from agent.turns import Done, Token
from tests.fake_ollama import FakeOllama
from ui.cli import main
from ui.conversation import stream_answer

SEQUENCES = "\x1b]0;pwned\x07\x1b[2J\x9b31m\x1b[31m\r\u202e"
NAME = f"evil{SEQUENCES}.md"
SHOWN_NAME = r"evil\x1b]0;pwned\x07\x1b[2J\x9b31m\x1b[31m\r\u202e.md"
TEXT = (
    "# Lantern\x1b[31m report\u202e\n\n"
    "The lantern\x1b]0;pwned\x07 of Gannet Point shines\x1b[2J red\x9b31m over the bay.\rFAKE line.\n"
)
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def controls(text: str) -> list[str]:
    """Return the control and bidi characters in ``text`` (newlines and tabs are fine)."""
    return sorted({ch for ch in text if (unicodedata.category(ch) == "Cc" and ch not in "\n\t") or ch in BIDI})


@pytest.fixture
def hostile(env: Settings) -> Settings:
    """The test corpus plus a document whose name, title and text carry escape sequences, indexed.

    Indexing here keeps ingest's progress bar (whose carriage returns are ragchat's own) out of the output
    the tests inspect.
    """
    (env.docs_dir / NAME).write_text(TEXT, encoding="utf-8")
    Assistant(env).ensure_index()
    return env


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out + err


def test_search_shows_names_escaped_and_text_without_sequences(
    hostile: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown = run(["search", "lantern", "Gannet", "bay"], capsys)
    assert code == 0
    assert controls(shown) == []
    assert f"  [1] {SHOWN_NAME} “Lantern\\x1b[31m report\\u202e” · lines 1–3 — strong match" in shown
    assert "      Lantern report The lantern of Gannet Point shines red over the bay. FAKE line.\n" in shown


def test_streamed_answer_and_sources_carry_no_sequences(
    hostile: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    code, shown = run(["ask", "Does the lantern of Gannet Point shine red over the bay?"], capsys)
    assert code == 0
    assert controls(shown) == []
    assert "The lantern of Gannet Point shines red over the bay. [1]\n" in shown
    assert f"  [1] {SHOWN_NAME} “Lantern" in shown


def test_a_hostile_question_echoed_in_chat_carries_no_sequences(
    hostile: Settings, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("Any zebras\x1b]0;zzz\x07 at the\x1b[2J zoo\u202e?\n"))
    # the sequences' printable rest ("0;", "2J") is in the hostile document too: a strict bar makes the turn
    # abstain, and the abstention is what echoes the question
    monkeypatch.setenv("RAGCHAT_MIN_SCORE", "0.99")
    code, shown = run(["chat"], capsys)
    assert code == 0
    assert controls(shown) == []
    assert "I searched for “Any zebras at the zoo?”" in shown


def test_sources_table_shows_the_name_escaped(hostile: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, shown = run(["sources"], capsys)
    assert code == 0
    assert controls(shown) == []
    assert any(line.startswith(SHOWN_NAME + " ") for line in shown.splitlines())


def test_thread_list_and_export_show_a_hostile_question_without_sequences(
    hostile: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ask", "--thread", "t1", "Does the lantern\x1b]0;pwned\x07 shine\x1b[2J red?"], capsys)
    code, listed = run(["threads"], capsys)
    assert code == 0
    assert controls(listed) == []
    assert r"Does the lantern\x1b]0;pwned\x07 shine\x1b[2J red?" in listed
    code, exported = run(["threads", "export", "t1"], capsys)
    assert code == 0
    assert controls(exported) == []
    assert "Does the lantern shine red?" in exported
    assert "The lantern of Gannet Point shines red over the bay." in exported


def test_export_to_a_file_keeps_the_thread_unchanged(
    hostile: Settings, fake_ollama: FakeOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "Does the lantern\x1b]0;pwned\x07 shine red?"
    run(["ask", "--thread", "t1", question], capsys)
    code, shown = run(["threads", "export", "t1", "-o", str(tmp_path / "t1.md")], capsys)
    assert code == 0
    assert controls(shown) == []
    assert question in (tmp_path / "t1.md").read_text(encoding="utf-8")  # a file is a faithful record


def test_forget_names_the_removed_file_escaped(hostile: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, shown = run(["forget", NAME], capsys)
    assert code == 0
    assert controls(shown) == []
    assert shown == (
        f"Removed 1 file from the index: {SHOWN_NAME}\n"
        f"`ragchat ingest` leaves it out from now on; `ragchat ingest {shlex.quote(SHOWN_NAME)}` adds it back.\n"
    )


def test_skipped_files_are_listed_with_their_names_escaped(
    hostile: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    (hostile.docs_dir / f"empty{SEQUENCES}.txt").write_text("")
    assert main(["ingest"]) == 0
    out = capsys.readouterr().out  # stderr holds only the progress bar
    assert controls(out) == []
    assert r"  skipped empty\x1b]0;pwned\x07\x1b[2J\x9b31m\x1b[31m\r\u202e.txt: empty" in out.splitlines()


def test_error_lines_show_names_escaped(hostile: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, shown = run(["ingest", str(hostile.docs_dir / f"gone{SEQUENCES}.md")], capsys)
    assert code == 1
    assert controls(shown) == []
    assert shown.startswith("Error: No such file or folder: ")
    assert r"gone\x1b]0;pwned\x07\x1b[2J\x9b31m\x1b[31m\r\u202e.md" in shown
    assert shown.count("\n") == 1


class Turn:
    """A turn whose answer arrives in the given pieces."""

    def __init__(self, *pieces: str) -> None:
        self.pieces = pieces

    def events(self) -> Iterator[Token | Done]:
        yield from map(Token, self.pieces)
        yield Done("".join(self.pieces), [], "", abstained=False, verified=None)


def test_an_escape_split_across_streamed_pieces_is_removed_whole() -> None:
    out = io.StringIO()
    stream_answer(Turn("Red\x1b", "[31m light \x1b]0;pw", "ned\x07at \x9b", "2Jdusk\r", "\nover\r", "the bay"), out)
    assert out.getvalue() == "Red light at dusk\nover\nthe bay\n"


def test_a_sequence_cut_short_by_the_end_of_the_answer_is_dropped() -> None:
    out = io.StringIO()
    stream_answer(Turn("Fog lifts by eleven.", " \x1b]0;pwn"), out)
    assert out.getvalue() == "Fog lifts by eleven. \n"


def test_every_split_of_a_hostile_answer_shows_what_the_whole_would() -> None:
    answer = "Red\x1b[31m light\x1b]0;pwned\x07 at\x9b2J dusk\r\nover\rthe\u202e bay\x1b]8;;http://x\x1b\\ here\x1bc."
    whole = io.StringIO()
    stream_answer(Turn(answer), whole)
    assert whole.getvalue() == "Red light at dusk\nover\nthe bay here.\n"
    for cut in range(1, len(answer)):
        for second in (cut, min(cut + 3, len(answer))):
            out = io.StringIO()
            stream_answer(Turn(answer[:cut], answer[cut:second], answer[second:]), out)
            assert out.getvalue() == whole.getvalue(), (cut, second)
