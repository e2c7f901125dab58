"""The evidence threshold is measured on the user's own index, so abstention holds for any embedder's scale."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from knowledge.calibration import HELD_ASIDE, Calibration
from tests.fake_ollama import FakeOllama, embed_text

OFF_TOPIC = "Which football club won the league cup final?"
ANSWERABLE = "Who cast the Quillmarsh tide bell?"


def crowded(texts: list[str]) -> list[list[float]]:
    """The fake's hashed words plus one large shared direction: every cosine lands between about 0.7 and 1.

    Like an embedder whose vectors crowd into a narrow cone; a fixed 0.5 means nothing to it.
    """
    rows = []
    for text in texts:
        vector = np.asarray(embed_text(text)) + 1.5 * np.eye(768)[7]
        rows.append((vector / np.linalg.norm(vector)).tolist())
    return rows


@pytest.fixture
def crowded_ollama() -> FakeOllama:
    server = FakeOllama(embedder=crowded).start()
    yield server
    server.stop()


def ask(app: Assistant, question: str) -> bool:
    """Ask in a new thread; return whether the turn abstained before calling the model."""
    return app.ask(question, f"t{abs(hash(question))}").run().abstained


def test_a_calibrated_threshold_abstains_off_topic_and_answers_on_topic_with_a_crowded_embedder(
    crowded_ollama: FakeOllama, corpus: Path, tmp_path: Path
) -> None:
    app = Assistant(load_settings(ollama_host=crowded_ollama.url, docs_dir=corpus, home=tmp_path / "home"))
    app.ensure_index()
    threshold = app.knowledge.evidence_threshold()
    assert 0.6 < threshold < 1  # far from the 0.5 that suited nomic-embed-text
    assert ask(app, OFF_TOPIC)
    assert not ask(app, ANSWERABLE)


def test_a_set_min_score_overrides_the_calibration(crowded_ollama: FakeOllama, corpus: Path, tmp_path: Path) -> None:
    app = Assistant(
        load_settings(ollama_host=crowded_ollama.url, docs_dir=corpus, home=tmp_path / "home", min_score=0.5)
    )
    app.ensure_index()
    assert not ask(app, OFF_TOPIC)  # every cosine passes 0.5 with this embedder: the fixed bar cannot refuse


def test_the_threshold_follows_the_embedders_scale(
    fake_ollama: FakeOllama, crowded_ollama: FakeOllama, corpus: Path, tmp_path: Path
) -> None:
    thresholds = []
    for server in (fake_ollama, crowded_ollama):
        app = Assistant(load_settings(ollama_host=server.url, docs_dir=corpus, home=tmp_path / server.url[-5:]))
        app.ensure_index()
        thresholds.append(app.knowledge.evidence_threshold())
    plain, crowded_bar = thresholds
    assert plain < 0.3 < 0.6 < crowded_bar


def test_the_held_aside_questions_are_embedded_once_with_the_index(settings: Settings, fake_ollama: FakeOllama) -> None:
    Assistant(settings).ensure_index()
    questions = [t for t in fake_ollama.embedded_texts if t.startswith("search_query: ")]
    assert questions == [f"search_query: {q}" for q in HELD_ASIDE]
    assert len(fake_ollama.calls("/api/embed")) == 2  # the chunks, then the questions in one request
    reopened = Assistant(settings)  # another process: the vectors come from the index, not from Ollama
    before = len(fake_ollama.embedded_texts)
    assert reopened.knowledge.evidence_threshold() == Assistant(settings).knowledge.evidence_threshold()
    reopened.search("ferry")
    assert fake_ollama.embedded_texts[before:] == ["search_query: ferry"]


def test_the_threshold_is_measured_again_when_the_documents_change(settings: Settings) -> None:
    app = Assistant(settings)
    app.ensure_index()
    first = app.knowledge.evidence_threshold()
    # a document that shares words with many held-aside questions raises what unrelated questions reach
    (settings.docs_dir / "trivia.md").write_text("\n\n".join(HELD_ASIDE[:30]) + "\n", encoding="utf-8")
    app.ingest()
    assert app.knowledge.evidence_threshold() > first


def test_an_index_saved_without_calibration_is_calibrated_on_first_need(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    app = Assistant(settings)
    app.ensure_index()
    threshold = app.knowledge.evidence_threshold()
    app.close()
    calls = len(fake_ollama.calls("/api/embed"))
    assert Assistant(settings).knowledge.evidence_threshold() == threshold  # stored: nothing embedded
    assert len(fake_ollama.calls("/api/embed")) == calls
    with sqlite3.connect(settings.index_path) as db:
        db.execute("DELETE FROM meta WHERE key = 'calibration'")
    db.close()
    assert Assistant(settings).knowledge.evidence_threshold() == threshold  # embedded again, same questions
    assert len(fake_ollama.calls("/api/embed")) == calls + 1


def test_a_threshold_is_just_above_what_most_unrelated_questions_reach() -> None:
    chunks = np.eye(4, dtype=np.float32)
    questions = np.zeros((10, 4), dtype=np.float32)
    questions[:, 3] = 1.0
    questions[9] = [0.6, 0.8, 0, 0]
    assert Calibration(questions).threshold(chunks) == pytest.approx(1.0001)  # 90th percentile: the nine at 1
    questions[:, :] = [1, 0, 0, 0]
    questions[:, 0] = 0  # nothing meets anything: the bar is just above zero, and zero is not evidence
    assert Calibration(questions).threshold(chunks) == 0.0001
    assert Calibration(questions).threshold(np.zeros((0, 4), dtype=np.float32)) is None
