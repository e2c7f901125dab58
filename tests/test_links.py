"""Symbolic links, special files and unreadable folders: the documents folder is a fence.

A link that resolves outside the folder being indexed is skipped and listed with the
reason; a link inside it is the file (or folder) it points to, each file indexed once,
however many ways lead to it. Named pipes, devices and sockets are never opened. A
sub-folder that cannot be read is listed, and what the index holds from it is kept.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from tests.fake_ollama import FakeOllama
from tests.test_disk_faults import run_without_root_powers
from ui.cli import main

SECRET = "Zorbulent passphrase: marmalade-cobalt-quince."


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the documents folder, holding a secret file."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET + "\n")
    return folder


def ingest(settings: Settings) -> tuple[list[str], list[tuple[str, str]]]:
    report = Assistant(settings).ingest().report
    return sorted(report.added), sorted(report.skipped)


def test_a_link_to_a_file_outside_is_skipped_with_the_reason(settings: Settings, outside: Path) -> None:
    (settings.docs_dir / "notes.txt").symlink_to(outside / "secret.txt")
    (settings.docs_dir / "passwd.txt").symlink_to("/etc/passwd")
    added, skipped = ingest(settings)
    assert added == ["harbour.md", "notes/market.txt"]
    assert skipped == [
        ("notes.txt", "link to a file outside the documents folder"),
        ("passwd.txt", "link to a file outside the documents folder"),
    ]
    assert Assistant(settings).search("Zorbulent passphrase", mode="keyword") == []


def test_a_link_to_a_folder_outside_is_skipped_with_the_reason(settings: Settings, outside: Path) -> None:
    (settings.docs_dir / "elsewhere").symlink_to(outside)
    added, skipped = ingest(settings)
    assert added == ["harbour.md", "notes/market.txt"]
    assert skipped == [("elsewhere/", "link to a folder outside the documents folder")]


def test_a_link_out_of_a_linked_folder_is_skipped_too(settings: Settings, outside: Path) -> None:
    archive = settings.docs_dir / ".archive"
    archive.mkdir()
    (archive / "old.md").symlink_to(outside / "secret.txt")
    (settings.docs_dir / "archive").symlink_to(".archive")
    assert ingest(settings)[1] == [("archive/old.md", "link to a file outside the documents folder")]


def test_a_link_given_by_name_is_fenced_like_one_found_in_the_folder(settings: Settings, outside: Path) -> None:
    link = settings.docs_dir / "notes.txt"
    link.symlink_to(outside / "secret.txt")
    app = Assistant(settings)
    app.ingest()
    assert app.ingest([link]).report.skipped == [("notes.txt", "link to a file outside the documents folder")]
    assert "notes.txt" not in app.load_index().files


def test_a_link_inside_is_indexed_like_its_target_and_only_once(settings: Settings) -> None:
    (settings.docs_dir / "alias.md").symlink_to("harbour.md")
    (settings.docs_dir / "more").symlink_to("notes")
    added, skipped = ingest(settings)
    assert (added, skipped) == (["harbour.md", "notes/market.txt"], [])
    assert Assistant(settings).load_index().chunk_count == 4


def test_a_linked_hidden_file_or_folder_inside_is_indexed_under_the_link(settings: Settings) -> None:
    hidden = settings.docs_dir / ".versions"
    hidden.mkdir()
    (hidden / "v3.md").write_text("# Tides\n\nHigh tide is at 06:40.\n")
    (settings.docs_dir / "current.md").symlink_to(".versions/v3.md")
    (settings.docs_dir / "versions").symlink_to(".versions")
    added, _ = ingest(settings)
    assert added == ["current.md", "harbour.md", "notes/market.txt"]


def test_link_loops_end(settings: Settings) -> None:
    (settings.docs_dir / "notes" / "up").symlink_to("..")
    (settings.docs_dir / "self").symlink_to(".")
    (settings.docs_dir / "a").symlink_to("b")
    (settings.docs_dir / "b").symlink_to("a")
    added, skipped = ingest(settings)
    assert added == ["harbour.md", "notes/market.txt"]
    assert skipped == []


def test_a_broken_link_is_listed(settings: Settings) -> None:
    (settings.docs_dir / "gone.md").symlink_to("nowhere.md")
    assert ingest(settings)[1] == [("gone.md", "broken link")]


def test_a_named_pipe_in_the_folder_is_skipped_without_opening_it(settings: Settings) -> None:
    os.mkfifo(settings.docs_dir / "pipe.txt")
    added, skipped = ingest(settings)
    assert (added, skipped) == (["harbour.md", "notes/market.txt"], [("pipe.txt", "not a regular file")])


@pytest.mark.timeout(20)
def test_a_named_pipe_given_by_name_is_skipped_at_once(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest"]) == 0
    os.mkfifo(env.docs_dir / "fifo.txt")
    capsys.readouterr()
    assert main(["ingest", str(env.docs_dir / "fifo.txt")]) == 0
    assert capsys.readouterr().out.endswith("\n  skipped fifo.txt: not a regular file\n")


@pytest.fixture
def unix_socket(settings: Settings) -> Iterator[Path]:
    path = settings.docs_dir / "talk.md"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        yield path


def test_a_socket_is_skipped(settings: Settings, unix_socket: Path) -> None:
    assert ingest(settings)[1] == [("talk.md", "not a regular file")]
    assert Assistant(settings).ingest([unix_socket]).report.skipped == [("talk.md", "not a regular file")]


def test_a_device_is_skipped(settings: Settings) -> None:
    device = settings.docs_dir / "zero.txt"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))  # /dev/null's numbers
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD")
    assert ingest(settings)[1] == [("zero.txt", "not a regular file")]
    assert Assistant(settings).ingest([device]).report.skipped == [("zero.txt", "not a regular file")]


def test_an_unreadable_sub_folder_is_listed_and_its_indexed_files_kept(env: Settings, fake_ollama: FakeOllama) -> None:
    assert main(["ingest"]) == 0
    notes = env.docs_dir / "notes"
    notes.chmod(0)
    try:
        done = run_without_root_powers(["ingest"], fake_ollama)
    finally:
        notes.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["  skipped notes/: folder cannot be read (permission denied)"]
    assert done.stdout.startswith("0 added, 0 updated, 0 removed, 1 unchanged, 1 skipped")
    assert sorted(Assistant(env).load_index().files) == ["harbour.md", "notes/market.txt"]


def test_a_file_replaced_by_a_link_out_is_dropped_from_the_index(settings: Settings, outside: Path) -> None:
    notes = settings.docs_dir / "notes.txt"
    notes.write_text("Harmless notes.\n")
    app = Assistant(settings)
    app.ingest()
    notes.unlink()
    notes.symlink_to(outside / "secret.txt")
    report = app.ingest().report
    assert report.removed == ["notes.txt"]
    assert report.skipped == [("notes.txt", "link to a file outside the documents folder")]
    assert "notes.txt" not in app.load_index().files


def test_a_linked_folder_given_by_name_is_fenced_too(settings: Settings, outside: Path) -> None:
    (settings.docs_dir / "elsewhere").symlink_to(outside)
    app = Assistant(settings)
    app.ingest()
    report = app.ingest([settings.docs_dir / "elsewhere"]).report
    assert (report.added, report.skipped) == ([], [("elsewhere/", "link to a folder outside the documents folder")])
