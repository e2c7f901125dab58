"""The page's Documents view: "Remove from index" keeps the file, "Delete" removes it, both say which."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from agent.assistant import Assistant
from agent.settings import Settings
from tests.mounts import read_only
from tests.test_ui import layout, seen, start, view

MARKET = "notes/market.txt"
CHOSEN = "Remove or delete documents"


@pytest.fixture
def documents(env: Settings) -> Iterator[AppTest]:
    """The Documents view of a fresh page over the test corpus, index built."""
    app = view(start(), "Documents")
    yield app
    st.cache_resource.clear()
    st.cache_data.clear()


def choose(page: AppTest, *names: str) -> AppTest:
    page.multiselect(key="documents-chosen").set_value(list(names)).run()
    assert not page.exception, page.exception
    return page


def click(page: AppTest, key: str) -> AppTest:
    page.button(key=key).click().run()
    assert not page.exception, page.exception
    return page


def files(page: AppTest) -> list[str]:
    return list(page.dataframe[0].value["file"])


def test_choosing_documents_offers_remove_from_index_and_delete(documents: AppTest) -> None:
    # fmt: off
    assert layout(choose(documents, MARKET).main)[-3:] == [
        ("multiselect", CHOSEN),
        ("caption", "Remove from index keeps the files in the documents folder; …"),
        ("flex_container", None, [
            ("column", None, [("button", "Remove 1 file from index")]),
            ("column", None, [("button", "Delete 1 file…")]),
        ]),
    ]
    # fmt: on
    assert seen(documents.main.caption[-1].value, 300) == (
        "Remove from index keeps the files in the documents folder; rescans leave them out until you add them back "
        "or upload them again. Delete deletes them from the documents folder as well."
    )


def test_remove_from_index_keeps_the_file_and_a_rescan_leaves_it_out(documents: AppTest, env: Settings) -> None:
    click(choose(documents, MARKET), "documents-forget")
    assert [seen(s.value, 300) for s in documents.success] == [
        f"Removed {MARKET} from the index. The file stays in the documents folder; rescans leave it out until "
        "you add it back below or upload it again."
    ]
    assert files(documents) == ["harbour.md"] and (env.docs_dir / MARKET).exists()
    assert documents.multiselect(key="documents-chosen").value == []
    [rescan] = [b for b in documents.main.button if b.label == "Rescan the documents folder"]
    rescan.click().run()
    assert [seen(s.value, 300) for s in documents.success] == [
        "0 added, 0 updated, 0 removed, 1 unchanged. 1 forgotten file left out (listed under “Left out of the index”)."
    ]
    assert files(documents) == ["harbour.md"]


def test_forgotten_files_are_listed_and_can_be_added_back(documents: AppTest) -> None:
    click(choose(documents, MARKET), "documents-forget")
    assert layout(documents.main)[-1] == (
        "expander",
        "Left out of the index (1)",
        [
            ("caption", "Forgotten files stay in the documents folder but out of res…"),
            ("multiselect", "Forgotten files"),
            ("button", "Add back to the index"),
        ],
    )
    documents.multiselect(key="documents-forgotten").set_value([MARKET]).run()
    click(documents, "documents-add-back")
    assert [seen(s.value, 300) for s in documents.success] == [f"Added {MARKET} back to the index."]
    assert files(documents) == ["harbour.md", MARKET]
    assert [e.label for e in documents.main.expander] == []


def test_delete_asks_first_and_cancel_keeps_the_file(documents: AppTest, env: Settings) -> None:
    click(choose(documents, MARKET), "documents-delete")
    assert [w.value for w in documents.warning] == [
        "Delete 1 file from the documents folder? It is gone from the disk, not only from the index.\n\n"
        "- notes/market\\.txt"
    ]
    click(documents, "documents-no")
    assert files(documents) == ["harbour.md", MARKET] and (env.docs_dir / MARKET).exists()
    assert documents.warning == [] and documents.multiselect(key="documents-chosen").value == [MARKET]


def test_delete_after_confirming_removes_the_file_and_keeps_nothing_out(documents: AppTest, env: Settings) -> None:
    click(click(choose(documents, MARKET), "documents-delete"), "documents-yes")
    assert [seen(s.value, 300) for s in documents.success] == [
        f"Deleted {MARKET} from the documents folder and the index."
    ]
    assert files(documents) == ["harbour.md"] and not (env.docs_dir / MARKET).exists()
    assert Assistant(env).load_index().forgotten == set()


def test_a_changed_choice_must_be_confirmed_again(documents: AppTest) -> None:
    click(choose(documents, MARKET), "documents-delete")
    choose(documents, MARKET, "harbour.md")
    assert documents.warning == [] and documents.button(key="documents-delete").label == "Delete 2 files…"


def test_delete_in_a_read_only_folder_is_one_line_and_changes_nothing(documents: AppTest, env: Settings) -> None:
    with read_only(env.docs_dir):
        click(click(choose(documents, MARKET), "documents-delete"), "documents-yes")
    message = f"{env.docs_dir / 'notes'} is read-only — make it writable, or use another folder, and try again."
    assert [seen(e.value, 300) for e in documents.error] == [message]
    assert files(documents) == ["harbour.md", MARKET] and (env.docs_dir / MARKET).exists()
    assert Assistant(env).load_index().forgotten == set()


def test_remove_while_another_ingest_runs_is_one_line_and_changes_nothing(
    documents: AppTest, env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from filelock import FileLock

    monkeypatch.setattr("knowledge.sqlite_engine.WRITE_LOCK_WAIT", 0.1)
    with FileLock(env.home / "index.lock"):
        click(choose(documents, MARKET), "documents-forget")
    assert [seen(e.value, 300) for e in documents.error] == [
        "Another ragchat is updating the index right now — try again when it has finished."
    ]
    assert files(documents) == ["harbour.md", MARKET]
    assert documents.multiselect(key="documents-chosen").value == [MARKET]


def test_delete_of_a_file_outside_the_folder_says_it_was_only_removed(env: Settings, tmp_path: Path) -> None:
    far = tmp_path / "far.md"
    far.write_text("# Far\n\nA file outside the documents folder.\n")
    app = Assistant(env)
    app.ingest()
    app.ingest([far])
    documents = view(start(), "Documents")
    click(click(choose(documents, "harbour.md", far.as_posix()), "documents-delete"), "documents-yes")
    assert [seen(s.value, 300) for s in documents.success] == [
        f"Deleted harbour.md from the documents folder and the index. {far.as_posix()} is outside the documents "
        "folder: it was only removed from the index, and rescans leave it out."
    ]
    assert far.exists() and not (env.docs_dir / "harbour.md").exists()
