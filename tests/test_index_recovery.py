"""Index recovery: every kind of damage is one line with the rebuild hint, and the rebuild always works.

Each case mangles a real saved index in one way (a JSON file holding ``null``, a manifest
field of the wrong type, vectors of the wrong width, a truncated keyword array, NaN
vectors, a missing generation folder...). Loading must say the index is damaged and how
to rebuild it, in one line; ``ragchat ingest --rebuild`` must set the damaged index aside
(never delete it) and build a new one that searching uses.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

import numpy as np
import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.errors import IndexDamaged
from ui.cli import main

Mangle = Callable[[Path], None]
"""Damages the index folder ``<home>/index`` in place."""


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


def edit_array(relative: str, change: Callable[[np.ndarray], np.ndarray]) -> Mangle:
    def mangle(index: Path) -> None:
        path = generation(index) / relative
        np.save(path, change(np.load(path)), allow_pickle=False)

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


def inf_row(vectors: np.ndarray) -> np.ndarray:
    vectors[-1, 3] = np.inf
    return vectors


DAMAGE: dict[str, Mangle] = {
    "index folder is a file": lambda index: (shutil.rmtree(index), index.write_text("{}")),
    "manifest is a folder": lambda index: ((index / "current.json").unlink(), (index / "current.json").mkdir()),
    "manifest is empty": lambda index: (index / "current.json").write_bytes(b""),
    "manifest is not text": lambda index: (index / "current.json").write_bytes(b"\xff\xfe\x00{"),
    "manifest holds null": lambda index: (index / "current.json").write_text("null"),
    "manifest is a list": lambda index: (index / "current.json").write_text("[1, 2]"),
    "manifest is truncated": lambda index: (index / "current.json").write_text('{"format": 2, "info": {"embed'),
    "manifest files is a list": edit_manifest(lambda m: m.update(files=list(m["files"]))),
    "manifest files is null": edit_manifest(lambda m: m.update(files=None)),
    "manifest info is null": edit_manifest(lambda m: m.update(info=None)),
    "manifest format is text": edit_manifest(lambda m: m.update(format="2")),
    "manifest generation is a number": edit_manifest(lambda m: m.update(generation=1)),
    "manifest generation climbs out": edit_manifest(lambda m: m.update(generation="../..")),
    "manifest dimension is text": edit_manifest(lambda m: m["info"].update(dimension="768")),
    "manifest dimension disagrees with the vectors": edit_manifest(lambda m: m["info"].update(dimension=3)),
    "file record lacks a field": first_record(lambda r: r.pop("sha256")),
    "file record has an unknown field": first_record(lambda r: r.update(colour="red")),
    "file record size is text": first_record(lambda r: r.update(size="big")),
    "file record is null": edit_manifest(lambda m: m["files"].update({next(iter(m["files"])): None})),
    "file record chunk count disagrees": first_record(lambda r: r.update(chunks=r["chunks"] + 5)),
    "generation folder is missing": lambda index: shutil.rmtree(generation(index)),
    "generation is a file": lambda index: (shutil.rmtree(generation(index)), generation(index).write_text("x")),
    "vectors file is missing": lambda index: (generation(index) / "vectors.npy").unlink(),
    "vectors are truncated": truncate("vectors.npy"),
    "vectors have the wrong width": edit_vectors(lambda v: v[:, :5].copy()),
    "vectors have one row too many": edit_vectors(lambda v: np.vstack([v, v[:1]])),
    "vectors are float64": edit_vectors(lambda v: v.astype(np.float64)),
    "vectors are one-dimensional": edit_vectors(lambda v: v.ravel()),
    "vectors are not unit length": edit_vectors(lambda v: v * 3),
    "vectors hold NaN": edit_vectors(nan_row),
    "vectors hold infinity": edit_vectors(inf_row),
    "records hold null": write("records.json", b"null"),
    "records are not JSON": write("records.json", b"\x00\x01garbage"),
    "records ids are short": records(lambda r: r.update(ids=r["ids"][:-1])),
    "records ids repeat": records(lambda r: r.update(ids=[r["ids"][0]] * len(r["ids"]))),
    "records texts are not text": records(lambda r: r.update(texts=[1] * len(r["texts"]))),
    "records metadata is not an object": records(lambda r: r.update(metadatas=[None] * len(r["metadatas"]))),
    "records name an unknown file": records(lambda r: r["metadatas"][0].update(source="nowhere.md")),
    "records dimension disagrees": records(lambda r: r.update(dimension=12)),
    "keyword size is text": write("keyword/size", b"many"),
    "keyword size disagrees": lambda index: (generation(index) / "keyword/size").write_text("5"),
    "keyword array is truncated": truncate("keyword/indices.csc.index.npy", 90),
    "keyword array is short": edit_array("keyword/indices.csc.index.npy", lambda a: a[:-2].copy()),
    "keyword pointers run past the data": edit_array("keyword/indptr.csc.index.npy", lambda a: a + 3),
    "keyword rows point past the chunks": edit_array("keyword/indices.csc.index.npy", lambda a: a + 1000),
    "keyword scores hold NaN": edit_array("keyword/data.csc.index.npy", lambda a: np.full_like(a, np.nan)),
    "keyword params hold null": write("keyword/params.index.json", b"null"),
    "keyword vocabulary is missing": lambda index: (generation(index) / "keyword/vocab.index.json").unlink(),
    "keyword vocabulary holds null": write("keyword/vocab.index.json", b"null"),
}


def contents(path: Path) -> dict[str, bytes | None]:
    """Every file's bytes (``None`` for a folder) under ``path``, or the file itself."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): None if p.is_dir() else p.read_bytes() for p in path.rglob("*")}


