"""Reading files into documents, as ingest does: articles, metadata, encodings, and what a folder ingest reads."""

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding

from agent.assistant import Assistant
from agent.formatting import format_docs
from agent.sources import source_label, source_record
from knowledge.errors import RagchatError
from knowledge.index import KnowledgeIndex
from knowledge.ingest import SyncReport, sync
from knowledge.loader import load_file, split_articles
from tests.indexes import open_index, stored


def ingest(folder: Path) -> tuple[SyncReport, KnowledgeIndex]:
    """Ingest ``folder`` as its own documents folder (data in a folder beside it)."""
    embeddings = DeterministicFakeEmbedding(size=8)
    index = open_index(folder.with_name(folder.name + ".ragchat"), embeddings)
    report = sync(index, [folder], docs_dir=folder, embeddings=embeddings)
    index.engine.refresh()
    return report, index


def load(path: Path) -> list[Document]:
    """Read one file named as ingest names it in its folder."""
    return load_file(path, path.name)


def test_articles_split_on_lines_that_are_exactly_three_hyphens() -> None:
    text = "one\n---\ntwo\n--- \nstill two\n----\nstill two\n---\nthree"
    bodies = [d.page_content.strip() for d in split_articles(text, "f.txt")]
    assert bodies == ["one", "two\n--- \nstill two\n----\nstill two", "three"]


def test_windows_line_endings_still_separate_articles() -> None:
    docs = split_articles("one\r\n---\r\ntwo\r\n", "f.txt")
    assert [d.page_content.strip() for d in docs] == ["one", "two"]


def test_article_metadata_points_into_the_file() -> None:
    text = "# First\nalpha\n---\n\n---\n# Second\nbeta\n"
    docs = split_articles(text, "dir/f.md")
    assert [d.metadata["article"] for d in docs] == [1, 2]
    assert [d.metadata["title"] for d in docs] == ["First", "Second"]
    for doc in docs:
        start = doc.metadata["article_start"]
        assert text[start : start + len(doc.page_content)] == doc.page_content


def test_folder_is_read_recursively_with_relative_sources(corpus: Path) -> None:
    report, index = ingest(corpus)
    assert report.added == ["harbour.md", "notes/market.txt"]
    assert [(m["source"], m["article"]) for m in (c.metadata for c in stored(index))] == [
        ("harbour.md", 1),
        ("harbour.md", 2),
        ("notes/market.txt", 1),
        ("notes/market.txt", 2),
    ]


def test_other_extensions_and_hidden_files_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / ".draft.md").write_text("secret draft")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "notes.txt").write_text("git internals")
    (tmp_path / "b.TXT").write_text("kept")
    report, _ = ingest(tmp_path)
    assert (report.added, report.skipped) == (["b.TXT"], [])


def test_empty_and_binary_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("  \n")
    (tmp_path / "image.txt").write_bytes(b"\x89PNG\x00\x00data")
    (tmp_path / "ok.txt").write_text("fine")
    report, _ = ingest(tmp_path)
    assert report.added == ["ok.txt"]
    assert report.skipped == [("empty.md", "empty"), ("image.txt", "binary content, not text")]


def test_a_stray_invalid_byte_in_utf8_text_is_decoded_leniently(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_bytes("The café on the quay opens at seven, ".encode() + b"\xff every morning.")
    (doc,) = load(tmp_path / "notes.txt")
    assert doc.page_content == "The café on the quay opens at seven, \ufffd every morning."


def test_windows_1252_and_latin_1_files_are_loaded_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "menu.txt").write_bytes("café crème brûlée — €5".encode("cp1252"))
    (tmp_path / "old.md").write_bytes("Grüße aus Kiel, schöne Straße.".encode("latin-1"))
    report, index = ingest(tmp_path)
    assert (report.added, report.skipped) == (["menu.txt", "old.md"], [])
    assert [c.page_content for c in stored(index)] == ["café crème brûlée — €5", "Grüße aus Kiel, schöne Straße."]


def test_a_windows_1252_file_is_found_by_a_keyword_with_accents(assistant: Assistant) -> None:
    (assistant.settings.docs_dir / "menu.txt").write_bytes("Dessert: café crème brûlée — €5".encode("cp1252"))
    assistant.ingest()
    (hit, *_) = assistant.search("brûlée", mode="keyword")
    assert (hit.metadata["source"], hit.page_content) == ("menu.txt", "Dessert: café crème brûlée — €5")


def test_a_plain_file_has_no_article_number(tmp_path: Path) -> None:
    (tmp_path / "plain.md").write_text("# Ferry\n\nThe ferry leaves at nine.\n")
    (doc,) = load(tmp_path / "plain.md")
    assert doc.metadata == {"source": "plain.md", "title": "Ferry", "article_start": 0, "article_line": 1}


def test_a_plain_file_is_labelled_by_name_and_title_only(tmp_path: Path) -> None:
    (tmp_path / "plain.md").write_text("# Ferry\n\nThe ferry leaves at nine.\n")
    (doc,) = load(tmp_path / "plain.md")
    assert source_label(source_record(1, doc)) == "plain.md “Ferry”"


def test_a_plain_file_is_fenced_for_the_model_without_an_article(tmp_path: Path) -> None:
    (tmp_path / "plain.md").write_text("# Ferry\n\nThe ferry leaves at nine.\n")
    fenced = format_docs(load(tmp_path / "plain.md"), boundary="b0")
    assert fenced.split("\n")[0] == '<source-b0 id="1" file="plain.md">'


def test_a_file_of_two_articles_is_labelled_with_the_article_number(tmp_path: Path) -> None:
    (tmp_path / "two.md").write_text("# Ferry\nnine\n---\n# Bell\ncast in 1743\n")
    labels = [source_label(source_record(1, doc)) for doc in load(tmp_path / "two.md")]
    assert labels == ["two.md · article 1 “Ferry”", "two.md · article 2 “Bell”"]


def test_empty_folder_gives_no_documents(tmp_path: Path) -> None:
    report, index = ingest(tmp_path)
    assert (report.added, report.skipped, report.changed, index.chunk_count) == ([], [], False, 0)


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RagchatError, match=r"^No such file or folder: .*nope — check the path and try again\.$"):
        ingest(tmp_path / "nope")
