"""Index recovery: damage is one line with the rebuild hint, a rebuild always works, an old index moves over.

Two kinds of index can be found in a data folder. The SQLite database ragchat writes now is
mangled in every way a disk or a hand can (a file that is not a database, one cut short, a
table gone, a vector of the wrong width or holding NaN, records that disagree with the
chunks, a newer schema): opening must say it is damaged and how to rebuild, in one line, and
``ragchat ingest --rebuild`` must set it aside (never delete it) and build a new one. An index
in the format before SQLite (``tests/data/legacy_index``, written by that version) is moved
into the database on first open without embedding anything; if it is damaged, the same one
line and the same rebuild apply.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.errors import IndexDamaged
from tests.fake_ollama import FakeOllama
from ui.cli import main

LEGACY = Path(__file__).parent / "data" / "legacy_index"

Mangle = Callable[[Path], None]
"""Damages an index in place (the database file, or the old format's ``index`` folder)."""


# -- the SQLite database ----------------------------------------------------------------------
def sql(*statements: str) -> Mangle:
    def mangle(path: Path) -> None:
        with sqlite3.connect(path) as db:
            for statement in statements:
                db.execute(statement)
        db.close()

    return mangle


def overwrite(offset: int, data: bytes) -> Mangle:
    def mangle(path: Path) -> None:
        with path.open("r+b") as f:
            f.seek(offset)
            f.write(data)

    return mangle


def cut(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)


NAN = np.full(768, np.nan, dtype="<f4").tobytes().hex()

DATABASE_DAMAGE: dict[str, Mangle] = {
    "header is garbage": overwrite(0, b"definitely not SQLite"),
    "file is cut in half": cut,
    "file is text": lambda path: path.write_text("hello"),
    "chunks table is gone": sql("PRAGMA foreign_keys = OFF", "DROP TABLE chunks"),
    "files table is gone": sql("DROP TABLE files"),
    "keyword table is gone": sql("DROP TABLE chunk_words"),
    "schema table is gone": sql("DROP TABLE ragchat_schema"),
    "embedder record is gone": sql("DELETE FROM meta WHERE key = 'info'"),
    "embedder record is not JSON": sql("UPDATE meta SET value = x'00ff' WHERE key = 'info'"),
    "embedder record lacks a field": sql("UPDATE meta SET value = '{\"dimension\": 768}' WHERE key = 'info'"),
    "a vector is cut short": sql("UPDATE chunks SET vector = substr(vector, 1, 10) WHERE id = 1"),
    "a vector holds NaN": sql(f"UPDATE chunks SET vector = x'{NAN}' WHERE id = 1"),
    "a record's chunk count disagrees": sql("UPDATE files SET chunks = chunks + 5"),
    "a newer ragchat made it": sql("INSERT INTO ragchat_schema VALUES (99, 'later')"),
}

DAMAGED = re.compile(
    r"Error: The index \S+knowledge\.sqlite [^\n]+ — (upgrade ragchat, or )?rebuild it with "
    r"`ragchat ingest --rebuild` \(the damaged file is kept aside, not deleted\)\.\n"
)


@pytest.fixture
def built(env: Settings, capsys: pytest.CaptureFixture[str]) -> Settings:
    """The test corpus indexed through the CLI (which has exited: the database is closed)."""
    assert main(["ingest"]) == 0
    capsys.readouterr()
    return env


@pytest.mark.parametrize("mangle", DATABASE_DAMAGE.values(), ids=list(DATABASE_DAMAGE))
def test_damage_is_one_line_with_the_rebuild_hint(
    built: Settings, capsys: pytest.CaptureFixture[str], mangle: Mangle
) -> None:
    mangle(built.index_path)
    assert main(["search", "Quillmarsh bell"]) == 1
    err = capsys.readouterr().err
    assert DAMAGED.fullmatch(err), err


@pytest.mark.parametrize("mangle", DATABASE_DAMAGE.values(), ids=list(DATABASE_DAMAGE))
def test_rebuild_sets_the_damage_aside_and_search_works(
    built: Settings, capsys: pytest.CaptureFixture[str], mangle: Mangle
) -> None:
    mangle(built.index_path)
    damaged = built.index_path.read_bytes()
    assert main(["ingest", "--rebuild"]) == 0
    err = capsys.readouterr().err
    kept = list(built.home.glob("knowledge.damaged-*.sqlite"))
    assert len(kept) == 1 and kept[0].read_bytes() == damaged  # set aside whole, never deleted
    assert f"Warning: The unreadable index was kept as {kept[0].name}; a new one is being built." in err
    assert main(["search", "Quillmarsh bell"]) == 0
    assert "harbour.md" in capsys.readouterr().out


def test_damage_is_raised_as_index_damaged(assistant: Assistant) -> None:
    assistant.knowledge.engine.close()
    assistant.settings.index_path.write_text("null")
    with pytest.raises(IndexDamaged):
        Assistant(assistant.settings).load_index()


def test_a_healthy_index_is_not_set_aside_by_a_rebuild(built: Settings) -> None:
    assert main(["ingest", "--rebuild"]) == 0
    assert list(built.home.glob("*.damaged-*")) == []


class FrozenClock(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        return datetime(2026, 12, 1, 4, 0, tzinfo=tz)


def test_two_rebuilds_in_one_second_keep_both_damaged_copies(built: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("knowledge.atomic.datetime", FrozenClock)  # where every damaged copy is named
    for _ in range(2):
        built.index_path.write_text("null")
        assert main(["ingest", "--rebuild"]) == 0
    assert sorted(p.name for p in built.home.glob("knowledge.damaged-*.sqlite")) == [
        "knowledge.damaged-20261201-040000-2.sqlite",
        "knowledge.damaged-20261201-040000.sqlite",
    ]


# -- an index in the format before SQLite -------------------------------------------------------
def generation(index: Path) -> Path:
    return index / json.loads((index / "current.json").read_text())["generation"]


def edit_json(relative: str, change: Callable[[object], object]) -> Mangle:
    def mangle(index: Path) -> None:
        path = index / relative if relative == "current.json" else generation(index) / relative
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return mangle


def edit_manifest(change: Callable[[dict], None]) -> Mangle:
    def changed(manifest: dict) -> dict:
        change(manifest)
        return manifest

    return edit_json("current.json", changed)


def edit_vectors(change: Callable[[np.ndarray], np.ndarray]) -> Mangle:
    def mangle(index: Path) -> None:
        path = generation(index) / "vectors.npy"
        np.save(path, change(np.load(path)), allow_pickle=False)

    return mangle


def truncate(relative: str, keep: int = 100) -> Mangle:
    def mangle(index: Path) -> None:
        path = generation(index) / relative
        path.write_bytes(path.read_bytes()[:keep])

    return mangle


def write(relative: str, data: bytes) -> Mangle:
    def mangle(index: Path) -> None:
        (generation(index) / relative).write_bytes(data)

    return mangle


def first_record(change: Callable[[dict], None]) -> Mangle:
    return edit_manifest(lambda m: change(next(iter(m["files"].values()))))


def records(change: Callable[[dict], None]) -> Mangle:
    def changed(data: dict) -> dict:
        change(data)
        return data

    return edit_json("records.json", changed)


def nan_row(vectors: np.ndarray) -> np.ndarray:
    vectors[0, 0] = np.nan
    return vectors


LEGACY_DAMAGE: dict[str, Mangle] = {
    "index folder is a file": lambda index: (shutil.rmtree(index), index.write_text("{}")),
    "manifest is a folder": lambda index: ((index / "current.json").unlink(), (index / "current.json").mkdir()),
    "manifest is empty": lambda index: (index / "current.json").write_bytes(b""),
    "manifest is not text": lambda index: (index / "current.json").write_bytes(b"\xff\xfe\x00{"),
    "manifest holds null": lambda index: (index / "current.json").write_text("null"),
    "manifest is truncated": lambda index: (index / "current.json").write_text('{"format": 2, "info": {"embed'),
    "manifest files is a list": edit_manifest(lambda m: m.update(files=list(m["files"]))),
    "manifest info is null": edit_manifest(lambda m: m.update(info=None)),
    "manifest format is text": edit_manifest(lambda m: m.update(format="2")),
    "manifest generation climbs out": edit_manifest(lambda m: m.update(generation="../..")),
    "manifest dimension disagrees with the vectors": edit_manifest(lambda m: m["info"].update(dimension=3)),
    "manifest forgotten is not a list": edit_manifest(lambda m: m.update(forgotten={})),
    "file record lacks a field": first_record(lambda r: r.pop("sha256")),
    "file record size is text": first_record(lambda r: r.update(size="big")),
    "file record chunk count disagrees": first_record(lambda r: r.update(chunks=r["chunks"] + 5)),
    "generation folder is missing": lambda index: shutil.rmtree(generation(index)),
    "vectors file is missing": lambda index: (generation(index) / "vectors.npy").unlink(),
    "vectors are truncated": truncate("vectors.npy"),
    "vectors have the wrong width": edit_vectors(lambda v: v[:, :5].copy()),
    "vectors have one row too many": edit_vectors(lambda v: np.vstack([v, v[:1]])),
    "vectors hold NaN": edit_vectors(nan_row),
    "records are not JSON": write("records.json", b"\x00\x01garbage"),
    "records ids repeat": records(lambda r: r.update(ids=[r["ids"][0]] * len(r["ids"]))),
    "records name an unknown file": records(lambda r: r["metadatas"][0].update(source="nowhere.md")),
}

OLD_DAMAGED = re.compile(
    r"Error: The index in \S+/index could not be moved to the new format \([^\n]+\) — rebuild it with "
    r"`ragchat ingest --rebuild` \(the unreadable index is kept aside, not deleted\)\.\n"
)


@pytest.fixture
def legacy(env: Settings) -> Settings:
    """A data folder holding the old-format index of the test corpus (harbour.md in, market forgotten)."""
    shutil.copytree(LEGACY, env.home / "index")
    return env


def test_an_old_index_is_moved_into_the_database_without_embedding(
    legacy: Settings, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    old = json.loads((LEGACY / "current.json").read_text())
    index = Assistant(legacy).load_index()
    assert (index.chunk_count, sorted(index.files), index.forgotten) == (2, ["harbour.md"], {"notes/market.txt"})
    assert index.files["harbour.md"].indexed_at == old["files"]["harbour.md"]["indexed_at"]  # its history kept
    assert (index.info.embedding, index.info.dimension, index.info.chunk_size) == ("ollama/nomic-embed-text", 768, 800)
    assert not (legacy.home / "index").exists() and legacy.index_path.exists()
    assert main(["search", "Quillmarsh bell"]) == 0
    assert "harbour.md" in capsys.readouterr().out
    assert fake_ollama.embedded_texts == ["search_query: Quillmarsh bell"]  # the query only: no chunk, no calibration
    vectors = np.load(LEGACY / "g000002" / "vectors.npy")
    with sqlite3.connect(legacy.index_path) as db:
        blobs = [row[0] for row in db.execute("SELECT vector FROM chunks ORDER BY id")]
    stored = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
    np.testing.assert_array_equal(stored, vectors)  # the very vectors, not new ones


def test_a_migration_cut_short_is_redone(legacy: Settings) -> None:
    (legacy.home / "knowledge.sqlite.migrating").write_bytes(b"half a database")
    assert Assistant(legacy).load_index().chunk_count == 2
    assert sorted(p.name for p in legacy.home.glob("*.sqlite*") if not p.name.endswith(("-wal", "-shm"))) == [
        "knowledge.sqlite"
    ]


def test_after_moving_an_ingest_embeds_only_what_is_new(legacy: Settings, fake_ollama: FakeOllama) -> None:
    report = Assistant(legacy).ingest().report
    assert (report.added, report.updated, report.unchanged, report.forgotten) == ([], [], 1, ["notes/market.txt"])
    assert fake_ollama.embedded_texts == []


@pytest.mark.parametrize("mangle", LEGACY_DAMAGE.values(), ids=list(LEGACY_DAMAGE))
def test_a_damaged_old_index_is_one_line_and_a_rebuild_keeps_it(
    legacy: Settings, capsys: pytest.CaptureFixture[str], mangle: Mangle
) -> None:
    mangle(legacy.home / "index")
    damaged = sorted(str(p.relative_to(legacy.home)) for p in (legacy.home / "index").rglob("*"))
    assert main(["search", "Quillmarsh bell"]) == 1
    err = capsys.readouterr().err
    assert OLD_DAMAGED.fullmatch(err), err
    assert not legacy.index_path.exists()
    assert main(["ingest", "--rebuild"]) == 0
    kept = list(legacy.home.glob("index.damaged-*"))
    assert len(kept) == 1
    assert sorted(str(p.relative_to(legacy.home)).replace(kept[0].name, "index") for p in kept[0].rglob("*")) == damaged
    assert main(["search", "Quillmarsh bell"]) == 0
    assert "harbour.md" in capsys.readouterr().out
