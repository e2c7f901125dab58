"""Keyword ranking in memory (knowledge.postings) scores as FTS5 does and follows every change."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from langchain_core.documents import Document

from knowledge.engine import FileChunks, FileRecord, IndexInfo
from knowledge.keyword import stems
from knowledge.matrix import VectorMatrix
from knowledge.postings import Postings
from knowledge.sqlite_engine import SQLiteEngine

WORDS = [f"word{n}" for n in range(60)]


def text(rng: np.random.Generator, length: int) -> str:
    """Words of a small Zipf-like vocabulary (a few common, many rare), as a chunk's text."""
    ranks = np.minimum(rng.zipf(1.4, length), len(WORDS)) - 1
    return " ".join(WORDS[rank] for rank in ranks.tolist())


def a_file(source: str, texts: list[str]) -> FileChunks:
    chunks = [
        Document(body, metadata={"source": source, "start_index": 100 * n}, id=f"{source}:{n}:{hash(body)}")
        for n, body in enumerate(texts)
    ]
    vectors = np.random.default_rng(len(source)).standard_normal((len(texts), 4)).astype(np.float32)
    return FileChunks(FileRecord(source, f"/docs/{source}", "0" * 64, 1, 1, len(texts)), chunks, vectors)


def fts5_ranking(path: Path, words: list[str], sources: list[str] | None = None) -> dict[int, float]:
    """Every chunk FTS5 itself matches for ``words`` (of ``sources`` when given), with its own BM25 score."""
    query = " OR ".join(f'"{word}"' for word in dict.fromkeys(words))
    scope, args = "", [query]
    if sources is not None:
        scope = f" AND c.file IN (SELECT id FROM files WHERE source IN ({','.join('?' * len(sources))}))"
        args += sources
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT w.rowid, -bm25(chunk_words) FROM chunk_words w JOIN chunks c ON c.id = w.rowid "
            f"WHERE chunk_words MATCH ?{scope}",
            args,
        ).fetchall()
    return dict(rows)


def assert_ranks_as_fts5(engine: SQLiteEngine, words: list[str], depth: int, sources: list[str] | None = None) -> None:
    keys, scores = engine.keyword_ranking(words, depth, None if sources is None else set(sources))
    reference = fts5_ranking(engine.path, words, sources)
    if any(score > 1e-3 for score in reference.values()):  # words held by half the chunks weigh 1e-6: left out
        reference = {key: score for key, score in reference.items() if score > 1e-3}
    best = sorted(reference.values(), reverse=True)[:depth]
    assert scores.tolist() == pytest.approx(best, rel=1e-5, abs=1e-5), words  # the same best scores...
    for key, score in zip(keys.tolist(), scores.tolist(), strict=True):
        assert reference[key] == pytest.approx(score, rel=1e-5, abs=1e-5), (words, key)  # ...for chunks that earn them


@pytest.fixture
def engine(tmp_path: Path) -> SQLiteEngine:
    rng = np.random.default_rng(7)
    engine = SQLiteEngine(tmp_path)
    engine.start(IndexInfo("test/embedder"))
    engine.commit(add=[a_file(f"f{f}.txt", [text(rng, int(rng.integers(5, 60))) for _ in range(8)]) for f in range(30)])
    engine.refresh()
    return engine


def queries(seed: int, count: int = 25) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    return [stems(text(rng, int(rng.integers(1, 5)))) for _ in range(count)]


def test_keyword_ranking_scores_every_chunk_as_fts5s_own_bm25(engine: SQLiteEngine) -> None:
    for words in queries(1):
        assert_ranks_as_fts5(engine, words, depth=12)
        assert_ranks_as_fts5(engine, words, depth=12, sources=["f3.txt", "f17.txt", "missing.txt"])


def test_postings_held_follow_another_processs_changes(engine: SQLiteEngine, tmp_path: Path) -> None:
    asked = queries(2)
    for words in asked:
        engine.keyword_ranking(words, 12, None)  # every asked word's postings are now held in memory
    held = engine._postings
    kept = [word for words in asked for word in words if word in held]
    assert len(kept) > 10
    other = SQLiteEngine(tmp_path)  # another process: its commits reach the first engine by refresh only
    rng = np.random.default_rng(11)
    other.commit(add=[a_file("new.txt", [text(rng, 40) for _ in range(6)])])
    other.commit(add=[a_file("f4.txt", [text(rng, 30) for _ in range(3)])])  # changed: new chunks, old ones gone
    other.commit(remove=["f5.txt"])
    other.forget(["f6.txt"], keep_out=["f6.txt"])
    assert engine.refresh()
    assert engine._postings is held and all(word in held for word in kept)
    for words in asked:
        assert_ranks_as_fts5(engine, words, depth=12)
    fresh = SQLiteEngine(tmp_path)  # and as a process that reads them now for the first time
    fresh.refresh()
    for words in asked:
        assert engine.keyword_ranking(words, 12, None)[0].tolist() == fresh.keyword_ranking(words, 12, None)[0].tolist()


def test_a_rebuild_leaves_no_postings_of_the_old_chunks(engine: SQLiteEngine) -> None:
    engine.keyword_ranking(["word3", "word9"], 10, None)
    engine.start(IndexInfo("test/embedder"), reset=True)
    engine.commit(add=[a_file("only.txt", ["word9 word9 lighthouse"])])
    engine.refresh()
    keys, _ = engine.keyword_ranking(["word3", "word9"], 10, None)
    assert [chunk.metadata["source"] for chunk in engine.chunks(keys.tolist()).values()] == ["only.txt"]
    assert_ranks_as_fts5(engine, ["word3", "word9"], 10)


def test_the_least_recently_asked_words_go_first_when_the_budget_is_spent() -> None:
    fetched: list[str] = []

    def fetch(word: str, upto: int) -> tuple[np.ndarray, np.ndarray]:
        fetched.append(word)
        return np.arange(1, 5, dtype=np.int64), np.ones(4, dtype=np.int64)

    postings = Postings(budget=10)
    for word in ("a", "b", "a", "c", "a", "b"):
        postings.of(word, fetch)
    assert fetched == ["a", "b", "c", "b"]  # c pushed out b (asked longest ago), then b came back for c
    assert "a" in postings and "b" in postings and "c" not in postings


def test_the_matrix_keeps_lengths_and_finds_rows_by_key() -> None:
    matrix = VectorMatrix()
    matrix.append(np.arange(1, 41), np.zeros(40, dtype=np.int64), np.ones((40, 4), np.float32), np.arange(1, 41))
    assert matrix.words == sum(range(1, 41))
    matrix.remove(range(1, 11))  # a quarter: compacted
    assert matrix.words == sum(range(11, 41)) and matrix.count == 30
    rows = matrix.rows_of(np.array([3, 11, 40, 41]))
    assert rows[[0, 3]].tolist() == [-1, -1] and matrix.lengths_of(rows[1:3]).tolist() == [11, 40]
    with pytest.raises(ValueError, match="increasing order"):
        matrix.append(np.array([39]), np.array([0]), np.ones((1, 4), np.float32), np.array([1]))