DAMAGED = re.compile(
    r"Error: The index (manifest \S+|data in \S+) is damaged \([^\n]+\) — rebuild it with "
    r"`ragchat ingest --rebuild` \(the unreadable files are kept aside, not deleted\)\.\n"
)


@pytest.fixture
def built(env: Settings, capsys: pytest.CaptureFixture[str]) -> Settings:
    """The test corpus indexed through the CLI."""
    assert main(["ingest"]) == 0
    capsys.readouterr()
    return env


@pytest.mark.parametrize("mangle", DAMAGE.values(), ids=list(DAMAGE))
def test_damage_is_one_line_with_the_rebuild_hint(
    built: Settings, capsys: pytest.CaptureFixture[str], mangle: Mangle
) -> None:
    mangle(built.index_dir)
    assert main(["search", "Quillmarsh bell"]) == 1
    err = capsys.readouterr().err
    assert DAMAGED.fullmatch(err), err


@pytest.mark.parametrize("mangle", DAMAGE.values(), ids=list(DAMAGE))
def test_rebuild_sets_the_damage_aside_and_search_works(
    built: Settings, capsys: pytest.CaptureFixture[str], mangle: Mangle
) -> None:
    mangle(built.index_dir)
    damaged = contents(built.index_dir)
    assert main(["ingest", "--rebuild"]) == 0
    err = capsys.readouterr().err
    kept = list(built.home.glob("index.damaged-*"))
    assert len(kept) == 1 and contents(kept[0]) == damaged  # set aside whole, never deleted
    assert f"Warning: The unreadable index was kept as {kept[0].name}; a new one is being built." in err
    assert main(["search", "Quillmarsh bell"]) == 0
    assert "harbour.md" in capsys.readouterr().out


def test_damage_is_raised_as_index_damaged(assistant: Assistant) -> None:
    (assistant.settings.index_dir / "current.json").write_text("null")
    with pytest.raises(IndexDamaged):
        Assistant(assistant.settings).load_index()


def test_a_healthy_index_is_not_set_aside_by_a_rebuild(built: Settings) -> None:
    assert main(["ingest", "--rebuild"]) == 0
    assert list(built.home.glob("index.damaged-*")) == []


class FrozenClock(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> datetime:
        return datetime(2026, 12, 1, 4, 0, tzinfo=tz)


def test_two_rebuilds_in_one_second_keep_both_damaged_copies(built: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("knowledge.manifest.datetime", FrozenClock)
    for _ in range(2):
        (built.index_dir / "current.json").write_text("null")
        assert main(["ingest", "--rebuild"]) == 0
    assert sorted(p.name for p in built.home.glob("index.damaged-*")) == [
        "index.damaged-20261201-040000",
        "index.damaged-20261201-040000-2",
    ]
