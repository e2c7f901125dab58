"""Shared fixtures: a clean environment per test, the fake Ollama server, a small corpus."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from tests import postgres
from tests.fake_ollama import FakeOllama

if TYPE_CHECKING:
    from streamlit.testing.v1 import AppTest

# A made-up fact no model could know: retrieval must find it, not remember it.
PLANTED = "The Quillmarsh tide bell was cast by Oriel Vantongeren in 1743 and weighs 612 kilograms."

CORPUS = {
    "harbour.md": (
        "# The Quillmarsh Bell\n\n"
        + PLANTED
        + "\nIt hangs in the harbour tower.\n---\n"
        + "# Ferries\n\nThe morning ferry to Dunlow leaves at 07:15 from pier two.\n"
    ),
    "notes/market.txt": (
        "Market day\n\nThe Saturday market sells smoked mackerel, rye bread and wool.\n"
        "---\nWeather\n\nFog usually lifts from the bay by eleven in the morning.\n"
    ),
    "ignored.csv": "a,b\n1,2\n",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Remove every ragchat/Ollama variable and run from an empty folder."""
    for name in list(os.environ):
        if name.startswith("RAGCHAT_") or name == "OLLAMA_HOST":
            monkeypatch.delenv(name)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A fake Ollama on 127.0.0.1 and a free port, stopped after the test."""
    server = FakeOllama().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder with two documents (one in a subfolder) and a file of an ignored type."""
    root = tmp_path / "docs"
    for name, text in CORPUS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def unreachable_url() -> str:
    """A localhost URL on which nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def settings(fake_ollama: FakeOllama, corpus: Path, tmp_path: Path) -> Settings:
    """Settings pointing at the fake server, the test corpus and a private data folder."""
    return load_settings(ollama_host=fake_ollama.url, docs_dir=corpus, home=tmp_path / "home")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """The same settings, but given through environment variables (for the CLI and the page)."""
    monkeypatch.setenv("OLLAMA_HOST", settings.ollama_host)
    monkeypatch.setenv("RAGCHAT_DOCS_DIR", str(settings.docs_dir))
    monkeypatch.setenv("RAGCHAT_HOME", str(settings.home))
    return settings


@pytest.fixture
def assistant(settings: Settings) -> Assistant:
    """An Assistant over the test corpus, index built, talking to the fake server."""
    app = Assistant(settings)
    app.ensure_index()
    return app


@pytest.fixture
def page(env: Settings) -> Iterator[AppTest]:
    """The web page, opened as a fresh server would (caches cleared) over the test corpus."""
    import streamlit as st  # here: most tests never open the page

    from tests.test_ui import start

    app = start()
    assert not app.exception, app.exception
    yield app
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """An admin URL of a Postgres with pgvector: RAGCHAT_TEST_DATABASE_URL's, else one pgserver starts here."""
    with postgres.server() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new database of this test's own on that server, dropped after it."""
    with postgres.fresh_database(postgres_server) as url:
        yield url
