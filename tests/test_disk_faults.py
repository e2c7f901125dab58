"""A full, read-only or forbidden disk under the index is a fault of the place, not damage.

Nothing is renamed or lost; the user gets one line saying what to do, and the next command
after the cause is gone works. The faults are real: a small tmpfs mounted for the test
(full), the same remounted read-only (root ignores permission bits, not a read-only
mount), and a process without the capabilities that let root ignore permission bits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama
from tests.indexes import stored
from tests.mounts import fill, read_only, remount, small_disk
from tests.test_index import write_long_files
from ui.cli import main

ROOT = Path(__file__).parents[1]
SEARCH = ["search", "Quillmarsh bell"]


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs, unmounted afterwards."""
    with small_disk(tmp_path / "disk", "1m") as point:
        yield point


@pytest.fixture
def home_on_disk(
    env: Settings, disk: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Settings:
    """The data folder on the small disk, with the test corpus indexed."""
    settings = env.model_copy(update={"home": disk / "home"})
    monkeypatch.setenv("RAGCHAT_HOME", str(settings.home))
    assert main(["ingest"]) == 0
    capsys.readouterr()
    return settings


def error_line(err: str) -> str:
    """Return the one line printed after the progress bar (which tqdm draws with carriage returns)."""
    *bar, line, end = err.split("\n")
    assert end == "" and all(row.startswith("\r") for row in bar), err
    return line


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def indexed(settings: Settings) -> tuple[list[str], list[str]]:
    """What a restarted ragchat finds in the index: the files, and every chunk's id."""
    index = Assistant(settings).load_index()
    return sorted(index.files), sorted(chunk.id for chunk in stored(index))


@pytest.mark.parametrize("leave", [0, 8192], ids=["no byte free", "a few kB free"])
def test_disk_full_during_ingest_is_one_line_and_keeps_the_index(
    home_on_disk: Settings, disk: Path, capsys: pytest.CaptureFixture[str], leave: int
) -> None:
    before = indexed(home_on_disk)
    write_long_files(home_on_disk.docs_dir / "long", 2)
    fill(disk, leave)
    assert main(["ingest"]) == 1
    home = home_on_disk.home
    assert error_line(capsys.readouterr().err) == f"Error: The disk holding {home} is full — free space and try again."
    assert indexed(home_on_disk) == before  # the commit that did not fit was rolled back whole
    assert list(home_on_disk.home.glob("*.damaged-*")) == []
    assert main(SEARCH) == 0


def test_after_freeing_space_the_ingest_completes(
    home_on_disk: Settings, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_long_files(home_on_disk.docs_dir / "long", 2)
    filler = fill(disk)
    assert main(["ingest"]) == 1
    filler.unlink()
    capsys.readouterr()
    assert main(["ingest"]) == 0
    assert capsys.readouterr().out.startswith("2 added, 0 updated, 0 removed, 2 unchanged (40 chunks embedded).")
    assert main(["search", "w1x3y7"]) == 0
    assert "long/long1.txt" in capsys.readouterr().out


def test_a_running_assistant_keeps_serving_the_saved_index_after_a_full_disk(
    home_on_disk: Settings, disk: Path
) -> None:
    app = Assistant(home_on_disk)  # the web page's long-lived object
    before = sorted(app.load_index().files)
    write_long_files(home_on_disk.docs_dir / "long", 2)
    fill(disk)
    with pytest.raises(RagchatError, match="^The disk holding .* is full — free space and try again.$"):
        app.ingest()
    assert sorted(app.load_index().files) == before  # not the copy that could not be saved
    assert app.load_index().chunk_count == 4


def test_disk_full_during_forget_keeps_the_file_indexed(
    home_on_disk: Settings, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(disk)
    assert main(["forget", "harbour.md"]) == 1
    home = home_on_disk.home
    assert capsys.readouterr().err == f"Error: The disk holding {home} is full — free space and try again.\n"
    assert main(["sources"]) == 0
    assert "harbour.md" in capsys.readouterr().out


def test_read_only_data_folder_ingest_is_one_line(
    home_on_disk: Settings, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home_on_disk.docs_dir / "tides.md").write_text("High tide is at 06:40.\n")
    before = snapshot(home_on_disk.home)
    remount(disk, "ro")
    assert main(["ingest"]) == 1
    home = home_on_disk.home
    assert capsys.readouterr().err == (
        f"Error: {home} is read-only — make it writable, or use another folder, and try again.\n"
    )
    assert snapshot(home_on_disk.home) == before
    assert main(SEARCH) == 0  # reading still works


def test_read_only_damaged_index_is_not_renamed_by_a_rebuild(
    home_on_disk: Settings, disk: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home_on_disk.index_path.write_text("null")
    remount(disk, "ro")
    assert main(["ingest", "--rebuild"]) == 1
    home = home_on_disk.home
    assert capsys.readouterr().err == (
        f"Error: {home} is read-only — make it writable, or use another folder, and try again.\n"
    )
    assert home_on_disk.index_path.read_text() == "null"
    remount(disk, "rw")
    assert main(["ingest", "--rebuild"]) == 0
    assert len(list(home.glob("knowledge.damaged-*.sqlite"))) == 1


def test_read_only_index_file_ingest_is_one_line(
    env: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest"]) == 0
    index = env.index_path
    with read_only(index):
        (env.docs_dir / "tides.md").write_text("High tide is at 06:40.\n")
        capsys.readouterr()
        assert main(["ingest"]) == 1
        assert error_line(capsys.readouterr().err) == (
            f"Error: {index} is read-only — make it writable, or use another folder, and try again."
        )
        assert main(SEARCH) == 0


def run_without_root_powers(args: list[str], fake: FakeOllama) -> subprocess.CompletedProcess[str]:
    """Run the CLI without the capabilities that let root ignore permission bits."""
    command = [sys.executable, "-m", "ui.cli", *args]
    if os.geteuid() == 0:
        command = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--", *command]
    env = {**os.environ, "OLLAMA_HOST": fake.url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_unreadable_index_is_a_permission_error_and_is_not_renamed(
    env: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest"]) == 0
    env.index_path.chmod(0)
    try:
        for args in (SEARCH, ["ingest", "--rebuild"]):
            done = run_without_root_powers(args, fake_ollama)
            assert (done.returncode, done.stderr) == (
                1,
                f"Error: ragchat is not allowed to use {env.index_path} (permission denied) — give your user "
                "access to it, or use another folder, and try again.\n",
            )
        assert list(env.home.glob("*.damaged-*")) == []
    finally:
        env.index_path.chmod(0o644)
    assert main(SEARCH) == 0


def read_only_message(folder: Path) -> str:
    return f"{folder} is read-only — make it writable, or use another folder, and try again."


def test_an_upload_into_a_read_only_documents_folder_is_one_line(assistant: Assistant) -> None:
    docs = assistant.settings.docs_dir
    before = sorted(assistant.load_index().files)
    with read_only(docs), pytest.raises(RagchatError) as raised:
        assistant.upload([("tides.md", b"# Tides\n\nHigh tide is at 06:40.\n")])
    assert str(raised.value) == read_only_message(docs)
    assert sorted(assistant.load_index().files) == before and not (docs / "tides.md").exists()


def test_an_upload_onto_a_full_disk_is_one_line_and_leaves_no_partial_file(
    assistant: Assistant, tmp_path: Path
) -> None:
    with small_disk(tmp_path / "updisk", "1m") as docs:
        uploading = Assistant(assistant.settings.model_copy(update={"docs_dir": docs}))
        filler = fill(docs, leave=2048)
        with pytest.raises(RagchatError) as raised:
            uploading.upload([("big.md", b"# Big\n\n" + b"tide " * 4000)])
        assert str(raised.value) == f"The disk holding {docs} is full — free space and try again."
        assert sorted(p.name for p in docs.iterdir()) == [filler.name]


def test_removing_documents_from_a_read_only_folder_changes_nothing(assistant: Assistant) -> None:
    docs = assistant.settings.docs_dir
    with read_only(docs), pytest.raises(RagchatError) as raised:
        assistant.forget(["harbour.md"], delete_files=True)
    assert str(raised.value) == read_only_message(docs)
    assert "harbour.md" in Assistant(assistant.settings).load_index().files and (docs / "harbour.md").exists()
