"""End to end against a real Ollama, when one answers with the models pulled; skipped otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from agent.assistant import Assistant
from agent.settings import load_settings

REAL_HOST = os.environ.get("OLLAMA_HOST", "http://localhost:11434")  # read before clean_env runs
SAMPLE = Path(__file__).parents[1] / "rag_data"


def pulled_models(host: str) -> set[str]:
    try:
        response = httpx.get(f"{load_settings(ollama_host=host).ollama_host}/api/tags", timeout=2)
        return {m["name"] for m in response.json()["models"]}
    except (httpx.HTTPError, ValueError, KeyError):
        return set()


@pytest.fixture
def live(tmp_path: Path) -> Assistant:
    models = pulled_models(REAL_HOST)
    if not models:
        pytest.skip(f"no Ollama answers at {REAL_HOST}")
    if not {"llama3.1:8b", "nomic-embed-text:latest"} <= models:
        pytest.skip("run `ollama pull llama3.1:8b` and `ollama pull nomic-embed-text` to run live tests")
    app = Assistant(load_settings(ollama_host=REAL_HOST, docs_dir=SAMPLE, home=tmp_path))
    app.ensure_index()
    return app


@pytest.mark.ollama
def test_real_model_answers_from_the_sample_corpus_and_cites(live: Assistant) -> None:
    turn = live.ask("How tall is Gannet Point Light?", "live").run()
    answer = turn.answer
    assert "34" in answer
    assert "[1]" in answer or "[2]" in answer
    assert turn.sources[0]["source"] == "harbour_ledger_spring.md"


@pytest.mark.ollama
def test_real_model_follow_up_uses_the_thread(live: Assistant) -> None:
    live.ask("How tall is Gannet Point Light?", "live-follow").run()
    follow_up = live.ask("Who designed Gannet Point Light, the tower you just described?", "live-follow")
    assert "Wrayburn-Hale" in follow_up.run().answer
