"""Invariant: every chunk is the verbatim slice of its file at ``start_index``, within the size."""

from itertools import pairwise
from pathlib import Path

import pytest

from knowledge.loader import load_file, split_articles
from knowledge.splitter import split_documents

SAMPLES = Path(__file__).resolve().parents[1] / "rag_data"
LONG = "\n\n".join(f"Paragraph {n}. " + " ".join(f"word{n}-{i}" for i in range(40 + n % 7)) for n in range(120))
CASES = {
    "empty": "",
    "one word": "lighthouse",
    "unicode": "Brønnum & Tait — 灯台 🚢 naïve café.\n\nØresund " * 30,
    "articles": "# A\n" + LONG[:3000] + "\n---\n# B\n" + LONG[3000:7000] + "\n---\n" + "tail",
    "long": LONG,
    "no spaces": "x" * 2345,
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize(("size", "overlap"), [(500, 50), (120, 0), (80, 30)])
def test_chunks_are_verbatim_slices_of_the_file(name: str, size: int, overlap: int) -> None:
    text = CASES[name]
    chunks = split_documents(split_articles(text, "f.txt"), size, overlap)
    if text.strip():
        assert chunks
    for chunk in chunks:
        start = chunk.metadata["start_index"]
        assert text[start : start + len(chunk.page_content)] == chunk.page_content
        assert 0 < len(chunk.page_content) <= size
        assert "article_start" not in chunk.metadata


def test_chunks_cover_every_word_of_the_file() -> None:
    words = set(CASES["articles"].split()) - {"---"}
    chunks = split_documents(split_articles(CASES["articles"], "f.txt"), 500, 50)
    assert words == {w for c in chunks for w in c.page_content.split()}


# -- paragraphs, sentences and headings -------------------------------------------------------
def sentence(tag: str, words: int = 8) -> str:
    """One sentence of ``words`` words, each marked with ``tag`` (so a test can tell where it went)."""
    return f"{tag.capitalize()} " + " ".join(f"{tag}w{w}" for w in range(words - 1)) + "."


def sentences(tag: str, count: int) -> list[str]:
    return [sentence(f"{tag}{n}") for n in range(count)]


def chunk_texts(text: str, size: int, overlap: int = 0, source: str = "f.txt") -> list[str]:
    return [c.page_content for c in split_documents(split_articles(text, source), size, overlap)]


def test_a_paragraph_as_long_as_a_chunk_is_one_chunk() -> None:
    short, full = " ".join(sentences("a", 3)), " ".join(sentences("b", 11))
    full = full[:-1] + "x" * (500 - len(full)) + "."
    assert len(full) == 500
    assert chunk_texts(f"{short}\n\n{full}\n\n{short}", 500) == [short, full, short]


def test_short_paragraphs_are_packed_up_to_the_size_with_a_long_paragraphs_last_sentences() -> None:
    text = " ".join(sentences("a", 9)) + "\n\n" + "\n\n".join(sentences("s", 3))
    first, second = chunk_texts(text, 300)
    assert f"{first} {second}" == text  # cut once, between two sentences
    assert second.startswith("A") and second.endswith("\n\n".join(sentences("s", 3)))


def test_a_long_paragraph_is_cut_at_sentence_ends() -> None:
    paragraph = " ".join(sentences("a", 20))
    chunks = chunk_texts(paragraph, 200)
    assert " ".join(chunks) == paragraph
    assert all(chunk.startswith("A") and chunk.endswith(".") for chunk in chunks)


def test_neighbouring_pieces_of_a_paragraph_overlap_by_whole_sentences() -> None:
    chunks = chunk_texts(" ".join(sentences("a", 20)), 200, overlap=50)
    for before, after in pairwise(chunks):
        last = before[before.rindex("A") :]
        assert len(last) <= 50 and after.startswith(last + " ")


def test_a_sentence_longer_than_a_chunk_is_cut_at_words_and_its_neighbours_stay_whole() -> None:
    endless = "Endless " + " ".join(f"e{n}" for n in range(150)) + "."
    text = " ".join([*sentences("a", 3), endless, *sentences("z", 6)])
    chunks = chunk_texts(text, 200)
    assert all(len(chunk) <= 200 for chunk in chunks)
    assert [w for c in chunks for w in c.split()] == text.split()  # cut between words only
    assert all(any(s in chunk for chunk in chunks) for s in sentences("a", 3) + sentences("z", 6))


MARKDOWN_HEAD = "# Gannet Point Light Shines Again\n\nBy Wilhelmina Castellane | Thursday 11 April 2024\n\n"
TEXT_HEAD = "A Short History of Skerrowick\nSkerrowick Visitor Office | Guide revised March 2024\n\n"


@pytest.mark.parametrize(("head", "source"), [(MARKDOWN_HEAD, "f.md"), (TEXT_HEAD, "f.txt")])
@pytest.mark.parametrize("body", [11, 30], ids=["paragraph fits alone", "paragraph too long"])
def test_a_title_and_byline_share_a_chunk_with_the_text_after_them(head: str, source: str, body: int) -> None:
    paragraph = " ".join(sentences("a", body))
    assert len(head) + len(paragraph) > 500 and (len(paragraph) <= 500) == (body == 11)
    text = f"{head}{paragraph}\n---\n{head}{paragraph}"
    chunks = split_documents(split_articles(text, source), 500, 50)
    firsts = [c.page_content for c in chunks if c.metadata["title"] in c.page_content]
    assert firsts == [head + sentence("a0") + firsts[0][len(head) + len(sentence("a0")) :]] * 2
    assert all(len(first) > len(head) + len(sentence("a0")) for first in firsts)


def test_no_chunk_of_the_sample_documents_is_a_title_alone() -> None:
    for path in sorted(SAMPLES.glob("**/*.*")):
        if path.suffix in {".md", ".txt"}:
            for chunk in split_documents(load_file(path, path.name), 500, 50):
                assert ". " in chunk.page_content or chunk.page_content.endswith("."), chunk.page_content


def test_a_markdown_sub_heading_goes_with_the_paragraph_under_it() -> None:
    text = " ".join(sentences("a", 9)) + "\n\n## Opening hours\n\n" + " ".join(sentences("b", 9))
    [chunk] = [c for c in chunk_texts(text, 300, source="f.md") if "## Opening hours" in c]
    assert "## Opening hours\n\n" + " ".join(sentences("b", 2)) in chunk


# -- what must not change: offsets, lines, progress -------------------------------------------
STRUCTURED = (
    MARKDOWN_HEAD
    + " ".join(sentences("a", 14))
    + "\r\n \r\n- one\n- two\n\n\n\n## Sub\n\n"
    + "Mr. Smith met J. R. Dunlow at 07:15 (e.g. the ferry). He left! Did she? Yes.\n"
    + " ".join(sentences("b", 30))
    + "\n---\n"
    + TEXT_HEAD
    + " ".join(sentences("c", 4))
    + "\n\n"
)


@pytest.mark.parametrize(("size", "overlap"), [(500, 50), (120, 0), (80, 30), (50, 49)])
@pytest.mark.parametrize("source", ["f.md", "f.txt"])
def test_paragraph_chunks_are_verbatim_slices_with_their_lines(size: int, overlap: int, source: str) -> None:
    chunks = split_documents(split_articles(STRUCTURED, source), size, overlap)
    for chunk in chunks:
        text, meta = chunk.page_content, chunk.metadata
        assert STRUCTURED[meta["start_index"] : meta["start_index"] + len(text)] == text
        assert text == text.strip() and len(text) <= size
        assert meta["line_start"] == STRUCTURED.count("\n", 0, meta["start_index"]) + 1
        assert meta["line_end"] == meta["line_start"] + text.count("\n")
    assert {w for c in chunks for w in c.page_content.split()} == set(STRUCTURED.split()) - {"---"}


def test_progress_moves_within_one_article_of_short_paragraphs_and_ends_at_the_total() -> None:
    text = "\n\n".join(sentences("p", 60))
    seen: list[tuple[int, int, int]] = []
    chunks = split_documents(split_articles(text, "f.txt"), 100, 0, progress=lambda *a: seen.append(a), every=4)
    assert len(chunks) == 30
    assert [found for found, _, _ in seen] == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    assert seen[-1] == (30, len(text), len(text))
    assert [chars for _, chars, _ in seen] == sorted(chars for _, chars, _ in seen)
