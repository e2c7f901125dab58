from pathlib import Path

import numpy as np

from knowledge.keyword import KeywordIndex

TEXTS = ["The lighthouses are 34 metres tall.", "Ferry fares rise in June.", "The the the."]


def test_stemmed_words_match() -> None:
    scores = KeywordIndex(TEXTS).scores("lighthouse fare")
    assert scores[0] > 0 and scores[1] > 0 and scores[2] == 0


def test_unknown_or_stopword_queries_score_nothing() -> None:
    index = KeywordIndex(TEXTS)
    assert index.scores("zebra").tolist() == [0, 0, 0]
    assert index.scores("the").tolist() == [0, 0, 0]


def test_empty_index_scores_empty() -> None:
    assert KeywordIndex([]).scores("anything").size == 0


def test_save_and_load_give_the_same_scores(tmp_path: Path) -> None:
    index = KeywordIndex(TEXTS)
    index.save(tmp_path / "kw")
    np.testing.assert_array_equal(KeywordIndex.load(tmp_path / "kw").scores("ferry"), index.scores("ferry"))


def test_empty_index_round_trips(tmp_path: Path) -> None:
    KeywordIndex([]).save(tmp_path / "kw")
    assert KeywordIndex.load(tmp_path / "kw").size == 0
