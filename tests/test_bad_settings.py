"""Unusable settings: each is one line on stderr and exit code 1, before any work and without a traceback."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from langchain_core.documents import Document

from agent.chat_model import check_ollama
from agent.formatting import fit_history, max_question_chars
from agent.settings import Settings, load_settings, read_preferences, save_preferences
from knowledge.errors import RagchatError
from ui.cli import main

HOST_HINT = "give an address such as http://127.0.0.1:11434 or 127.0.0.1:11434."


def ragchat(tmp_path: Path, *argv: str, **environment: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ui.cli`` in a fresh process (import-order problems show only there), from ``tmp_path``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAGCHAT_") and k != "OLLAMA_HOST"}
    clean |= {"RAGCHAT_HOME": str(tmp_path / "home"), "RAGCHAT_DOCS_DIR": str(tmp_path / "docs"), **environment}
    return subprocess.run(
        [sys.executable, "-m", "ui.cli", *argv], capture_output=True, text=True, env=clean, cwd=tmp_path, timeout=120
    )


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1:99999", "port 99999 is outside 1–65535"),
        ("::::", "the port is not a number"),
        ("localhost:abc", "the port is not a number"),
        ("http://[::1", "the brackets around an IPv6 address do not match"),
        ("ftp://example.com", "only http:// and https:// are supported"),
        ("http://exa mple.com", "a host name cannot hold spaces"),
    ],
)
def test_an_unusable_ollama_host_is_one_line_in_a_fresh_process(tmp_path: Path, host: str, reason: str) -> None:
    done = ragchat(tmp_path, "threads", OLLAMA_HOST=host)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"Error: Invalid setting ollama_host (OLLAMA_HOST): {host!r}: {reason} — {HOST_HINT}\n"


def test_a_broken_ollama_host_variable_is_named_even_when_a_flag_overrides_it(tmp_path: Path) -> None:
    # The ollama library reads OLLAMA_HOST itself when imported, whatever ragchat was told.
    done = ragchat(tmp_path, "threads", "--ollama-host", "127.0.0.1:11434", OLLAMA_HOST="::::")
    assert (done.returncode, done.stderr) == (
        1,
        f"Error: Invalid setting ollama_host (OLLAMA_HOST): '::::': the port is not a number — {HOST_HINT}\n",
    )


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-5", "soon", "86401"])
def test_an_unusable_timeout_says_what_is_allowed(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("RAGCHAT_TIMEOUT", value)
    monkeypatch.setenv("RAGCHAT_HOME", str(tmp_path / "home"))
    assert main(["threads"]) == 1
    assert capsys.readouterr().err == (
        f"Error: Invalid setting timeout (RAGCHAT_TIMEOUT): {value!r} — give a number of seconds "
        "above 0 and at most 86400 (default 120).\n"
    )


@pytest.mark.parametrize("value", ["sqlite:///x.db", "db.example:5432", "mysql://u@h/d"])
def test_a_database_url_that_is_not_postgres_says_what_to_give(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("RAGCHAT_DATABASE_URL", value)
    monkeypatch.setenv("RAGCHAT_HOME", str(tmp_path / "home"))
    assert main(["sources"]) == 1
    assert capsys.readouterr().err.startswith(f"Error: Invalid setting database_url (RAGCHAT_DATABASE_URL): {value!r}")


def test_a_finite_timeout_is_kept() -> None:
    assert load_settings(timeout="2.5").timeout == 2.5


def largest_num_predict(**values: object) -> int:
    """Find by trial the largest num_predict the settings accept."""
    low, high = 16, 1 << 20
    while low < high:
        middle = (low + high + 1) // 2
        try:
            load_settings(num_predict=middle, **values)
            low = middle
        except RagchatError:
            high = middle - 1
    return low


@pytest.mark.parametrize("values", [{}, {"num_ctx": 4096}, {"num_ctx": 2048, "chunk_size": 1500}])
def test_the_largest_accepted_num_predict_still_leaves_room_for_a_source(values: dict[str, int]) -> None:
    settings = load_settings(num_predict=largest_num_predict(**values), **values)
    question = "w" * max_question_chars(settings.num_ctx)
    source = Document("x" * settings.chunk_size, metadata={"source": "f" * 100, "article": 12345})
    _, kept = fit_history([], [source], question, settings.num_ctx, settings.num_predict)
    assert kept == [source]


def test_a_num_predict_that_leaves_no_room_for_sources_is_refused_naming_both_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    largest = largest_num_predict()
    monkeypatch.setenv("RAGCHAT_NUM_PREDICT", "100000")
    monkeypatch.setenv("RAGCHAT_HOME", str(tmp_path / "home"))
    assert main(["threads"]) == 1
    assert capsys.readouterr().err == (
        "Error: Invalid setting num_predict (RAGCHAT_NUM_PREDICT): 100,000 answer tokens leave no room for a source "
        f"in num_ctx (RAGCHAT_NUM_CTX) 8,192 — use at most {largest:,}, or raise RAGCHAT_NUM_CTX.\n"
    )


def test_a_small_context_window_is_refused_with_the_default_answer_length() -> None:
    with pytest.raises(RagchatError, match=r"^Invalid setting num_predict \(RAGCHAT_NUM_PREDICT\): 1,024 answer"):
        load_settings(num_ctx=1024)


@pytest.mark.parametrize(
    ("variable", "name", "hint"),
    [
        ("RAGCHAT_HOME", "home", "point RAGCHAT_HOME at a folder (it is created if missing)"),
        ("RAGCHAT_DOCS_DIR", "docs_dir", "point RAGCHAT_DOCS_DIR at the folder of your documents"),
    ],
)
def test_a_folder_setting_that_is_a_file_is_one_line(
    variable: str,
    name: str,
    hint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("not a folder")
    monkeypatch.setenv("RAGCHAT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(variable, str(plain))
    assert main(["threads"]) == 1
    assert capsys.readouterr().err == (
        f"Error: Invalid setting {name} ({variable}): {str(plain)!r} is a file, not a folder — {hint}.\n"
    )
    assert plain.read_text() == "not a folder"


def test_a_folder_setting_inside_a_file_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "notes.txt"
    plain.write_text("not a folder")
    monkeypatch.setenv("RAGCHAT_HOME", str(plain / "data"))
    assert main(["threads"]) == 1
    assert capsys.readouterr().err == (
        f"Error: Invalid setting home (RAGCHAT_HOME): {str(plain / 'data')!r} is inside {str(plain)!r}, "
        "which is a file — point RAGCHAT_HOME at a folder (it is created if missing).\n"
    )


def test_settings_that_are_folders_or_missing_are_fine(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "new" / "home", docs_dir=tmp_path)
    assert (settings.home, settings.docs_dir) == (tmp_path / "new" / "home", tmp_path)


def test_a_system_prompt_too_long_for_the_context_is_refused_and_not_saved(settings: Settings) -> None:
    with pytest.raises(RagchatError, match=r"^Invalid setting num_ctx \(RAGCHAT_NUM_CTX\): 8,192 tokens cannot hold"):
        save_preferences(settings, system_prompt="Answer like a pirate. " * 1500)
    assert read_preferences(settings.home) == {}


# -- an OLLAMA_HOST that answers, but is not Ollama ---------------------------------------------


@contextmanager
def not_ollama(status: int, body: bytes) -> Iterator[str]:
    """Serve ``body`` with ``status`` to every request on 127.0.0.1 (a router page, another API); yield its URL."""

    class Reply(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Reply)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html>Router login</html>"),
        (200, b'{"models": 5}'),
        (200, b"[]"),
        (404, b"404 page not found"),
        (500, b'{"error": "boom"}'),
    ],
    ids=["a web page", "models not a list", "a JSON list", "not found", "server error"],
)
def test_a_host_that_is_not_ollama_is_reported_unreachable_in_one_line(status: int, body: bytes) -> None:
    with not_ollama(status, body) as url:
        health = check_ollama(load_settings(ollama_host=url))
    assert (health.reachable, health.answers) == (False, False)
    assert health.problems == [f"Ollama is not reachable at {url} — start it with `ollama serve`."]
