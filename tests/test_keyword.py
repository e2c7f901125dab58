"""Keyword search: one tokenizer (folded, stemmed, stopwords out) for storing and querying, ranked by the engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.keyword import coverage, fold, idf, stems, terms
from tests.indexes import add_texts, open_index, stored
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


def recount(index) -> dict[str, int]:
    held: dict[str, int] = {}
    for chunk in stored(index):
        for word in set(stems(chunk.page_content)):
            held[word] = held.get(word, 0) + 1
    return held


def test_word_counts_follow_every_change(index) -> None:
    add_texts(index, ConceptEmbeddings(), ["Ferry timetables change in June."], [{"source": "ferry.txt"}])  # replaced
    add_texts(index, ConceptEmbeddings(), ["The ferry is late.", "Ferry fares."], [{"source": "more.txt"}] * 2)
    index.engine.forget(["lighthouse.txt"], ["lighthouse.txt"])
    index.engine.refresh()
    held = recount(index)
    assert index.engine.document_frequency(sorted(held) + ["lighthous"]) == held  # a word no chunk holds is gone
    assert held["ferri"] == 3


def test_a_query_of_only_common_words_still_finds_them(tmp_path: Path) -> None:
    index = open_index(tmp_path, ConceptEmbeddings())
    texts = ["harbour wall", "harbour bell", "harbour ferry", "quiet lane"]
    add_texts(index, ConceptEmbeddings(), texts, [{"source": f"{n}.txt"} for n in range(4)])
    assert {doc.metadata["source"] for doc in index.search("harbour", k=4, mode="keyword")} == {
        "0.txt",
        "1.txt",
        "2.txt",
    }
    assert [doc.metadata["source"] for doc in index.search("harbour bell", k=4, mode="keyword")][:1] == ["1.txt"]


def test_a_passages_keyword_score_is_the_bm25_the_search_ranked_it_by(index) -> None:
    for query in ("ferry fares lighthouse", "creme brulee cafe", "lighthouse"):
        for doc in index.search(query, k=5, mode="keyword"):
            assert doc.metadata["keyword_score"] == pytest.approx(doc.metadata["score"], abs=2e-4), query
