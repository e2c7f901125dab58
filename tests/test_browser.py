"""End to end in a real browser: Streamlit serving ui/app.py, Debian's Chromium driven by Playwright.

The fake Ollama server runs in this test process; ``streamlit run`` runs as a subprocess on
127.0.0.1 and a free port, and talks to it over HTTP. Skipped only when no Chromium is
installed (``bash .ci/run`` installs Debian's). Set ``RAGCHAT_SCREENSHOT_DIR`` to also write
the README's screenshots there (taken over the sample documents in ``rag_data/``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.fake_ollama import FakeOllama, Fault, rewrite_request
from tests.test_markup import hostile_markdown

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
README_SCREENSHOTS = ("conversation.png", "documents.png")
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
def serve(fake_ollama: FakeOllama, tmp_path: Path) -> Iterator[Callable[[Path], str]]:
    """Start ``streamlit run ui/app.py`` over a documents folder against the fake Ollama; stopped afterwards."""
    processes: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "streamlit.log").open("w")

    def start(docs: Path) -> str:
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
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.3)
        pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()}")

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)
        log.close()


@pytest.fixture
def server(serve: Callable[[Path], str], corpus: Path, tmp_path: Path) -> str:
    """The page over the test corpus (or the sample documents) plus a notice holding HTML and a script."""
    docs = corpus
    if SCREENSHOTS:
        docs = tmp_path / "sample"
        shutil.copytree(ROOT / "rag_data", docs)
    (docs / "injected.md").write_text(
        "# Harbour notice\n\nThe Quillmarsh notice board says <script>alert('pwned')</script> <b>hello</b>.\n"
    )
    return serve(docs)


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


class Remote:
    """A "remote host" on 127.0.0.1 that records every request it gets (and answers each with a tiny PNG)."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        remote = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                remote.paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)

            do_POST = do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def settle(page: object) -> None:
    """Wait until the script run (and the rerun after an answer) has finished drawing."""
    page.wait_for_timeout(300)
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=60_000)
    page.wait_for_timeout(300)


# What a stray Python object, an error trace or a repr looks like on the page (Streamlit "magic" draws a bare
# expression as a box documenting the object: a bare `assistant.checkpointer` drew LangGraph's SqliteSaver).
STRAY_TEXT = (
    "Traceback", "object at 0x", "<class ", "<function ", "<bound method", "<module ", "Help(", "SqliteSaver",
    "langgraph", "langchain", "site-packages", "NoneType", "StreamlitAPIException", "ThreadInfo(", "Health(",
    "Settings(", "PosixPath(", "Document(", "page_content=",
)  # fmt: skip
STRAY_ELEMENTS = "stHelp stException stJson".split()


PAGES = ["Chat", "Documents", "Settings"]
"""The page's navigation, top to bottom; Chat is the default page, at the site's root."""


def in_first_screen(page: object, box: dict[str, float] | None) -> bool:
    """Whether ``box`` (an element's bounding box) lies wholly within the first screen."""
    return box is not None and 0 <= box["y"] and box["y"] + box["height"] <= page.viewport_size["height"]


def go_to(page: object, title: str) -> None:
    """Open another page by its link in the sidebar's navigation, as a reader does."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()


def assert_navigation(page: object, current: str) -> None:
    """Assert the sidebar's navigation is in the first screen, lists every page, and marks ``current`` as shown."""
    nav = page.get_by_test_id("stSidebarNav")
    assert in_first_screen(page, nav.bounding_box()), f"the navigation is not in view: {nav.bounding_box()}"
    links = nav.get_by_test_id("stSidebarNavLink")
    titles = [link.get_by_test_id("stMarkdownContainer").inner_text() for link in links.all()]
    shown = [link.get_attribute("aria-current") == "page" for link in links.all()]
    assert (titles, shown) == (PAGES, [title == current for title in PAGES])


def assert_shows_only_the_view(page: object, heading: str, current: str) -> None:
    """Assert the view's heading and the navigation are in the first screen and no Python object is drawn.

    The navigation marks ``current`` as the page shown; no trace or repr is drawn either.
    """
    box = page.get_by_role("heading", name=heading, exact=True).bounding_box()
    assert in_first_screen(page, box), f"{heading!r} not in view: {box}"
    assert_navigation(page, current)
    text = page.inner_text("body")
    stray = [s for s in STRAY_TEXT if s in text]
    assert stray == [], f"the {heading} view shows {stray}; the page reads:\n{text}"
    assert [e for e in STRAY_ELEMENTS if page.get_by_test_id(e).count()] == [], f"the {heading} view draws an object"


