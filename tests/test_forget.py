"""Forgetting documents: out of the index and kept out of folder ingests until named again."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.errors import RagchatError
from tests.conftest import CORPUS
from ui.cli import main

MARKET = "notes/market.txt"


def indexed(settings: Settings) -> list[str]:
    """The files the saved index lists, as a fresh process sees them."""
    return sorted(Assistant(settings).load_index().files)


# -- the assistant ----------------------------------------------------------------------------
def test_a_forgotten_file_stays_out_of_the_next_folder_ingest(assistant: Assistant) -> None:
    assistant.forget([MARKET])
    report = Assistant(assistant.settings).ingest().report  # another process, the whole documents folder
    assert (report.added, report.unchanged, report.forgotten) == ([], 1, [MARKET])
    assert indexed(assistant.settings) == ["harbour.md"]


def test_forgetting_a_folder_keeps_the_files_under_it_out(assistant: Assistant) -> None:
    assert assistant.forget([str(assistant.settings.docs_dir / "notes")]) == [MARKET]
    assert assistant.ingest().report.forgotten == [MARKET]
    assert indexed(assistant.settings) == ["harbour.md"]


def test_naming_the_file_adds_it_back(assistant: Assistant) -> None:
    assistant.forget([MARKET])
    assert assistant.ingest([assistant.settings.docs_dir / MARKET]).report.added == [MARKET]
    report = assistant.ingest().report
    assert (report.added, report.unchanged, report.forgotten) == ([], 2, [])


def test_naming_a_sub_folder_adds_back_the_files_under_it(assistant: Assistant) -> None:
    assistant.forget([MARKET])
    assert assistant.ingest([assistant.settings.docs_dir / "notes"]).report.added == [MARKET]
    assert indexed(assistant.settings) == ["harbour.md", MARKET]


def test_a_source_name_from_another_folder_adds_it_back(assistant: Assistant) -> None:
    assistant.forget([MARKET])  # the tests run in an empty working folder: the name is the documents folder's
    assert assistant.ingest([MARKET]).report.added == [MARKET]


def test_an_upload_of_the_same_name_adds_it_back(assistant: Assistant) -> None:
    assistant.forget(["harbour.md"])
    result = assistant.upload([("harbour.md", CORPUS["harbour.md"].encode())])
    assert [item.status for item in result.saved] == ["unchanged"]
    assert result.ingest.report.added == ["harbour.md"]


def test_delete_files_deletes_and_keeps_nothing_out(assistant: Assistant) -> None:
    docs = assistant.settings.docs_dir
    assert assistant.forget([MARKET], delete_files=True) == [MARKET]
    assert not (docs / MARKET).exists()
    (docs / MARKET).write_text("Market day\n\nA new list of stalls.\n")  # a new file of that name
    assert assistant.ingest().report.added == [MARKET]


def test_delete_files_never_deletes_a_file_outside_and_keeps_it_out(assistant: Assistant, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "far.md").write_text("# Far\n\nA file outside the documents folder.\n")
    assistant.ingest([outside])
    far = (outside / "far.md").as_posix()
    assert assistant.forget([far], delete_files=True) == [far]
    assert (outside / "far.md").exists() and assistant.load_index().forgotten == {far}
    assert assistant.ingest([outside]).report.forgotten == [far]  # refreshed as a whole, like the documents folder
    assert assistant.ingest([outside / "far.md"]).report.added == [far]


def test_a_forgotten_file_deleted_and_made_again_stays_out_by_name(assistant: Assistant) -> None:
    docs = assistant.settings.docs_dir
    assistant.forget([MARKET])
    (docs / MARKET).unlink()
    assert assistant.ingest().report.forgotten == []  # nothing on disk to leave out
    (docs / MARKET).write_text("Market day\n\nA new list of stalls.\n")
    assert assistant.ingest().report.forgotten == [MARKET]


def test_a_rebuild_keeps_forgotten_files_out(assistant: Assistant) -> None:
    assistant.forget([MARKET])
    report = assistant.ingest(rebuild=True).report
    assert (report.added, report.forgotten) == (["harbour.md"], [MARKET])


def test_forgetting_a_forgotten_file_says_how_to_add_it_back(assistant: Assistant) -> None:
    assistant.forget([MARKET])
    with pytest.raises(RagchatError) as raised:
        assistant.forget([MARKET])
    assert str(raised.value) == (
        f"{MARKET} is not in the index: it was forgotten — `ragchat ingest {MARKET}` adds it back."
    )


def test_forgetting_every_file_then_ingesting_says_all_are_forgotten(assistant: Assistant) -> None:
    assistant.forget(["harbour.md", MARKET])
    with pytest.raises(RagchatError) as raised:
        assistant.ingest()
    assert str(raised.value) == (
        f"Every document in {assistant.settings.docs_dir} is forgotten (2 files) — "
        "`ragchat sources --forgotten` lists them, `ragchat ingest FILE` adds one back."
    )


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def flags(assistant: Assistant) -> list[str]:
    s = assistant.settings
    return ["--home", str(s.home), "--docs", str(s.docs_dir), "--ollama-host", s.ollama_host]


def test_cli_forget_says_the_file_stays_out(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forget", MARKET, *flags]) == 0
    assert capsys.readouterr().out == (
        f"Removed 1 file from the index: {MARKET}\n"
        f"`ragchat ingest` leaves it out from now on; `ragchat ingest {MARKET}` adds it back.\n"
    )


def test_cli_ingest_says_once_that_a_forgotten_file_was_left_out(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["forget", MARKET, *flags])
    capsys.readouterr()
    assert main(["ingest", *flags]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        f"1 forgotten file left out ({MARKET}) — `ragchat ingest {MARKET}` adds it back."
    ]


def test_cli_ingest_counts_several_forgotten_files(
    flags: list[str], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "tides.md").write_text("# Tides\n\nHigh tide is at 06:40.\n")
    main(["ingest", *flags])
    main(["forget", MARKET, "tides.md", *flags])
    capsys.readouterr()
    assert main(["ingest", *flags]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "2 forgotten files left out — `ragchat sources --forgotten` lists them, `ragchat ingest FILE` adds one back."
    ]


def test_cli_ingest_of_the_file_adds_it_back(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    main(["forget", MARKET, *flags])
    capsys.readouterr()
    assert main(["ingest", MARKET, *flags]) == 0
    assert capsys.readouterr().out.startswith("1 added, 0 updated, 0 removed, 0 unchanged")
    assert main(["ingest", *flags]) == 0
    assert "forgotten" not in capsys.readouterr().out


def test_cli_sources_counts_forgotten_files_in_its_footer(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    main(["forget", MARKET, *flags])
    capsys.readouterr()
    assert main(["sources", *flags]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "1 file, 2 chunks, embeddings ollama/nomic-embed-text",
        "1 forgotten file is left out of the index — `ragchat sources --forgotten` lists it, "
        "`ragchat ingest FILE` adds one back.",
    ]


def test_cli_sources_forgotten_lists_them(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    main(["forget", "harbour.md", MARKET, *flags])
    capsys.readouterr()
    assert main(["sources", "--forgotten", *flags]) == 0
    assert capsys.readouterr().out == "harbour.md\nnotes/market.txt\n"


def test_cli_sources_forgotten_with_none_says_so(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sources", "--forgotten", *flags]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("", "No file is forgotten — `ragchat forget FILE` keeps one out of the index.\n")


def test_cli_sources_after_forgetting_everything_says_what_is_left_out(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    main(["forget", "harbour.md", MARKET, *flags])
    capsys.readouterr()
    assert main(["sources", *flags]) == 0
    assert capsys.readouterr().err == (
        "Nothing is indexed: 2 forgotten files are left out of the index — `ragchat sources --forgotten` lists "
        "them, `ragchat ingest FILE` adds one back.\n"
    )


def test_cli_hints_quote_a_name_with_spaces(flags: list[str], corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (corpus / "my notes.md").write_text("# Notes\n\nBuy rope.\n")
    main(["ingest", *flags])
    capsys.readouterr()
    assert main(["forget", "my notes.md", *flags]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "`ragchat ingest` leaves it out from now on; `ragchat ingest 'my notes.md'` adds it back."
    )
    assert main(["ingest", *flags]) == 0
    assert capsys.readouterr().out.splitlines()[1] == (
        "1 forgotten file left out (my notes.md) — `ragchat ingest 'my notes.md'` adds it back."
    )
    assert main(["ingest", "my notes.md", *flags]) == 0
    assert capsys.readouterr().out.startswith("1 added,")
