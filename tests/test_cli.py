"""The ``ragchat`` command, in-process (``main(argv)``) and once as a real subprocess."""

from __future__ import annotations

import fcntl
import io
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from tests.conftest import PLANTED
from tests.fake_ollama import FakeOllama
from ui.cli import main
from ui.terminal import human_size


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_builds_the_index_and_summarises(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["ingest", str(env.docs_dir)], capsys)
    assert code == 0
    assert out == (
        "2 added, 0 updated, 0 removed, 0 unchanged (4 chunks embedded). The index holds 4 chunks from 2 files.\n"
    )
    assert env.index_path.exists()
    assert "Embedding: 100%" in err and "4/4" in err and "files 2/2" in err


def test_counts_of_one_are_singular(env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one"
    one.mkdir()
    (one / "note.txt").write_text("The ferry leaves at nine.")
    code, out, err = run(["ingest", str(one)], capsys)
    assert (code, out) == (
        0,
        "1 added, 0 updated, 0 removed, 0 unchanged (1 chunk embedded). The index holds 1 chunk from 1 file.\n",
    )
    code, out, err = run(["sources"], capsys)
    assert out.splitlines()[-1] == "1 file, 1 chunk, embeddings ollama/nomic-embed-text"


def test_ingest_of_a_folder_without_documents_fails_clearly(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "photo.jpg").write_bytes(b"\xff\xd8")
    code, out, err = run(["ingest", str(empty)], capsys)
    assert code == 1
    assert err == (
        f"Error: No readable documents in {empty} — add .txt, .md, .pdf, .html, .htm, .docx files "
        "and run `ragchat ingest` again.\n"
    )
    assert Assistant(env).load_index() is None


def test_ask_builds_a_missing_index_then_streams_answer_and_sources(
    env: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["ask", "Who cast the Quillmarsh tide bell?"], capsys)
    assert code == 0
    assert "No index yet — indexing" in err
    answer, sources = out.split("\nSources:\n")
    assert answer.strip() == PLANTED + " [1]"  # the fake answers with source [1]'s first sentence
    assert sources.splitlines()[0].startswith("  [1] harbour.md · article 1 “The Quillmarsh Bell” · lines 1–4 — strong")
    assert "Oriel Vantongeren" in sources.splitlines()[1]


def test_ask_words_need_no_quotes(env: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]) -> None:
    run(["ask", "who", "cast", "the", "bell?"], capsys)
    assert fake_ollama.calls("/api/chat")[-1]["messages"][-1]["content"] == "who cast the bell?"


def test_empty_question_is_refused(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["ask", "   "], capsys)
    assert (code, out) == (1, "")
    assert err.splitlines()[-1] == "Error: The question is empty — type a question about your documents."