def to_top(page: object) -> None:
    """Scroll the main area back to its top (a conversation scrolls to its newest answer) and wait out toasts."""
    page.get_by_test_id("stToast").last.wait_for(state="detached", timeout=10_000)
    main = page.get_by_test_id("stMainBlockContainer")
    page.mouse.move(page.viewport_size["width"] * 0.6, page.viewport_size["height"] / 2)  # over the main area
    before, steady = None, 0
    for _ in range(60):  # while an expander opens, the page grows and sticks to its bottom again: until it stops
        page.mouse.wheel(0, -100_000)  # as a reader scrolls (a script's scrollTo is undone by the stick-to-bottom)
        page.wait_for_timeout(150)
        now = main.evaluate("main => [main.getBoundingClientRect().top, main.getBoundingClientRect().height]")
        steady = steady + 1 if now == before else 0
        if steady == 3:  # unmoved for half a second: a slow machine can still be laying the page out after one
            return
        before = now
    pytest.fail(f"the page did not stay at its top: {now}")


def shoot(page: object, tmp_path: Path, name: str) -> None:
    """Take a screenshot into ``tmp_path``; the README's own also into ``RAGCHAT_SCREENSHOT_DIR`` when set."""
    page.screenshot(path=str(tmp_path / name), full_page=True)
    if SCREENSHOTS and name in README_SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_ask_see_sources_upload_and_see_it_indexed(
    server: str, fake_ollama: FakeOllama, browser_page: object, tmp_path: Path
) -> None:
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server)
    box = page.get_by_placeholder("Ask about your documents")
    box.wait_for(timeout=60_000)
    settle(page)
    assert_shows_only_the_view(page, "ragchat", "Chat")
    question = (
        "Who skippered Brackwater, and how long did the course take?"
        if SCREENSHOTS
        else "Who cast the Quillmarsh tide bell?"
    )
    box.fill(question)
    box.press("Enter")
    page.get_by_text("Sources (").first.wait_for(timeout=60_000)
    # The run after an answer lists the thread by its question and draws the conversation anew (its expanders
    # closed): open the sources after it, not in the instant before it, which a busy machine can stretch.
    page.get_by_test_id("stSidebarUserContent").get_by_role("button", name=question).wait_for(timeout=60_000)
    settle(page)
    answer = page.get_by_test_id("stChatMessage").nth(1)
    expected = "Jónas Thorvik" if SCREENSHOTS else "Oriel Vantongeren in 1743"
    assert expected in answer.inner_text()
    page.get_by_text("Sources (").first.click()
    page.get_by_text("[1]").first.wait_for()
    assert "thread=" in page.url
    to_top(page)
    assert_shows_only_the_view(page, "ragchat", "Chat")
    assert_shows_the_answered_conversation(page, question, expected)
    shoot(page, tmp_path, "conversation.png")

    follow_up = "What does the Quillmarsh notice board say?"
    fake_ollama.respond(lambda body: follow_up if rewrite_request(body) else None)  # the model rewrites it as is
    box.fill(follow_up)
    box.press("Enter")
    page.get_by_test_id("stChatMessage").nth(3).get_by_text("Sources (").first.wait_for(timeout=60_000)
    settle(page)
    second = page.get_by_test_id("stChatMessage").nth(3)
    second.get_by_text("Sources (").click()
    second.get_by_text("<script>alert('pwned')</script>").first.wait_for(state="visible")  # shown as text, not run

    settle(page)
    go_to(page, "Documents")
    page.get_by_text("Add files").wait_for()
    settle(page)
    upload = tmp_path / "tide_tables.md"
    upload.write_text("# Tide tables\n\nHigh tide at Skerrowick pier is at 06:40 on Monday.\n")
    for attempt in range(3):  # a selection made while Streamlit re-runs the view can be dropped: choose again
        page.locator("input[type=file]").set_input_files(str(upload))
        try:
            page.get_by_text("tide_tables.md").first.wait_for(timeout=10_000)
            break
        except Exception:
            if attempt == 2:
                raise
            settle(page)
    page.get_by_role("button", name="Upload and index").click()
    page.get_by_text("Saved tide_tables.md").wait_for(timeout=60_000)
    page.get_by_test_id("stDataFrame").wait_for()
    files = 6 if SCREENSHOTS else 4  # the corpus, the injected notice and the upload
    page.get_by_text(f"{files} files, ").wait_for()
    to_top(page)
    assert_shows_only_the_view(page, "Documents", "Documents")
    shoot(page, tmp_path, "documents.png")

    go_to(page, "Settings")
    page.get_by_role("heading", name="How a question is answered").wait_for()
    settle(page)
    assert_shows_only_the_view(page, "Settings", "Settings")
    page.screenshot(path=str(tmp_path / "settings.png"))

    go_to(page, "Chat")  # back to the same conversation
    page.get_by_text("Sources (").first.wait_for(timeout=60_000)
    settle(page)
    assert len(page.get_by_test_id("stChatMessage").all()) == 4 and "thread=" in page.url
    # no page, page icon or favicon is fetched from anywhere else (a :material/…: favicon comes from Google)
    assert [r for r in requested if not r.startswith((server + "/", "data:", "blob:"))] == [], requested


