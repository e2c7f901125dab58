"""Keyword search: one tokenizer (folded, stemmed, stopwords out) for storing and querying, ranked by the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.keyword import coverage, fold, idf, stems, terms
from tests.indexes import add_texts, open_index
from tests.test_search import ConceptEmbeddings

TEXTS = {
    "lighthouse.txt": "The lighthouses are 34 metres tall.",
    "ferry.txt": "Ferry fares rise in June.",
    "filler.txt": "The the the.",
    "dessert.txt": "La crème brûlée du Café Zoë est célèbre.",
    "tricky.txt": 'He said "NEAR" OR AND NOT: lighthouse* (x) ^ - all "quoted".',
}


@pytest.fixture
def index(tmp_path: Path):
    index = open_index(tmp_path, ConceptEmbeddings())
    add_texts(index, ConceptEmbeddings(), list(TEXTS.values()), [{"source": name} for name in TEXTS])
    return index


def sources(index, query: str) -> list[str]:
    return [doc.metadata["source"] for doc in index.search(query, k=5, mode="keyword")]


def test_stemmed_words_match(index) -> None:
    assert set(sources(index, "lighthouse fare")) == {"ferry.txt", "lighthouse.txt", "tricky.txt"}


def test_accents_fold_both_ways(index) -> None:
    assert sources(index, "creme brulee") == ["dessert.txt"]
    assert sources(index, "CRÈME Brûlée") == ["dessert.txt"]
    assert sources(index, "zoe cafe") == ["dessert.txt"]


def test_unknown_or_stopword_queries_find_nothing(index) -> None:
    assert sources(index, "zebra") == []
    assert sources(index, "the") == []


@pytest.mark.parametrize(
    "query", ['"', "NEAR(", "lighthouse*", "^ann", "a OR", "NOT x", "(", "-", "col:umn", "' OR 1=1 --"]
)
def test_fts_syntax_in_a_query_is_only_words(index, query: str) -> None:
    found = index.search(query, k=5, mode="keyword")  # never an FTS5 syntax error
    assert all(doc.metadata["source"] in TEXTS for doc in found)


def test_keyword_scores_are_bm25_the_rarer_word_weighs_more(index) -> None:
    found = {
        doc.metadata["source"]: doc.metadata["score"] for doc in index.search("ferry lighthouse", k=5, mode="keyword")
    }
    assert found["ferry.txt"] > found["lighthouse.txt"] > 0  # held by one chunk beats held by two


def test_rarity_is_idf_over_stored_chunks(index) -> None:
    rare, _, stop = index.rarity(["ferry", "lighthouse", "the"])
    assert rare == pytest.approx(idf(5, 1)) and stop == 0.0
    assert index.rarity(["unheard-of"]) == [pytest.approx(idf(5, 0))]


def test_the_tokenizer() -> None:
    assert fold("Ærøskøbing Ünïcödé") == "ærøskøbing unicode"
    assert stems("Restoring the restored Lighthouses") == ["restor", "restor", "lighthous"]
    assert terms("Who restored it?") == {"restor"}
    assert coverage("who built the lighthouse", "lighthouses were built") == 1.0
    assert coverage("the", "anything") == 0.0
