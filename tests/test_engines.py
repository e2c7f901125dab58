"""Both storage engines, SQLite and Postgres (pgvector), held to the same behaviour.

Every test taking ``make_engine`` runs once per engine with the same assertions; Postgres is a
real server (see tests/postgres.py), each test in a database of its own.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from psycopg.conninfo import make_conninfo

from knowledge import postgres_engine, sqlite_engine
from knowledge.base import KnowledgeBase
from knowledge.calibration import HELD_ASIDE, IDENTITY, Calibration
from knowledge.engine import Engine, FileChunks, FileRecord, IndexInfo
from knowledge.errors import IndexDamaged, RagchatError
from knowledge.index import KnowledgeIndex
from knowledge.ingest import chunk_id
from knowledge.keyword import idf, stems
from knowledge.postgres_engine import PostgresEngine
from knowledge.sqlite_engine import SQLiteEngine
from tests.fake_model import embed_text
from tests.indexes import add_texts, open_index, stored
from tests.test_search import ConceptEmbeddings

ROOT = Path(__file__).resolve().parents[1]
TEXTS = {
    "garage.txt": "The automobile is serviced every spring at the garage.",
    "invoice.txt": "Invoice XK4471 for the bakery order was paid in full on Friday.",
    "harbour.txt": "The old vessel sails at dawn with the tide.",
    "bakery.txt": "A fresh loaf comes out of the oven at six.",
    "dessert.txt": "La crème brûlée du Café Zoë est célèbre.",
}
MakeEngine = Callable[[], Engine]


@pytest.fixture(params=["sqlite", "postgres"])
def make_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeEngine]:
    """Make engines over one database of this test (each call: another process's view of it)."""
    made: list[Engine] = []
    if request.param == "sqlite":

        def make() -> Engine:
            made.append(SQLiteEngine(tmp_path / "home"))
            return made[-1]
    else:
        url = request.getfixturevalue("postgres_url")

        def make() -> Engine:
            made.append(PostgresEngine(url))
            return made[-1]

    yield make
    for engine in made:
        engine.close()


@pytest.fixture
def crafted(make_engine: MakeEngine) -> KnowledgeIndex:
    index = open_index(make_engine(), ConceptEmbeddings(), IndexInfo("concepts"))
    add_texts(index, ConceptEmbeddings(), list(TEXTS.values()), [{"source": name} for name in TEXTS])
    return index


def chunk(source: str, text: str, start: int = 0, **meta: object) -> Document:
    doc = Document(page_content=text, metadata={"source": source, "start_index": start, **meta})
    doc.id = chunk_id(doc)
    return doc


def file_chunks(source: str, *texts: str, embeddings: Embeddings | None = None, size: int = 1) -> FileChunks:
    chunks = [chunk(source, text, start=100 * n) for n, text in enumerate(texts)]
    vectors = np.asarray((embeddings or ConceptEmbeddings()).embed_documents(list(texts)), dtype=np.float32)
    return FileChunks(FileRecord(source, f"/docs/{source}", "0" * 64, size, 1, len(chunks)), chunks, vectors)


def top(index: KnowledgeIndex, query: str, mode: str, k: int = 1, **kwargs: object) -> list[str]:
    return [d.metadata["source"] for d in index.search(query, k=k, mode=mode, **kwargs)]  # type: ignore[arg-type]


def keys_of(index: KnowledgeIndex, source: str) -> list[int]:
    chunks = index.engine.chunks(index.engine.keys())
    return sorted(key for key, doc in chunks.items() if doc.metadata["source"] == source)


# -- storing and searching ---------------------------------------------------------------
def test_start_commit_and_search_in_every_mode(crafted: KnowledgeIndex) -> None:
    engine = crafted.engine
    assert engine.exists() and engine.chunk_count == len(TEXTS) and set(engine.files) == set(TEXTS)
    assert (engine.info.embedding, engine.info.dimension) == ("concepts", 4)
    assert top(crafted, "invoice XK4471", "keyword") == ["invoice.txt"]
    assert top(crafted, "when is my car looked at", "vector") == ["garage.txt"]
    assert top(crafted, "when is my car looked at", "keyword") != ["garage.txt"]
    assert top(crafted, "invoice XK4471", "hybrid") == top(crafted, "invoice XK4471", "keyword")
    assert top(crafted, "when is my car looked at", "hybrid") == ["garage.txt"]
    (hit,) = crafted.search("automobile garage", k=1, mode="hybrid")
    assert hit.metadata["score"] == 1.0 and hit.metadata["vector_score"] > 0.9 and hit.metadata["keyword_score"] > 0
    assert top(crafted, "oven", "keyword", k=4) == ["bakery.txt"]


def test_vector_scores_are_cosines(crafted: KnowledgeIndex) -> None:
    query = np.asarray(ConceptEmbeddings().embed_query("ship vessel and bread"))
    keys, scores = crafted.engine.vector_ranking(query, 10, None)
    chunks = crafted.engine.chunks(keys.tolist())
    vectors = np.asarray(ConceptEmbeddings().embed_documents([chunks[k].page_content for k in keys.tolist()]))
    expected = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    assert chunks[int(keys[0])].metadata["source"] == "harbour.txt" and np.all(np.diff(scores) <= 1e-6)
    assert crafted.engine.cosines(query, keys.tolist()) == pytest.approx(
        dict(zip(keys.tolist(), expected, strict=True)), abs=1e-5
    )


def test_search_can_be_restricted_to_sources(crafted: KnowledgeIndex) -> None:
    for mode in ("vector", "keyword", "hybrid"):
        found = top(crafted, "automobile vessel loaf", mode, k=4, sources={"harbour.txt", "bakery.txt"})
        assert found and set(found) <= {"harbour.txt", "bakery.txt"}, mode
    assert crafted.search("vessel", k=4, sources=set()) == []
    assert crafted.search("vessel", k=4, sources={"nowhere.txt"}) == []


def test_vector_search_finds_the_nearest_among_many(make_engine: MakeEngine) -> None:
    """HNSW (Postgres) is approximate: on a few hundred vectors it still finds nearly all of the exact top 10."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, 32)).astype(np.float32)
    engine = make_engine()
    engine.start(IndexInfo("random"))
    chunks = [chunk(f"f{n % 3}.txt", f"text {n}", start=n) for n in range(300)]
    engine.commit(
        add=[
            FileChunks(FileRecord(f"f{f}.txt", "/x", "0" * 64, 1, 1, 100), chunks[f::3], vectors[f::3])
            for f in range(3)
        ]
    )
    engine.settle()  # Postgres builds its HNSW index now
    engine.refresh()
    ids = {doc.id: key for key, doc in engine.chunks(engine.keys()).items()}
    key_of_row = np.asarray([ids[c.id] for c in chunks])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    for query in rng.normal(size=(5, 32)).astype(np.float32):
        exact = key_of_row[np.argsort(-(unit @ (query / np.linalg.norm(query))))]
        keys, _ = engine.vector_ranking(query, 10, None)
        assert len(set(keys.tolist()) & set(exact[:10].tolist())) >= 8
        restricted, _ = engine.vector_ranking(query, 10, {"f1.txt"})  # exact on both engines
        assert restricted.tolist() == [k for k in exact.tolist() if k in set(key_of_row[1::3].tolist())][:10]
    best = engine.best_cosines(unit[:4])
    np.testing.assert_allclose(best, 1.0, atol=1e-5)


def test_chunks_come_back_as_stored(make_engine: MakeEngine) -> None:
    engine = make_engine()
    engine.start(IndexInfo("concepts"))
    doc = chunk("a.md", "Über den Hafen\x00 — the harbour", start=7, article=2, title="Hafen", page=None)
    engine.commit(add=[FileChunks(FileRecord("a.md", "/a", "1" * 64, 5, 9, 1), [doc], np.ones((1, 4), np.float32))])
    engine.refresh()
    (key,) = engine.keys()
    back = engine.chunks([key])[key]
    assert back.id == doc.id and back.metadata == doc.metadata
    assert back.page_content.replace("\x00", "") == "Über den Hafen — the harbour"  # Postgres text holds no NUL
    assert engine.files["a.md"] == FileRecord("a.md", "/a", "1" * 64, 5, 9, 1, engine.files["a.md"].indexed_at)


def test_openings_are_first_chunks_in_source_order(make_engine: MakeEngine) -> None:
    engine = make_engine()
    engine.start(IndexInfo("concepts"))
    parts = [
        chunk("b.md", "b two", start=50, article=1),
        chunk("b.md", "b one", start=0, article=0),
        chunk("B.md", "capital b", start=0),
        chunk("a.md", "a one", start=0),
    ]
    by_file: dict[str, list[Document]] = {}
    for part in parts:
        by_file.setdefault(part.metadata["source"], []).append(part)
    engine.commit(
        add=[
            FileChunks(FileRecord(source, "/x", "0" * 64, 1, 1, len(docs)), docs, np.ones((len(docs), 4), np.float32))
            for source, docs in by_file.items()
        ]
    )
    engine.refresh()
    texts = [doc.page_content for doc in engine.openings(None, 10, articles=False)]
    assert texts == ["capital b", "a one", "b one"]  # byte order, as sources are listed
    assert [doc.page_content for doc in engine.openings({"b.md"}, 10, articles=True)] == ["b one", "b two"]
    assert len(engine.openings(None, 1, articles=False)) == 1


# -- changing ------------------------------------------------------------------------------
def test_committing_a_file_again_replaces_only_its_chunks(crafted: KnowledgeIndex) -> None:
    engine = crafted.engine
    others = {source: keys_of(crafted, source) for source in TEXTS if source != "harbour.txt"}
    old = keys_of(crafted, "harbour.txt")
    engine.commit(add=[file_chunks("harbour.txt", "The ship is repaired.", "The vessel sails again.")])
    engine.refresh()
    assert {source: keys_of(crafted, source) for source in others} == others
    new = keys_of(crafted, "harbour.txt")
    assert len(new) == 2 and min(new) > max(old) and engine.files["harbour.txt"].chunks == 2
    assert engine.chunk_count == len(TEXTS) + 1
    assert top(crafted, "repaired", "keyword") == ["harbour.txt"] and top(crafted, "dawn", "keyword") == []


def test_remove_drops_a_file_and_its_chunks(crafted: KnowledgeIndex) -> None:
    crafted.engine.commit(remove=["bakery.txt"])
    assert crafted.engine.refresh()
    assert "bakery.txt" not in crafted.files and crafted.chunk_count == len(TEXTS) - 1
    assert top(crafted, "oven", "keyword") == [] and "bakery.txt" not in top(crafted, "fresh loaf", "vector", k=5)


def test_forgotten_files_stay_out_until_added_again(crafted: KnowledgeIndex) -> None:
    engine = crafted.engine
    engine.forget(["garage.txt", "invoice.txt"], keep_out=["garage.txt"])
    engine.refresh()
    assert set(engine.files) == set(TEXTS) - {"garage.txt", "invoice.txt"} and engine.forgotten == {"garage.txt"}
    engine.forget([], keep_out=["garage.txt", "other.txt"])  # again: no duplicate
    engine.commit(add=[file_chunks("garage.txt", "The automobile is back.")])
    engine.refresh()
    assert engine.forgotten == {"other.txt"} and "garage.txt" in engine.files


def test_touched_files_get_their_new_size_and_time_only(crafted: KnowledgeIndex) -> None:
    engine = crafted.engine
    before, keys = engine.files["garage.txt"], keys_of(crafted, "garage.txt")
    touched = FileRecord("garage.txt", before.path, before.sha256, 999, 123456789, before.chunks, "2000-01-01")
    engine.commit(touched=[touched])
    engine.refresh()
    after = engine.files["garage.txt"]
    assert (after.size, after.mtime_ns, after.indexed_at) == (999, 123456789, before.indexed_at)
    assert keys_of(crafted, "garage.txt") == keys


def test_keep_times_keeps_when_a_file_was_indexed(make_engine: MakeEngine) -> None:
    engine = make_engine()
    engine.start(IndexInfo("concepts"))
    old, new = file_chunks("old.txt", "car"), file_chunks("new.txt", "boat")
    old.record.indexed_at = new.record.indexed_at = "2001-02-03T04:05:06+00:00"
    engine.commit(add=[old], keep_times=True)
    engine.commit(add=[new])
    engine.refresh()
    assert engine.files["old.txt"].indexed_at == "2001-02-03T04:05:06+00:00"
    assert engine.files["new.txt"].indexed_at > "2020"


def test_a_file_without_chunks_is_recorded(make_engine: MakeEngine) -> None:
    engine = make_engine()
    engine.start(IndexInfo("concepts"))
    empty = FileChunks(FileRecord("empty.txt", "/e", "0" * 64, 0, 1, 0), [], np.zeros((0, 0), np.float32))
    engine.commit(add=[empty])
    engine.refresh()
    assert engine.files["empty.txt"].chunks == 0 and engine.chunk_count == 0 and engine.info.dimension == 0


def test_calibration_is_saved_and_read_back(crafted: KnowledgeIndex, make_engine: MakeEngine) -> None:
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(len(HELD_ASIDE), 4)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    crafted.engine.save_calibration(Calibration(rows))
    reopened = make_engine()
    reopened.refresh()
    assert reopened.info.calibration == IDENTITY
    np.testing.assert_allclose(reopened.calibration.vectors, rows)
    held = np.asarray(ConceptEmbeddings().embed_documents(list(TEXTS.values())), dtype=np.float32)
    held /= np.linalg.norm(held, axis=1, keepdims=True)
    np.testing.assert_allclose(reopened.best_cosines(rows), (rows @ held.T).max(axis=1), atol=1e-5)
    assert KnowledgeIndex(reopened, None).evidence_threshold() is not None


def test_reset_empties_the_index_keeps_forgotten_and_takes_another_dimension(crafted: KnowledgeIndex) -> None:
    engine = crafted.engine
    engine.forget(["garage.txt"], keep_out=["garage.txt"])
    engine.save_calibration(Calibration(np.eye(len(HELD_ASIDE), 4, dtype=np.float32)))
    engine.start(IndexInfo("hashed"), reset=True)
    engine.refresh()
    assert (engine.files, engine.chunk_count, engine.forgotten) == ({}, 0, {"garage.txt"})
    assert (engine.info.embedding, engine.info.dimension, engine.calibration) == ("hashed", 0, None)
    engine.commit(add=[file_chunks("boat.txt", "boat vessel", embeddings=HashedEmbeddings(16))])
    engine.refresh()
    assert engine.info.dimension == 16
    assert top(crafted, "vessel", "keyword") == ["boat.txt"]
    keys, scores = engine.vector_ranking(np.asarray(HashedEmbeddings(16).embed_query("vessel")), 5, None)
    assert len(keys) == 1 and scores[0] > 0.5


# -- other processes ------------------------------------------------------------------------
def test_refresh_picks_up_another_process_commit(crafted: KnowledgeIndex, make_engine: MakeEngine) -> None:
    engine, other = crafted.engine, make_engine()
    assert not engine.refresh()  # nothing changed: a read of the change counter only
    version = engine.version
    other.refresh()
    other.commit(add=[file_chunks("ferry.txt", "The ship to the island leaves at noon.")])
    assert engine.refresh() and engine.version > version
    assert "ferry.txt" in engine.files and engine.chunk_count == len(TEXTS) + 1
    assert top(crafted, "island noon", "keyword") == ["ferry.txt"]
    assert not engine.refresh() and engine.version == version + 1
    other.forget(["ferry.txt"], keep_out=["ferry.txt"])
    assert engine.refresh() and engine.forgotten == {"ferry.txt"} and engine.chunk_count == len(TEXTS)


def test_a_second_writer_is_told_at_once_and_readers_go_on(
    crafted: KnowledgeIndex, make_engine: MakeEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (sqlite_engine, postgres_engine):
        monkeypatch.setattr(module, "WRITE_LOCK_WAIT", 0.2)
    engine, other = crafted.engine, make_engine()
    with engine.writing():
        with engine.writing():  # the same ingest taking it again
            pass
        with pytest.raises(RagchatError) as busy, other.writing():
            pass
        assert str(busy.value) == "Another ragchat is updating the index right now — try again when it has finished."
        engine.commit(add=[file_chunks("ferry.txt", "The ship leaves at noon.")])
        other.refresh()
        assert "ferry.txt" in other.files and other.keyword_ranking(["noon"], 5, None)[0].size == 1
    with other.writing():  # free again
        pass


def test_a_writer_in_another_thread_waits_then_is_told(
    crafted: KnowledgeIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (sqlite_engine, postgres_engine):
        monkeypatch.setattr(module, "WRITE_LOCK_WAIT", 0.2)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with crafted.engine.writing():
                pass
        except RagchatError as exc:
            errors.append(exc)

    with crafted.engine.writing():
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert [str(e) for e in errors] == [
        "Another ragchat is updating the index right now — try again when it has finished."
    ]


# -- keywords ---------------------------------------------------------------------------------
def test_accents_fold_both_ways(crafted: KnowledgeIndex) -> None:
    assert top(crafted, "creme brulee", "keyword") == ["dessert.txt"]
    assert top(crafted, "CRÈME Brûlée", "keyword") == ["dessert.txt"]
    assert top(crafted, "zoe cafe", "keyword") == ["dessert.txt"]


QUERY_SYNTAX = ['"', "'", "&", "|", "!", ":*", "(", "<->", "a & b", "oven:*", "!oven | (loaf", "oven <-> loaf",
                "it's", "NEAR(", "lighthouse*", "^ann", "a OR", "NOT x", "col:umn", "' OR 1=1 --", "\\", "oven\\'s",
                "x:A", "ø½²", "%s", "$1"]  # fmt: skip
"""tsquery's and FTS5's operators, SQL quoting, placeholders."""


def test_query_syntax_is_only_words(crafted: KnowledgeIndex) -> None:
    for query in QUERY_SYNTAX:
        for mode in ("keyword", "hybrid"):
            found = crafted.search(query, k=5, mode=mode)  # never a tsquery or FTS5 syntax error
            assert all(doc.metadata["source"] in TEXTS for doc in found), query
        assert top(crafted, f"{query} oven", "keyword") == ["bakery.txt"], query


def test_rarer_words_weigh_more_and_frequencies_are_counted(crafted: KnowledgeIndex) -> None:
    engine = crafted.engine
    engine.commit(add=[file_chunks("fares.txt", "Ferry fares.")])
    engine.commit(add=[file_chunks("lights.txt", "The lighthouse and the garage.", "The lighthouse again.")])
    engine.refresh()
    found = {doc.metadata["source"]: doc.metadata["score"] for doc in crafted.search("ferry lighthouse", k=5)}
    scores = {d.metadata["source"]: d.metadata["score"] for d in crafted.search("ferry lighthouse", 5, "keyword")}
    assert scores["fares.txt"] > scores["lights.txt"] > 0 and set(found) >= {"fares.txt", "lights.txt"}
    assert engine.document_frequency(["lighthous", "ferri", "garag", "zebra"]) == {
        "lighthous": 2,
        "ferri": 1,
        "garag": 2,
    }
    assert crafted.rarity(["ferry", "zebra"]) == [pytest.approx(idf(8, 1)), pytest.approx(idf(8, 0))]
    keys, scores_ = engine.keyword_ranking(["lighthous", "garag"], 10, None)
    assert len(keys) == 3 and np.all(scores_ > 0) and np.all(np.diff(scores_) <= 1e-6)
    assert engine.word_count() == sum(len(stems(chunk.page_content)) for chunk in stored(crafted))  # BM25's lengths


# -- damage, and what happens around it ----------------------------------------------------------
def damage(engine: Engine) -> None:
    """Drop the table of forgotten sources by hand."""
    if isinstance(engine, SQLiteEngine):
        import sqlite3

        with sqlite3.connect(engine.path) as db:
            db.execute("DROP TABLE forgotten")
    else:
        with psycopg.connect(engine.url, autocommit=True) as db:
            db.execute("DROP TABLE ragchat_forgotten")


def test_a_damaged_index_is_set_aside_and_kept(crafted: KnowledgeIndex, make_engine: MakeEngine) -> None:
    engine = make_engine()
    damage(engine)
    with pytest.raises(IndexDamaged, match="no table .*forgotten.* — rebuild it with `ragchat ingest --rebuild`"):
        engine.refresh()
    kept = engine.set_aside()
    assert kept and "damaged" in str(kept)
    assert not engine.exists() and not engine.refresh()
    engine.start(IndexInfo("concepts"))
    engine.commit(add=[file_chunks("boat.txt", "boat")])
    engine.refresh()
    assert set(engine.files) == {"boat.txt"} and engine.chunk_count == 1
    if isinstance(engine, PostgresEngine):
        with psycopg.connect(engine.url) as db:
            held = db.execute(f'SELECT count(*) FROM "{kept}".ragchat_chunks').fetchone()[0]
        assert held == len(TEXTS)
    else:
        assert Path(kept).exists()


def test_nothing_stored_is_no_index(make_engine: MakeEngine) -> None:
    engine = make_engine()
    assert not engine.exists() and not engine.refresh()
    assert (engine.info, engine.files, engine.chunk_count) == (None, {}, 0)


# -- the knowledge base over each engine -----------------------------------------------------------
class HashedEmbeddings(Embeddings):
    """The fake Ollama's hashed bags of words, of any dimension."""

    def __init__(self, dimension: int = 256) -> None:
        self.dimension = dimension

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [embed_text(text, self.dimension) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return embed_text(text, self.dimension)


def knowledge_base(engine: Engine, home: Path, docs: Path) -> KnowledgeBase:
    return KnowledgeBase(
        home, docs, "hashed", lambda: HashedEmbeddings(), chunk_size=500, chunk_overlap=50, engine=engine
    )  # fmt: skip


def test_ingest_search_forget_and_rebuild_through_the_knowledge_base(
    make_engine: MakeEngine, corpus: Path, tmp_path: Path
) -> None:
    base = knowledge_base(make_engine(), tmp_path / "home", corpus)
    result = base.ingest()
    assert sorted(result.report.added) == ["harbour.md", "notes/market.txt"] and base.require().chunk_count == 4
    assert base.search("Who cast the Quillmarsh tide bell?", k=1)[0].metadata["source"] == "harbour.md"
    assert base.search("smoked mackerel", k=1, mode="vector")[0].metadata["source"] == "notes/market.txt"
    assert base.evidence_threshold() is not None and base.engine.calibration is not None
    again = knowledge_base(make_engine(), tmp_path / "home", corpus)  # another process
    report = again.ingest().report
    assert (report.added, report.updated, report.unchanged, report.chunks_embedded) == ([], [], 2, 0)
    assert base.forget(["notes/market.txt"]) == ["notes/market.txt"]
    assert again.sources() == ["harbour.md"]
    rebuilt = again.ingest(rebuild=True)
    assert rebuilt.report.added == ["harbour.md"] and rebuilt.report.forgotten == ["notes/market.txt"]
    assert base.sources() == ["harbour.md"] and base.require().forgotten == {"notes/market.txt"}


def test_a_rebuild_sets_a_damaged_index_aside(make_engine: MakeEngine, corpus: Path, tmp_path: Path) -> None:
    base = knowledge_base(make_engine(), tmp_path / "home", corpus)
    base.ingest()
    damage(base.engine)
    with pytest.raises(IndexDamaged):
        base.sources()
    result = base.ingest(rebuild=True)
    (warning,) = result.warnings
    assert re.fullmatch(r"The unreadable index was kept as \S*damaged\S*; a new one is being built\.", warning)
    assert base.sources() == ["harbour.md", "notes/market.txt"] and base.engine.chunk_count == 4


def test_engines_agree_on_what_a_search_finds(postgres_url: str, tmp_path: Path) -> None:
    questions = [json.loads(line) for line in (ROOT / "rag_data" / "eval.jsonl").read_text().splitlines()]
    questions = [q["question"] for q in questions if q["kind"] == "standalone"]
    sqlite_base = knowledge_base(SQLiteEngine(tmp_path / "home"), tmp_path / "home", ROOT / "rag_data")
    postgres_base = knowledge_base(PostgresEngine(postgres_url), tmp_path / "pg", ROOT / "rag_data")
    sqlite_base.ingest()
    postgres_base.ingest()
    try:
        for mode in ("hybrid", "vector", "keyword"):
            tops = [
                [base.search(q, k=1, mode=mode)[0].metadata["source"] for q in questions]
                for base in (sqlite_base, postgres_base)
            ]
            same = sum(a == b for a, b in zip(*tops, strict=True))
            assert same >= 0.9 * len(questions), (mode, same, len(questions))
    finally:
        sqlite_base.close()
        postgres_base.close()


# -- Postgres alone ----------------------------------------------------------------------------------
def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    engine = PostgresEngine(f"postgresql://ann:s3cret@127.0.0.1:{port}/notes")
    for attempt in (engine.refresh, engine.exists, lambda: engine.start(IndexInfo("x"))):
        with pytest.raises(RagchatError) as failed:
            attempt()
        message = str(failed.value)
        assert message.startswith(f"Cannot reach the database at postgresql://ann:***@127.0.0.1:{port}/notes (")
        assert message.endswith(" — check RAGCHAT_DATABASE_URL and that Postgres is running.")
        assert "\n" not in message and "s3cret" not in message


def test_a_database_without_pgvector_says_to_install_it(postgres_url: str) -> None:
    role = f"ragchat_plain_{uuid.uuid4().hex[:8]}"  # not a superuser: may not create the extension
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
    engine = PostgresEngine(make_conninfo(postgres_url, user=role))
    try:
        with pytest.raises(RagchatError) as failed:
            engine.start(IndexInfo("x"))
        message = str(failed.value)
        assert message.startswith("The database at ") and "cannot use pgvector (" in message
        assert message.endswith(
            "install pgvector on the server, and run `CREATE EXTENSION vector` there as a user allowed to."
        )
        assert "\n" not in message and not engine.exists()
    finally:
        engine.close()
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def test_postgres_tables_are_made_by_ragchat(postgres_url: str) -> None:
    engine = PostgresEngine(postgres_url)
    try:
        index = open_index(engine, ConceptEmbeddings(), IndexInfo("concepts"))
        add_texts(index, ConceptEmbeddings(), ["The automobile."], [{"source": "a.txt"}])
        engine.settle()  # the vector index, built once the ingest is done
        with psycopg.connect(postgres_url) as db:
            schema = db.execute("SELECT version FROM ragchat_schema").fetchall()
            column = db.execute(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'ragchat_chunks'::regclass AND attname = 'embedding'"
            ).fetchone()
            indexes = {
                row[0] for row in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'ragchat_chunks'")
            }
        assert schema == [(1,)] and column == ("vector(4)",)
        assert {"ragchat_chunks_embedding", "ragchat_chunks_words"} <= indexes
        assert stored(index)[0].page_content == "The automobile."
    finally:
        engine.close()


def test_postgres_refuses_vectors_of_another_dimension(postgres_url: str) -> None:
    """SQLite stores them and calls the index damaged when it next reads it; Postgres checks at once."""
    crafted = open_index(PostgresEngine(postgres_url), ConceptEmbeddings(), IndexInfo("concepts"))
    add_texts(crafted, ConceptEmbeddings(), ["The automobile."], [{"source": "a.txt"}])
    with pytest.raises(RagchatError, match="returned 16-d vectors but the index holds 4-d ones"):
        crafted.engine.commit(add=[file_chunks("boat.txt", "boat", embeddings=HashedEmbeddings(16))])
    crafted.engine.refresh()
    assert "boat.txt" not in crafted.files and crafted.info.dimension == 4
    crafted.engine.close()


def test_postgres_connections_lost_while_idle_are_opened_again(postgres_url: str) -> None:
    """A server restart, or an idle timeout, ends ragchat's sessions: the next read or write opens new ones."""
    engine = PostgresEngine(postgres_url)
    try:
        index = open_index(engine, ConceptEmbeddings(), IndexInfo("concepts"))
        add_texts(index, ConceptEmbeddings(), list(TEXTS.values()), [{"source": name} for name in TEXTS])
        with engine.writing():
            pass
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        assert ended == 3  # the reader, the writer, the write lock's
        assert top(index, "automobile", "hybrid") == ["garage.txt"]
        with engine.writing():
            engine.commit(add=[file_chunks("ferry.txt", "The ship leaves at noon.")])
        assert engine.refresh() and "ferry.txt" in engine.files
    finally:
        engine.close()


def test_postgres_builds_the_vector_index_once_an_ingest_is_done(postgres_url: str, tmp_path: Path) -> None:
    def indexed() -> bool:
        with psycopg.connect(postgres_url) as db:
            return db.execute("SELECT to_regclass('ragchat_chunks_embedding') IS NOT NULL").fetchone()[0]

    base = knowledge_base(PostgresEngine(postgres_url), tmp_path / "pg", ROOT / "rag_data")
    engine = base.engine
    engine.start(IndexInfo("fake"))
    engine.commit(add=[file_chunks("a.txt", "The automobile is serviced in spring.")])
    engine.refresh()
    assert not indexed()  # rows go in without it: inserting into HNSW row by row is ten times slower
    assert engine.vector_ranking(np.array([0.01, 1, 0, 0], dtype=np.float32), 1, None)[0].size == 1  # exact meanwhile
    engine.settle()
    assert indexed()
    engine.commit(add=[file_chunks("b.txt", "The vessel sails at dawn.")])  # later changes go into it
    engine.settle()
    engine.refresh()
    keys, _ = engine.vector_ranking(np.array([0.01, 0, 1, 0], dtype=np.float32), 1, None)
    assert [doc.metadata["source"] for doc in engine.chunks(keys.tolist()).values()] == ["b.txt"]


def test_postgres_builds_the_vector_index_anew_when_an_ingest_adds_many_rows(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def indexed() -> bool:
        with psycopg.connect(postgres_url) as db:
            return db.execute("SELECT to_regclass('ragchat_chunks_embedding') IS NOT NULL").fetchone()[0]

    monkeypatch.setattr(postgres_engine, "REBUILD_MIN_ROWS", 3)
    engine = PostgresEngine(postgres_url)
    engine.start(IndexInfo("fake"))
    with engine.writing():
        engine.commit(add=[file_chunks(f"{n}.txt", f"Ferry timetable number {n}.") for n in range(18)])
        engine.settle()
    assert indexed()
    with engine.writing():  # two rows among 18: a ninth would be 2, so they go into the index
        engine.commit(add=[file_chunks("a.txt", "The automobile is serviced in spring.", "And in autumn.")])
    assert indexed()
    with engine.writing():  # three more, counted from this hold: more than a ninth of 20
        engine.commit(add=[file_chunks("b.txt", "The vessel sails at dawn.")])
        assert indexed()
        engine.commit(add=[file_chunks("c.txt", "Gulls follow the vessel.", "The lighthouse keeper waves.")])
        assert not indexed()  # dropped in that commit: building it anew is cheaper than inserting
        engine.refresh()
        keys, _ = engine.vector_ranking(np.array([0.01, 0, 1, 0], dtype=np.float32), 2, None)  # exact meanwhile
        assert {doc.metadata["source"] for doc in engine.chunks(keys.tolist()).values()} == {"b.txt", "c.txt"}
        engine.settle()
    assert indexed()
    engine.refresh()
    keys, _ = engine.vector_ranking(np.array([0.01, 0, 1, 0], dtype=np.float32), 2, None)
    assert {doc.metadata["source"] for doc in engine.chunks(keys.tolist()).values()} == {"b.txt", "c.txt"}
