"""The ingest planner: what an ingest decides for each file before reading any (a pure function, no disk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.index import FileRecord
from knowledge.plan import OnDisk, SyncPlan, Targets, look, plan_sync, targets

DOCS = "/data/docs/"


def record(source: str, size: int = 10, mtime_ns: int = 100) -> FileRecord:
    return FileRecord(source, DOCS + source, "sha", size, mtime_ns, chunks=1)


def on_disk(source: str, size: int = 10, mtime_ns: int = 100, error: str = "") -> OnDisk:
    return OnDisk(source, DOCS + source, size, mtime_ns, error)


def outcome(plan: SyncPlan) -> dict[str, object]:
    """Every list of the plan that is not empty, sources only."""
    lists = {
        "add": plan.add,
        "change": plan.change,
        "remove": plan.remove,
        "unchanged": plan.unchanged,
        "skipped": plan.skipped,
        "left_out": plan.left_out,
    }
    return {name: value for name, value in lists.items() if value}


WHOLE_FOLDER = Targets(folders=(DOCS,))
NOTES_FOLDER = Targets(subfolders=("notes/",), folders=(DOCS + "notes/",))

CASES = [
    ("a new file is added", {}, [on_disk("a.md")], set(), WHOLE_FOLDER, {"add": ["a.md"]}),
    ("same size and time: unchanged", {"a.md": record("a.md")}, [on_disk("a.md")], set(), WHOLE_FOLDER,
     {"unchanged": ["a.md"]}),
    ("a new time: read again", {"a.md": record("a.md")}, [on_disk("a.md", mtime_ns=200)], set(), WHOLE_FOLDER,
     {"change": ["a.md"]}),
    ("a new size: read again", {"a.md": record("a.md")}, [on_disk("a.md", size=11)], set(), WHOLE_FOLDER,
     {"change": ["a.md"]}),
    ("deleted from the folder ingested: removed", {"a.md": record("a.md"), "b.md": record("b.md")},
     [on_disk("a.md")], set(), WHOLE_FOLDER, {"remove": ["b.md"], "unchanged": ["a.md"]}),
    ("sub-folder ingested: files outside it stay", {"a.md": record("a.md"), "notes/n.md": record("notes/n.md")},
     [], set(), NOTES_FOLDER, {"remove": ["notes/n.md"]}),
    ("only a file named: nothing else is removed", {"a.md": record("a.md")}, [on_disk("b.md")], set(),
     Targets(files=frozenset({"b.md"})), {"add": ["b.md"]}),
    ("forgotten, whole folder: left out", {}, [on_disk("a.md")], {"a.md"}, WHOLE_FOLDER, {"left_out": ["a.md"]}),
    ("forgotten, named explicitly: added back", {}, [on_disk("a.md")], {"a.md"},
     Targets(files=frozenset({"a.md"})), {"add": ["a.md"]}),
    ("forgotten, its sub-folder named: added back", {}, [on_disk("notes/n.md"), on_disk("notes/m.md")],
     {"notes/n.md"}, NOTES_FOLDER, {"add": ["notes/n.md", "notes/m.md"]}),
    ("forgotten, another sub-folder named: left out", {}, [on_disk("notes/n.md")], {"notes/n.md"},
     Targets(subfolders=("note/",), folders=(DOCS + "note/",)), {"left_out": ["notes/n.md"]}),
    ("unsupported type named: skipped", {}, [on_disk("data.csv")], set(), Targets(files=frozenset({"data.csv"})),
     {"skipped": [("data.csv", "unsupported file type")]}),
    ("cannot be looked at, indexed: skipped and removed", {"a.md": record("a.md")},
     [on_disk("a.md", error="Permission denied")], set(), WHOLE_FOLDER,
     {"skipped": [("a.md", "Permission denied")], "remove": ["a.md"]}),
    ("cannot be looked at, new: skipped only", {}, [on_disk("a.md", error="Permission denied")], set(),
     WHOLE_FOLDER, {"skipped": [("a.md", "Permission denied")]}),
    ("found twice: planned once", {}, [on_disk("a.md"), on_disk("a.md")], set(), WHOLE_FOLDER, {"add": ["a.md"]}),
    ("upper-case suffix is supported", {}, [on_disk("B.TXT")], set(), WHOLE_FOLDER, {"add": ["B.TXT"]}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("indexed", "found", "forgotten", "asked", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_plan(
    indexed: dict[str, FileRecord], found: list[OnDisk], forgotten: set[str], asked: Targets, expected: dict
) -> None:
    assert outcome(plan_sync(indexed, found, forgotten, asked)) == expected


def test_a_file_in_a_folder_that_could_not_be_listed_is_not_gone() -> None:
    indexed = {"locked/a.md": record("locked/a.md"), "b.md": record("b.md")}
    plan = plan_sync(indexed, [], set(), WHOLE_FOLDER, unlisted=[DOCS + "locked"])
    assert plan.remove == ["b.md"]


def test_a_file_to_read_keeps_its_place_among_the_files_found_and_its_record() -> None:
    old = record("b.md")
    plan = plan_sync({"b.md": old}, [on_disk("a.md"), on_disk("b.md", size=99)], set(), WHOLE_FOLDER)
    assert [(item.file.source, item.position, item.old) for item in plan.read] == [("a.md", 0, None), ("b.md", 1, old)]


def test_targets_tell_files_from_folders_and_name_sub_folders_only(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "a.md").write_text("a")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    asked = targets([docs, docs / "notes", docs / "a.md", outside], docs)
    assert asked.files == {"a.md"}
    assert asked.subfolders == ("notes/",)  # the documents folder and a folder outside it name no file
    assert asked.folders == (f"{docs}/", f"{docs}/notes/", f"{outside}/")


def test_look_reports_size_and_time_or_why_not(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("four")
    stat = (tmp_path / "a.md").stat()
    assert look([(tmp_path / "a.md", "a.md"), (tmp_path / "gone.md", "gone.md")]) == [
        OnDisk("a.md", str(tmp_path / "a.md"), 4, stat.st_mtime_ns),
        OnDisk("gone.md", str(tmp_path / "gone.md"), error="No such file or directory"),
    ]