def assert_shows_the_answered_conversation(page: object, question: str, answer: str) -> None:
    """Assert what a reader sees of a one-question thread, its sources open.

    The question, then the answer with its sources numbered from 1 (the first from the file holding the fact);
    the sidebar lists the thread by its question; the question box waits in the first screen.
    """
    user, reply = page.get_by_test_id("stChatMessage").all()
    assert user.inner_text().endswith(question) and answer in reply.inner_text()
    assert user.bounding_box()["y"] < reply.bounding_box()["y"]
    sources = reply.get_by_test_id("stExpander")
    [label] = re.findall(r"Sources \((\d+)\)", sources.inner_text())
    cited = re.findall(r"^\[(\d+)\] (\S+)", sources.inner_text(), re.MULTILINE)
    assert [number for number, _ in cited] == [str(n) for n in range(1, int(label) + 1)], sources.inner_text()
    first = "harbour_ledger_summer.md" if SCREENSHOTS else "harbour.md"  # where the answer's fact is
    assert cited[0][1] == first, sources.inner_text()
    sidebar = page.get_by_test_id("stSidebarUserContent")
    assert sidebar.get_by_role("button", name=question).count() == 1, sidebar.inner_text()
    assert in_first_screen(page, page.get_by_placeholder("Ask about your documents").bounding_box())


@pytest.fixture
def remote() -> Iterator[Remote]:
    server = Remote()
    yield server
    server.close()


def test_hostile_answers_and_sources_make_the_browser_fetch_nothing(
    serve: Callable[[Path], str],
    corpus: Path,
    remote: Remote,
    fake_ollama: FakeOllama,
    browser_page: object,
    tmp_path: Path,
) -> None:
    hostile = hostile_markdown(remote.url)
    (corpus / "lanterns.md").write_text("# Lantern festival\n\n" + hostile)
    url = serve(corpus)
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_viewport_size({"width": 1280, "height": 3200})  # the whole answer and its sources in the screenshot
    page.goto(url)
    box = page.get_by_placeholder("Ask about your documents")
    box.wait_for(timeout=60_000)
    fake_ollama.enqueue(hostile)
    box.fill(f"When is the Quillmarsh lantern festival? ![asked]({remote.url}/question.png)")
    box.press("Enter")
    page.get_by_text("Sources (").first.wait_for(timeout=60_000)
    settle(page)
    page.get_by_text("Sources (").first.click()
    settle(page)
    shoot(page, tmp_path, "hostile.png")
    page.reload()
    page.get_by_text("Sources (").first.wait_for(timeout=60_000)
    page.get_by_text("Sources (").first.click()
    settle(page)

    assert remote.paths == [], f"the page fetched {len(remote.paths)} remote resources: {remote.paths}"
    assert [r for r in requested if not r.startswith((url + "/", "data:", "blob:"))] == [], requested
    answer = page.get_by_test_id("stChatMessage").nth(1)
    assert answer.locator("li strong").first.inner_text() == "Lanterns"
    assert answer.locator("li em").first.inner_text() == "dusk"
    assert answer.locator("pre code").first.inner_text().strip() == 'print("code survives")'
    shown = answer.inner_text()
    assert f"inline alt (image: {remote.url}/inline.png?data=secret)" in shown
    assert f'<img src="{remote.url}/raw-img.png" alt="raw">' in shown
    assert answer.locator("img, picture, svg image, iframe, link, video, audio, object, embed, input").count() == 0


def test_a_question_typed_while_an_answer_streams_leaves_the_first_marked(
    serve: Callable[[Path], str], corpus: Path, fake_ollama: FakeOllama, browser_page: object, tmp_path: Path
) -> None:
    url = serve(corpus)
    page = browser_page
    page.goto(url)
    box = page.get_by_placeholder("Ask about your documents")
    box.wait_for(timeout=60_000)
    fake_ollama.fault("/api/chat", Fault("slow", seconds=0.4))  # the first answer streams for about 6 seconds
    fake_ollama.enqueue("Oriel Vantongeren cast the Quillmarsh bell in 1743, and it still hangs in the tower [1].")
    box.fill("Who cast the Quillmarsh tide bell?")
    box.press("Enter")
    page.get_by_test_id("stChatMessage").nth(1).get_by_text("Oriel").wait_for(timeout=60_000)
    box.fill("How heavy is the Quillmarsh bell?")  # typed while the first answer is still streaming
    box.press("Enter")
    page.get_by_test_id("stChatMessage").nth(3).get_by_text("Sources (").wait_for(timeout=60_000)
    settle(page)
    page.reload()
    page.get_by_test_id("stChatMessage").nth(3).get_by_text("Sources (").wait_for(timeout=60_000)
    settle(page)
    shoot(page, tmp_path, "interrupted.png")
    shown = [m.inner_text() for m in page.get_by_test_id("stChatMessage").all()]
    assert len(shown) == 4, shown
    assert shown[0].endswith("Who cast the Quillmarsh tide bell?")
    assert "Oriel" in shown[1] and "Interrupted: the turn was stopped before it finished" in shown[1]
    assert "in the tower [1]." not in shown[1]  # it really was cut short
    assert shown[2].endswith("How heavy is the Quillmarsh bell?")
    assert "612 kilograms" in shown[3] and "Interrupted" not in shown[3]
