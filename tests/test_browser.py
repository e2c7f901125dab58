"""End to end in a real browser: Streamlit serving ui/app.py, Debian's Chromium driven by Playwright.

The fake Ollama server runs in this test process; ``streamlit run`` runs as a subprocess on
127.0.0.1 and a free port, and talks to it over HTTP. Skipped only when no Chromium is
installed (``bash .ci/run`` installs Debian's). Set ``RAGCHAT_SCREENSHOT_DIR`` to also write
the README's screenshots there (taken over the sample documents in ``rag_data/``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fake_ollama import FakeOllama

ROOT = Path(__file__).parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = os.environ.get("RAGCHAT_SCREENSHOT_DIR")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"),  # in CI a missing browser is a failure, not a skip
        reason="no Chromium installed — `apt-get install chromium` (bash .ci/run does)",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(fake_ollama: FakeOllama, corpus: Path, tmp_path: Path) -> Iterator[str]:
    """``streamlit run ui/app.py`` against the fake Ollama, stopped afterwards."""
    docs = corpus
    if SCREENSHOTS:
        docs = tmp_path / "sample"
        shutil.copytree(ROOT / "rag_data", docs)
    (docs / "injected.md").write_text(
        "# Harbour notice\n\nThe Quillmarsh notice board says <script>alert('pwned')</script> <b>hello</b>.\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "OLLAMA_HOST": fake_ollama.url,
        "RAGCHAT_HOME": str(tmp_path / "home"),
        "RAGCHAT_DOCS_DIR": str(docs),
    }
    app = str(ROOT / "ui" / "app.py")
    command = [sys.executable, "-m", "streamlit", "run", app, "--server.port", str(port), "--server.address",
               "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"]  # fmt: skip
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[object]:
    """A Chromium page with a fresh profile; any JavaScript dialog fails the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        yield page
        context.close()
        assert dialogs == [], f"a script from a document ran: {dialogs}"


def settle(page: object) -> None:
    """Wait until the script run (and the rerun after an answer) has finished drawing."""
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=60_000)
    page.wait_for_timeout(300)


def shoot(page: object, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_ask_see_sources_upload_and_see_it_indexed(server: str, browser_page: object, tmp_path: Path) -> None:
    page = browser_page
    page.goto(server)
    box = page.get_by_placeholder("Ask about your documents")
    box.wait_for(timeout=60_000)
    question = (
        "Who skippered Brackwater, and how long did the course take?"
        if SCREENSHOTS
        else "Who cast the Quillmarsh tide bell?"
    )
    box.fill(question)
    box.press("Enter")
    page.get_by_text("Sources (").first.wait_for(timeout=60_000)
    settle(page)
    answer = page.get_by_test_id("stChatMessage").nth(1)
    expected = "Jónas Thorvik" if SCREENSHOTS else "Oriel Vantongeren in 1743"
    assert expected in answer.inner_text()
    page.get_by_text("Sources (").first.click()
    page.get_by_text("[1]").first.wait_for()
    assert "thread=" in page.url
    shoot(page, tmp_path, "conversation.png")

    box.fill("What does the Quillmarsh notice board say?")
    box.press("Enter")
    page.get_by_test_id("stChatMessage").nth(3).get_by_text("Sources (").first.wait_for(timeout=60_000)
    settle(page)
    second = page.get_by_test_id("stChatMessage").nth(3)
    second.get_by_text("Sources (").click()
    second.get_by_text("<script>alert('pwned')</script>").first.wait_for(state="visible")  # shown as text, not run

    settle(page)
    page.get_by_text("Documents", exact=True).click()
    page.get_by_text("Add files").wait_for()
    settle(page)
    upload = tmp_path / "tide_tables.md"
    upload.write_text("# Tide tables\n\nHigh tide at Skerrowick pier is at 06:40 on Monday.\n")
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_text("tide_tables.md").first.wait_for()
    page.get_by_role("button", name="Upload and index").click()
    page.get_by_text("Saved tide_tables.md").wait_for(timeout=60_000)
    page.get_by_test_id("stDataFrame").wait_for()
    files = 6 if SCREENSHOTS else 4  # the corpus, the injected notice and the upload
    page.get_by_text(f"{files} files, ").wait_for()
    shoot(page, tmp_path, "documents.png")
    assert (tmp_path / "conversation.png").stat().st_size > 10_000
