"""Ingest progress moves within one big file: reading, splitting, then embedding batch by batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.ingest import IngestProgress
from tests.test_index import write_long_files
from ui.app import progress_callback
from ui.cli import main


def big_file(settings: Settings) -> Path:
    """One file of 150 chunks (150 paragraphs of about 700 characters) in the documents folder."""
    write_long_files(settings.docs_dir / "big", 1, paragraphs=150)
    return settings.docs_dir / "big" / "long0.txt"


def ingest_big_file(settings: Settings) -> list[IngestProgress]:
    seen: list[IngestProgress] = []
    Assistant(settings).ingest([big_file(settings)], progress=seen.append)
    return seen


def phases(seen: list[IngestProgress]) -> list[str]:
    """The phases in the order they were reported, each once."""
    order: list[str] = []
    for p in seen:
        if not order or order[-1] != p.phase:
            order.append(p.phase)
    return order


def test_one_big_file_is_read_then_split_then_embedded(settings: Settings) -> None:
    seen = ingest_big_file(settings)
    assert phases(seen) == ["reading", "splitting", "embedding"]
    assert {p.file for p in seen if p.phase != "embedding"} == {"big/long0.txt"}


def test_reading_names_the_file_and_its_place(settings: Settings) -> None:
    first = ingest_big_file(settings)[0]
    assert (first.phase, first.file, first.files_done, first.files_total) == ("reading", "big/long0.txt", 0, 1)


def test_splitting_counts_the_chunks_found_so_far(settings: Settings) -> None:
    splitting = [p for p in ingest_big_file(settings) if p.phase == "splitting"]
    assert [p.chunks_done for p in splitting] == [0, 64, 128, 150]  # every 64 found, then the end


def test_splitting_reports_characters_of_the_whole_file(settings: Settings) -> None:
    splitting = [p for p in ingest_big_file(settings) if p.phase == "splitting"]
    size = len((settings.docs_dir / "big" / "long0.txt").read_text())
    assert {p.chars_total for p in splitting} == {size}
    assert (splitting[0].chars_done, splitting[-1].chars_done) == (0, size)
    assert [p.chars_done for p in splitting] == sorted(p.chars_done for p in splitting)


def test_embedding_moves_per_batch_while_the_file_count_stays_0_of_1(settings: Settings) -> None:
    embedding = [p for p in ingest_big_file(settings) if p.phase == "embedding"]
    assert [(p.chunks_done, p.chunks_total) for p in embedding] == [(n, 150) for n in (0, 64, 128, 150)]
    assert [p.files_done for p in embedding] == [0, 0, 0, 1]
    assert {(p.files_total, p.file) for p in embedding} == {(1, "big/long0.txt")}


def test_unchanged_files_report_nothing(settings: Settings) -> None:
    ingest_big_file(settings)
    seen: list[IngestProgress] = []
    Assistant(settings).ingest(progress=seen.append)  # the corpus is new: read, split, embedded
    seen.clear()
    Assistant(settings).ingest(progress=seen.append)
    assert seen == []


def test_the_cli_bar_shows_each_phase(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    path = big_file(env)
    assert main(["ingest", str(path)]) == 0
    err = capsys.readouterr().err
    assert "\rReading big/long0.txt: 0 chunks found, files 0/1\r" in err  # counts in a phase: tqdm's pace
    assert "\rSplitting big/long0.txt: 0 chunks found, files 0/1\r" in err
    assert "Embedding: 100%" in err and "150/150" in err and "files 1/1" in err
    assert err.index("Reading") < err.index("Splitting") < err.index("Embedding")


def test_a_file_name_with_an_escape_sequence_is_shown_escaped_in_the_bar(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    path = env.docs_dir / "title\x1b]0;owned\x07.txt"
    path.write_text("A note about the tide bell.\n")
    assert main(["ingest", str(path)]) == 0
    err = capsys.readouterr().err
    assert "\rReading title\\x1b]0;owned\\x07.txt: 0 chunks found, files 0/1\r" in err
    assert "\x1b" not in err and "\x07" not in err


class RecordingBar:
    """Stands in for ``st.progress``: records each (share, text) it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def progress(self, value: float, text: str) -> None:
        self.calls.append((value, text))


def test_the_page_bar_says_each_phase(settings: Settings) -> None:
    bar = RecordingBar()
    Assistant(settings).ingest([big_file(settings)], progress=progress_callback(bar))
    texts = [text for _, text in bar.calls]  # Markdown: the file name's "." is escaped, shown as "."
    assert texts[0] == "Reading big/long0\\.txt (file 1 of 1)…"
    assert texts[1] == "Splitting big/long0\\.txt: 0 chunks so far…"
    assert texts[3] == "Splitting big/long0\\.txt: 128 chunks so far…"
    assert texts[-1] == "Embedding: 150 of 150 chunks, 1 of 1 files"
    assert all(0.0 <= share <= 1.0 for share, _ in bar.calls)