def test_unreachable_ollama_is_one_line_and_exit_1(
    env: Settings, unreachable_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    code, out, err = run(["ask", "anything?"], capsys)
    assert code == 1
    assert err.splitlines()[-1] == (
        f"Error: Cannot reach Ollama at {unreachable_url} — start it with `ollama serve` (or point OLLAMA_HOST at it)."
    )
    assert "Traceback" not in err


def test_missing_chat_model_says_which_to_pull(
    env: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ingest"], capsys)
    code, _, err = run(["ask", "bell?", "--model", "llama3.1:70b"], capsys)
    assert code == 1
    assert err == "Error: The model llama3.1:70b is not available in Ollama — run `ollama pull llama3.1:70b`.\n"


def test_missing_embedding_model_says_which_to_pull(
    env: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ollama.models.remove("nomic-embed-text:latest")
    code, _, err = run(["ingest"], capsys)
    assert code == 1
    assert err.splitlines()[-1] == (
        "Error: The model nomic-embed-text is not available in Ollama — run `ollama pull nomic-embed-text`."
    )


def test_chat_remembers_within_a_thread_and_not_across(
    env: Settings, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ollama.enqueue("Oriel Vantongeren [1].", "When was the Quillmarsh bell cast", "In 1743 [1].")
    script = "Who cast the Quillmarsh bell?\nWhen?\n/thread other\nWhen?\n/quit\nnever asked\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    code, out, err = run(["chat", "--thread", "notes"], capsys)
    assert code == 0
    assert "Oriel Vantongeren [1]." in out and "In 1743 [1]." in out
    assert "I couldn't find this in your documents. I searched for “When?”" in out  # the other thread knows nothing
    answers = [body["messages"] for body in fake_ollama.calls("/api/chat") if body["messages"][0]["role"] == "system"]
    assert [[m["content"] for m in messages[1:]] for messages in answers] == [
        ["Who cast the Quillmarsh bell?"],
        ["Who cast the Quillmarsh bell?", "Oriel Vantongeren [1].", "When?"],
    ]
    assert "Switched to thread “other”." in err
    assert "never asked" not in str(fake_ollama.chat_prompts)


def test_chat_keeps_going_after_a_failed_turn(
    env: Settings, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ollama.fail("/api/chat", 500, "model runner crashed")
    monkeypatch.setattr(sys, "stdin", io.StringIO("Quillmarsh bell?\nthe Saturday market?\n"))
    code, out, err = run(["chat"], capsys)
    assert code == 1  # one turn failed
    assert "Error: Ollama could not run llama3.1:8b: model runner crashed (HTTP 500)." in err
    assert out.count("Sources:") == 1  # the second turn answered


def test_sources_before_any_question_says_to_ask_first(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("/sources\n"))
    code, out, err = run(["chat"], capsys)
    assert (code, out) == (0, "")
    assert err.splitlines()[-1] == "No answer yet — ask a question first."


def test_sources_after_a_not_found_answer_says_why_there_are_none(
    env: Settings, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ollama.enqueue("Oriel Vantongeren [1].", "population of Peru")  # the answer, then the follow-up's rewrite
    script = "Who cast the Quillmarsh bell?\nWhat is the population of Peru?\n/sources\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    code, out, err = run(["chat"], capsys)
    assert code == 0
    assert out.count("Sources:") == 1 and out.splitlines()[-1].startswith("I couldn't find this in your documents.")
    assert err.splitlines()[-1] == "No sources: the last answer found nothing relevant in your documents."


def test_sources_after_a_failed_turn_does_not_show_the_answer_before(
    env: Settings, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_ollama.fail("/api/chat", 500, "model runner crashed", after=1)
    script = "Who cast the Quillmarsh bell?\n/thread other\nthe Saturday market?\n/sources\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    code, out, err = run(["chat"], capsys)
    assert code == 1
    assert out.count("Sources:") == 1
    assert err.splitlines()[-1] == "No sources: the last question failed (the error is above)."


def test_graph_prints_mermaid_without_ollama(
    unreachable_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    code, out, _ = run(["graph"], capsys)
    assert code == 0
    assert out.startswith("---\nconfig:") and "graph TD;" in out  # Mermaid; its edges are checked in test_graph.py


def test_bad_setting_is_one_line(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["ask", "q", "--k", "0"], capsys)
    assert code == 1
    assert err == "Error: Invalid setting k (RAGCHAT_K): Input should be greater than or equal to 1.\n"


def test_console_script_runs_as_a_subprocess(env: Settings, fake_ollama: FakeOllama, tmp_path: Path) -> None:
    environment = {**os.environ, "OLLAMA_HOST": fake_ollama.url}
    result = subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", "Who cast the Quillmarsh tide bell?"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=Path(__file__).parents[1],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert PLANTED in result.stdout


def test_export_to_a_folder_is_one_line(
    env: Settings, fake_ollama: FakeOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ask", "--thread", "t1", "Who cast the Quillmarsh tide bell?"], capsys)
    code, out, err = run(["threads", "export", "t1", "-o", str(tmp_path)], capsys)
    assert (code, out) == (1, "")
    assert err == f"Error: {tmp_path} is a folder — give a file name inside it, e.g. -o {tmp_path / 'thread.md'}\n"


def test_export_into_a_missing_folder_is_one_line(
    env: Settings, fake_ollama: FakeOllama, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ask", "--thread", "t1", "Who cast the Quillmarsh tide bell?"], capsys)
    target = tmp_path / "missing" / "dir" / "t1.md"
    code, out, err = run(["threads", "export", "t1", "-o", str(target)], capsys)
    assert (code, out) == (1, "")
    assert err == f"Error: The folder {target.parent} does not exist — create it first, or write somewhere else.\n"
    assert not (tmp_path / "missing").exists()


@pytest.fixture
def odd_names(env: Settings) -> Settings:
    """Documents whose names hold a newline and a tab."""
    (env.docs_dir / "two\nlines.md").write_text("# Pier\n\nThe pier lamp is lit at dusk.\n")
    (env.docs_dir / "tab\tbed.md").write_text("# Dock\n\nThe dock crane lifts nine tonnes.\n")
    return env


def test_a_name_holding_a_newline_or_tab_stays_on_one_row_of_sources(
    odd_names: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ingest"], capsys)
    code, out, _ = run(["sources"], capsys)
    assert code == 0
    rows = out.splitlines()
    assert len(rows) == 1 + 4 + 2  # header, four files, blank line, totals
    assert any(row.startswith("two\\nlines.md ") for row in rows)
    assert any(row.startswith("tab\\tbed.md ") for row in rows)


def test_a_wide_character_name_keeps_the_sources_columns_aligned(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    (env.docs_dir / "港の記録.md").write_text("# Pier\n\nThe pier lamp is lit at dusk.\n")
    run(["ingest"], capsys)
    code, out, _ = run(["sources"], capsys)
    assert code == 0
    rows = out.split("\n\n")[0].splitlines()
    assert rows[0].split() == ["file", "chunks", "size", "indexed", "(UTC)"]
    wide = next(row for row in rows if row.startswith("港の記録.md "))
    starts = {on_screen(row[: re.search(r"indexed|\d{4}-\d\d-\d\d", row).start()]) for row in rows}
    assert len(starts) == 1, rows  # the date column starts at one place on screen, each of 港の記録 taking two cells
    assert wide.split()[1:4] == ["1", "38", "B"]


def on_screen(text: str) -> int:
    """Return how many terminal cells ``text`` takes (East Asian wide characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def test_sizes_are_decimal_and_never_show_a_thousand_of_a_unit() -> None:
    assert [human_size(n) for n in (0, 999, 1000, 2048, 5_300_000)] == ["0 B", "999 B", "1.0 kB", "2.0 kB", "5.3 MB"]
    assert human_size(999_999) == "1.0 MB"  # not "1000.0 kB"


def test_a_name_holding_a_newline_stays_on_one_line_of_the_skipped_list(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    (env.docs_dir / "blank\nname.txt").write_text("")
    code, out, _ = run(["ingest"], capsys)
    assert code == 0
    assert out.splitlines()[1:] == ["  skipped blank\\nname.txt: empty"]


def test_a_name_holding_a_newline_stays_on_one_line_of_search_results(
    odd_names: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["ingest"], capsys)
    code, out, _ = run(["search", "pier", "lamp", "dusk"], capsys)
    assert code == 0
    assert out.splitlines()[1].startswith("  [1] two\\nlines.md “Pier” · lines 1–3 — strong match")
    assert out.splitlines()[2] == "      Pier The pier lamp is lit at dusk."


LONG_ANSWER = "".join(f"Line {n}: the pier lamp is lit at dusk [1].\n" for n in range(1, 301))
LAMP = "When is the pier lamp lit at dusk by the keeper?"


@pytest.fixture
def lamps(env: Settings) -> Assistant:
    """An index of 80 files: more than a pipe holds in `sources`, and 50 search results."""
    for n in range(1, 81):
        name = f"lamp-keepers-log-{n:03}-from-the-old-harbour-office.md"
        (env.docs_dir / name).write_text(f"# Lamp {n}\n\nThe pier lamp number {n} is lit at dusk by the keeper.\n")
    assistant = Assistant(env)
    assistant.ensure_index()
    return assistant


def first_line_then_close(argv: list[str], settings: Settings) -> tuple[str, str, int]:
    """Run ragchat with stdout into a small pipe whose reader leaves after one line, like ``| head -1``."""
    reader, writer = os.pipe()
    fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, 4096)  # the smallest pipe: every command below writes more than this
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", *argv],
        stdout=writer,
        stderr=subprocess.PIPE,
        env={**os.environ, "OLLAMA_HOST": settings.ollama_host},
        cwd=Path(__file__).parents[1],
    )
    os.close(writer)
    line = b""
    while not line.endswith(b"\n") and (byte := os.read(reader, 1)):
        line += byte
    os.close(reader)
    _, err = process.communicate(timeout=120)
    return line.decode(), err.decode(), process.returncode


@pytest.mark.parametrize(
    ("argv", "first"),
    [
        (["search", "pier", "lamp", "--k", "50", "--mode", "keyword"], "Top 50 (keyword search):"),
        (["sources"], "file chunks size indexed (UTC)"),
        (["ask", "--thread", "long", LAMP], "Line 1: the pier lamp is lit at dusk [1]."),
    ],
    ids=["search", "sources", "ask"],
)
def test_output_cut_short_by_the_reader_ends_quietly(
    lamps: Assistant, fake_ollama: FakeOllama, argv: list[str], first: str
) -> None:
    fake_ollama.enqueue(LONG_ANSWER)
    line, err, code = first_line_then_close(argv, lamps.settings)
    assert " ".join(line.split()) == first
    assert err == ""
    assert code == 0  # as ripgrep: the reader took what it wanted


def test_threads_and_an_export_cut_short_end_quietly(lamps: Assistant, fake_ollama: FakeOllama) -> None:
    for n in range(30):  # long names: 30 rows are more than a pipe holds
        lamps.ask(LAMP, f"lamp-{n:02}-" + "keeper" * 20).run()
    fake_ollama.enqueue(LONG_ANSWER)
    lamps.ask(LAMP, "long").run()
    for argv, first in (
        (["threads"], "id title messages updated (UTC)"),
        (["threads", "export", "long"], f"# {LAMP}"),
    ):
        line, err, code = first_line_then_close(argv, lamps.settings)
        assert (" ".join(line.split()), err, code) == (first, "", 0)
