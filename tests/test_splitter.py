"""Invariant: every chunk is the verbatim slice of its file at ``start_index``, within the size."""

import pytest

from knowledge.loader import split_articles
from knowledge.splitter import split_documents

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
