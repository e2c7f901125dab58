"""Uploads land in the documents folder under safe names and are indexed; nothing is overwritten."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.assistant import Assistant
from knowledge.errors import RagchatError
from knowledge.uploads import safe_name, save_upload


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../x.txt", "x.txt"),
        ("/etc/cron.d/evil.md", "evil.md"),
        ("C:\\Windows\\system.ini.txt", "system.ini.txt"),
        ("..", "upload"),
        ("  .env.md", "env.md"),
        ("notes<script>.html", "notes_script_.html"),
        ("Quarterly report (final).pdf", "Quarterly report (final).pdf"),
        ("Brønnum ü.docx", "Brønnum ü.docx"),
        ("x" * 300 + ".md", "x" * 117 + ".md"),
    ],
)
def test_safe_names(name: str, expected: str) -> None:
    assert safe_name(name) == expected


def test_traversal_stays_inside_the_folder(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    saved = save_upload(docs, "../../outside.txt", b"hello")
    assert saved.path == docs / "outside.txt" and saved.status == "saved"
    assert not (tmp_path / "outside.txt").exists()


def test_same_name_different_content_gets_a_new_name(tmp_path: Path) -> None:
    first = save_upload(tmp_path, "notes.md", b"one")
    second = save_upload(tmp_path, "notes.md", b"two")
    third = save_upload(tmp_path, "notes.md", b"three")
    assert (first.path.name, second.path.name, third.path.name) == ("notes.md", "notes (2).md", "notes (3).md")
    assert (second.status, first.path.read_bytes()) == ("renamed", b"one")


def test_same_content_is_reused(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    save_upload(docs, "notes.md", b"one")
    again = save_upload(docs, "notes.md", b"one")
    assert (again.status, sorted(p.name for p in docs.iterdir())) == ("unchanged", ["notes.md"])


def test_unsupported_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RagchatError, match="photo.jpg is not a supported file type — upload .txt, .md"):
        save_upload(tmp_path / "docs", "photo.jpg", b"\xff\xd8")
    assert not (tmp_path / "docs").exists()


def test_assistant_upload_saves_and_indexes(assistant: Assistant) -> None:
    result = assistant.upload([("tides.md", b"# Tides\n\nHigh tide is at 06:40.\n"), ("../x.txt", b"Gulls nest here.")])
    assert [item.path.name for item in result.saved] == ["tides.md", "x.txt"]
    assert sorted(result.ingest.report.added) == ["tides.md", "x.txt"]
    assert assistant.search("tide", mode="keyword")[0].metadata["source"] == "tides.md"


def test_a_bad_file_in_a_batch_saves_nothing(assistant: Assistant) -> None:
    with pytest.raises(RagchatError, match="run.exe is not a supported file type"):
        assistant.upload([("ok.md", b"fine"), ("run.exe", b"MZ")])
    assert not (assistant.settings.docs_dir / "ok.md").exists()


def test_forget_with_delete_files_only_touches_the_documents_folder(assistant: Assistant, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.md"
    outside.write_text("# Elsewhere\n\nA file outside the documents folder.\n")
    assistant.ingest([outside])
    assistant.forget(["notes/market.txt", str(outside)], delete_files=True)
    assert not (assistant.settings.docs_dir / "notes" / "market.txt").exists()
    assert outside.exists()


LONG_NAMES = ["é" * 200 + ".md", "報告" * 100 + ".txt", "a" * 10 + "語" * 100 + ".md", "\U00020000" * 100 + ".md"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (LONG_NAMES[0], "é" * 117 + ".md"),  # 117 characters (234 bytes): the character limit comes first
        (LONG_NAMES[1], "報告" * 39 + ".txt"),  # 78 three-byte characters: 234 bytes + 4
        (LONG_NAMES[2], "a" * 10 + "語" * 75 + ".md"),  # the byte limit falls inside a character: it goes whole
        (LONG_NAMES[3], "\U00020000" * 59 + ".md"),  # four-byte characters
    ],
)
def test_a_long_multibyte_name_is_shortened_by_bytes_keeping_whole_characters(name: str, expected: str) -> None:
    assert safe_name(name) == expected
    assert len(expected.encode()) <= 240  # room left for " (2)" under the 255-byte file-name limit


@pytest.mark.parametrize("name", LONG_NAMES[:2])
def test_a_long_multibyte_name_is_saved_renamed_and_indexed(assistant: Assistant, name: str) -> None:
    result = assistant.upload([(name, b"# Tides\n\nHigh tide is at 06:40.\n")])
    again = assistant.upload([(name, b"# Gulls\n\nGulls nest on the pier.\n")])
    first, second = result.saved[0].path, again.saved[0].path
    assert (first.is_file(), second.is_file(), again.saved[0].status) == (True, True, "renamed")
    assert second.name == f"{first.stem} (2){first.suffix}"
    assert assistant.search("tide", mode="keyword")[0].metadata["source"] == first.name
    assert assistant.search("gulls", mode="keyword")[0].metadata["source"] == second.name
