"""Sources a person can read: the whole passage, where it sits in its file, and why it was found.

The page, the CLI and a thread's stored records show the same words; records written by
older versions (no passage text, no lines, no relevance) still render.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from langchain_core.documents import Document
from streamlit.testing.v1 import AppTest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from agent.sources import passage, source_label, source_record
from knowledge.loader import load_file
from knowledge.splitter import split_documents
from tests.fake_ollama import FakeOllama
from tests.test_browser import CHROMIUM, Remote, browser_page, remote, serve, settle  # noqa: F401 (fixtures)
from tests.test_cli import run
from tests.test_markup import R, active, hostile_markdown
from tests.test_ui import ask, start

SAMPLE = Path(__file__).parents[1] / "rag_data"
BELL = "Who cast the Quillmarsh tide bell?"
BELL_LABEL = (
    "harbour.md · article 1 “The Quillmarsh Bell” · lines 1–4"
    " — strong match · by meaning and by words (cast, quillmarsh, tide, bell)"
)
BELL_PASSAGE = (
    "The Quillmarsh Bell\n\n"
    "The Quillmarsh tide bell was cast by Oriel Vantongeren in 1743 and weighs 612 kilograms.\n"
    "It hangs in the harbour tower."
)


def popovers(element: Any) -> list[Any]:
    """The popover blocks under ``element`` (AppTest has no popover type of its own)."""
    found = []
    for child in getattr(element, "children", {}).values():
        if type(child).__name__ == "Block" and child.proto.WhichOneof("type") == "popover":
            found.append(child)
        found += popovers(child)
    return found


# -- the record -------------------------------------------------------------------------------
def test_a_record_keeps_the_whole_passage() -> None:
    doc = Document("A long passage. " * 40, metadata={"source": "a.txt"})
    assert source_record(1, doc)["text"] == doc.page_content


def test_markdown_snippets_are_plain_text() -> None:
    text = "# Tides\n\n**High** water at _06:40_, see [the table](http://x.test/t)."
    doc = Document(text, metadata={"source": "a.md"})
    assert source_record(1, doc)["snippet"] == "Tides High water at 06:40, see the table."


def test_a_markdown_image_in_a_snippet_is_its_alt_text_and_address() -> None:
    doc = Document(f"![the map]({R}/map.png) and `code`", metadata={"source": "a.md"})
    assert source_record(1, doc)["snippet"] == f"the map (image: {R}/map.png) and code"


def test_text_file_snippets_stay_literal() -> None:
    doc = Document("# Not a heading, **not bold**", metadata={"source": "a.txt"})
    assert source_record(1, doc)["snippet"] == "# Not a heading, **not bold**"


def test_a_record_from_an_older_version_still_gets_a_label_and_passage() -> None:
    old = {"number": 1, "source": "a.md", "article": 2, "title": "Tides", "score": 0.93, "snippet": "High water…"}
    assert (source_label(old), passage(old)) == ("a.md · article 2 “Tides”", "High water…")


# -- where it sits in its file ----------------------------------------------------------------
def test_chunks_of_text_and_markdown_record_their_lines(tmp_path: Path) -> None:
    story = "\n".join(f"Line {n} of the harbour story." for n in range(3, 80))  # "Line n" sits on line n
    text = f"# Title\n\n{story}\n---\nSecond\n\nTail.\n"
    (tmp_path / "a.md").write_text(text)
    (tmp_path / "b.txt").write_bytes(text.replace("\n", "\r\n").encode())
    documents = load_file(tmp_path / "a.md", "a.md") + load_file(tmp_path / "b.txt", "b.txt")
    chunks = split_documents(documents, chunk_size=200, chunk_overlap=40)
    numbered = [c for c in chunks if c.page_content.startswith("Line ")]
    assert len(numbered) > 10
    for chunk in numbered:
        lines = chunk.page_content.split("\n")
        numbers = int(lines[0].split()[1]), int(lines[-1].split()[1])
        assert (chunk.metadata["line_start"], chunk.metadata["line_end"]) == numbers
    tails = [c.metadata for c in chunks if "Tail" in c.page_content]
    assert [(m["source"], m["line_start"], m["line_end"]) for m in tails] == [("a.md", 81, 83), ("b.txt", 81, 83)]


def test_chunks_of_an_html_file_record_no_lines(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<html><body><h1>Tides</h1><p>High water at 06:40.</p></body></html>")
    [chunk] = split_documents(load_file(tmp_path / "a.html", "a.html"))
    assert "line_start" not in chunk.metadata


def test_a_label_says_the_lines_or_the_page() -> None:
    assert source_label({"source": "a.md", "lines": [12, 19]}) == "a.md · lines 12–19"
    assert source_label({"source": "a.md", "lines": [7, 7]}) == "a.md · line 7"
    assert source_label({"source": "a.pdf", "page": 3}) == "a.pdf · page 3"


# -- why it was found -------------------------------------------------------------------------
def test_an_answer_labels_its_sources_in_plain_words(assistant: Assistant) -> None:
    done = assistant.ask(BELL, "t").run()
    assert source_label(done.sources[0]) == BELL_LABEL


def test_keyword_search_says_found_by_words_only(assistant: Assistant) -> None:
    from agent.sources import rate

    [doc] = rate(assistant.search("Quillmarsh bell", mode="keyword"), "Quillmarsh bell", 0.5)
    assert source_record(1, doc)["relevance"] == "good match · by words (quillmarsh, bell)"


# -- the page ---------------------------------------------------------------------------------
def test_the_page_shows_plain_words_instead_of_a_score(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it in 1743 [1].")
    sources = ask(page, BELL).main.chat_message[1].expander[0]
    assert sources.markdown[0].value == "**[1]** " + escaped(BELL_LABEL)
    assert sources.caption[0].value.startswith("The **Quillmarsh** **Bell** The **Quillmarsh** **tide** **bell**")


def test_a_source_opens_to_its_whole_passage(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it in 1743 [1].")
    sources = ask(page, BELL).main.chat_message[1].expander[0]
    first = popovers(sources)[0]
    assert first.proto.popover.label == "Read the whole passage"
    assert [m.value for m in first.markdown] == [
        "harbour\\.md · lines 1–4",
        "The **Quillmarsh** **Bell**  \n\nThe **Quillmarsh** **tide** **bell** was **cast** by Oriel Vantongeren "
        "in 1743 and weighs 612 kilograms\\.  \nIt hangs in the harbour tower\\.",
    ]


def test_a_stored_answer_opens_its_passages_after_a_reload(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it in 1743 [1].")
    ask(page, BELL)
    reopened = start(thread=page.query_params["thread"])
    assert len(popovers(reopened.main.chat_message[1].expander[0])) == 4


def test_the_readme_question_opens_to_the_height(
    fake_ollama: FakeOllama, env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGCHAT_DOCS_DIR", str(SAMPLE))
    monkeypatch.setenv("RAGCHAT_K", "5")  # the fake's bag of words ranks the height's passage 5th; a real model, 1st
    fake_ollama.enqueue("Gannet Point Light is 34 metres tall [1].")
    reply = ask(start(), "How tall is Gannet Point Light?").main.chat_message[1]
    opened = [[m.value for m in p.markdown] for p in popovers(reply.expander[0])]
    [text] = [text for where, text in opened if where == "harbour\\_ledger\\_spring\\.md · lines 1–5"]
    assert "which stands 34 metres from its granite footing to the tip of its weathervane" in text


def test_a_hostile_passage_stays_text_when_opened(env: Settings, fake_ollama: FakeOllama) -> None:
    (env.docs_dir / "lanterns.md").write_text("# Lantern festival\n\n" + hostile_markdown(R))
    fake_ollama.enqueue("Lanterns are lit at dusk [1].")
    reply = ask(start(), "When is the Quillmarsh lantern festival?").main.chat_message[1]
    shown = [m.value for p in popovers(reply.expander[0]) for m in p.markdown]
    assert len(shown) == 8 and [active(text) for text in shown] == [[]] * 8
    st.cache_resource.clear()
    st.cache_data.clear()


def test_search_only_passages_open_too(page: AppTest, unreachable_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    reply = ask(start(), "Quillmarsh bell").main.chat_message[1]
    assert reply.markdown[0].value == "**[1]** " + escaped(
        "harbour.md · article 1 “The Quillmarsh Bell” · lines 1–4 — good match · by words (quillmarsh, bell)"
    )
    assert popovers(reply)[0].markdown[1].value.startswith("The **Quillmarsh** **Bell**  \n")


def test_sources_stored_by_an_older_version_still_render(env: Settings, assistant: Assistant) -> None:
    from langchain_core.messages import AIMessage, HumanMessage

    old = {"number": 1, "source": "harbour.md", "article": 1, "page": None, "title": "The Quillmarsh Bell",
           "start_index": 0, "score": 0.93, "snippet": "# The Quillmarsh Bell The Quillmarsh tide bell…"}  # fmt: skip
    answer = AIMessage("Oriel Vantongeren [1].", additional_kwargs={"sources": [old], "query": BELL})
    config = {"configurable": {"thread_id": "old"}}
    assistant.graph.update_state(config, {"messages": [HumanMessage(BELL), answer]}, as_node="abstain")
    sources = start(thread="old").main.chat_message[1].expander[0]
    assert [m.value for m in sources.markdown] == ["**[1]** harbour\\.md · article 1 “The Quillmarsh Bell”"]
    shown = "\\# The **Quillmarsh** **Bell** The **Quillmarsh** **tide** **bell**…"  # the stored snippet, as it was
    assert [c.value for c in sources.caption] == [shown]
    assert popovers(sources) == []


def escaped(text: str) -> str:
    from agent.markup import escape

    return escape(text)


# -- the terminal -----------------------------------------------------------------------------
def test_ask_prints_the_label_in_plain_words(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["ask", BELL], capsys)
    sources = out.split("\nSources:\n")[1].splitlines()
    assert sources[:2] == [
        f"  [1] {BELL_LABEL}",
        "      The Quillmarsh Bell The Quillmarsh tide bell was cast by Oriel Vantongeren in 1743"
        " and weighs 612 kilograms. It hangs in the harbour tower.",
    ]


def test_search_keeps_the_raw_scores_for_tuning(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    run(["ingest"], capsys)
    _, out, _ = run(["search", "--mode", "keyword", "Quillmarsh", "bell"], capsys)
    label = out.splitlines()[1]
    assert label.startswith(
        "  [1] harbour.md · article 1 “The Quillmarsh Bell” · lines 1–4 — good match · by words (quillmarsh, bell)"
        " (score "
    )
    assert " · BM25 " in label and "cosine" not in label


def test_chat_source_n_prints_the_whole_passage(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{BELL}\n/source 1\n"))
    code, out, err = run(["chat"], capsys)
    assert code == 0
    assert out.split("\n\n[1] ")[-1] == f"{BELL_LABEL}\n\n{BELL_PASSAGE}\n"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("/source 9", "No source 9 — the last answer has sources 1 to 4."),
        ("/source one", "Give a source number: /source 1 to /source 4."),
        ("/source", "Give a source number: /source 1 to /source 4."),
    ],
)
def test_chat_source_with_a_bad_number_says_which_exist(
    command: str, message: str, env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{BELL}\n{command}\n"))
    code, _, err = run(["chat"], capsys)
    assert (code, err.splitlines()[-1]) == (0, message)


def test_chat_source_before_any_question_says_to_ask_first(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("/source 1\n"))
    code, out, err = run(["chat"], capsys)
    assert (code, out, err.splitlines()[-1]) == (0, "", "No answer yet — ask a question first.")


def test_the_sample_index_opens_without_lines_when_built_by_an_older_version(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    app = Assistant(load_settings(ollama_host=fake_ollama.url, docs_dir=SAMPLE, home=tmp_path))
    app.ensure_index()
    app.close()
    with sqlite3.connect(app.settings.index_path) as db:  # as an index written before lines were recorded
        for key, metadata in db.execute("SELECT id, metadata FROM chunks").fetchall():
            old = {k: v for k, v in json.loads(metadata).items() if k not in ("line_start", "line_end")}
            db.execute("UPDATE chunks SET metadata = ? WHERE id = ?", (json.dumps(old).encode(), key))
    db.close()
    done = app.ask("How tall is Gannet Point Light?", "old").run()
    assert " · lines " not in source_label(done.sources[0]) and done.sources[0]["lines"] is None


# -- the browser ------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed — `apt-get install chromium`")
def test_hostile_passages_opened_in_the_browser_are_text_and_fetch_nothing(
    serve: Any,  # noqa: F811 (the fixture imported above)
    corpus: Path,
    remote: Remote,  # noqa: F811
    fake_ollama: FakeOllama,
    browser_page: Any,  # noqa: F811
) -> None:
    (corpus / "lanterns.md").write_text("# Lantern festival\n\n" + hostile_markdown(remote.url))
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(serve(corpus))
    box = page.get_by_placeholder("Ask about your documents")
    box.wait_for(timeout=60_000)
    fake_ollama.enqueue("Lanterns are lit at dusk [1].")
    box.fill("When is the Quillmarsh lantern festival?")
    box.press("Enter")
    page.get_by_text("Sources (").first.wait_for(timeout=60_000)
    settle(page)
    page.get_by_text("Sources (").first.click()
    opened = []
    for n in range(page.get_by_text("Read the whole passage").count()):
        page.get_by_text("Read the whole passage").nth(n).click()
        body = page.get_by_test_id("stPopoverBody")
        body.wait_for(state="visible")
        opened.append(body.inner_text())
        page.keyboard.press("Escape")
        body.wait_for(state="hidden")
    assert len(opened) == 4
    assert any(f'<iframe src="{remote.url}/iframe.html"></iframe>' in text for text in opened), opened
    assert remote.paths == [] and [u for u in requested if u.startswith(remote.url)] == []
