"""The Streamlit page, run headless with AppTest against the fake Ollama server."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, Element

from agent.assistant import Assistant
from agent.conversations import Conversations
from agent.settings import Settings, load_settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama, Fault
from tests.test_markup import ORACLE, R, active, hostile_markdown

APP = str(Path(__file__).parents[1] / "ui" / "app.py")


def start(thread: str | None = None) -> AppTest:
    """Open the page as a fresh server would (caches cleared), optionally at a thread's URL."""
    st.cache_resource.clear()
    st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=60)
    if thread:
        app.query_params["thread"] = thread
    return app.run()


def ask(page: AppTest, question: str) -> AppTest:
    page.chat_input[0].set_value(question).run()
    assert not page.exception, page.exception
    return page


def visible(markdown: str) -> str:
    """The text a reader sees when ``markdown`` is rendered (unescaped tags would vanish, not show)."""
    return unescape(re.sub(r"<[^>]*>", "", ORACLE.render(markdown))).strip()


def messages(page: AppTest) -> list[tuple[str, str]]:
    return [(m.name, visible((m.markdown or m.info)[0].value)) for m in page.main.chat_message]


def seen(text: str, limit: int = 60) -> str:
    """``text`` as a reader sees it on one line (Markdown rendered, colour marks dropped), cut to ``limit``."""
    text = " ".join(visible(re.sub(r":[a-z]+\[([^\]]*)\]", r"\1", text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shows(element: Element) -> str:
    """What one element shows: a table its columns, code its language, a widget its label, text its text."""
    if element.type == "dataframe":
        return ", ".join(element.value.columns)
    if element.type == "code":
        return element.language
    for text in (getattr(element, "label", None), element.value):
        if isinstance(text, str):
            return seen(text)
    return ""  # a chart, an emptied placeholder


def layout(block: Block) -> list[tuple]:
    """Return the elements directly inside ``block``, in order, as ``(type, what it shows)``.

    A container adds its own layout: ``("chat_message", author, [...])``, ``("expander", label, [...])``,
    ``("form", key, [...])``. Anything drawn by accident (a bare expression, a stray ``st.write``) is a row too.
    """
    rows: list[tuple] = []
    for node in block.children.values():
        if isinstance(node, Block):
            rows.append((node.type, names(node), layout(node)))
        else:
            rows.append((node.type, shows(node)))
    return rows


def names(block: Block) -> str | None:
    """What names a container: a chat message its author, a form its key, an expander or popover its label."""
    if block.type == "chat_message":
        return block.name
    if block.type == "form":
        return block.key
    label = getattr(block, "label", None) or getattr(getattr(block.proto, block.type, None), "label", None)
    return seen(label) if isinstance(label, str) else block.key


def thread_buttons(page: AppTest) -> list[str]:
    return [b.label for b in page.sidebar.button if b.key and b.key.startswith("thread-")]


PAGES = {"Chat": "chat_view.py", "Documents": "documents_view.py", "Settings": "settings_view.py"}


def view(page: AppTest, name: str) -> AppTest:
    """Go to the page called ``name`` in the navigation, as a click on it does."""
    page.switch_page(PAGES[name]).run()
    assert not page.exception, page.exception
    return page


# -- chat -------------------------------------------------------------------------------------
def test_first_start_builds_the_index_and_reports_health(page: AppTest, env: Settings) -> None:
    assert env.index_path.exists()
    assert page.sidebar.caption[0].value == ":green[●] Ollama ready · llama3\\.1\\:8b · nomic\\-embed\\-text"


def test_question_streams_an_answer_with_highlighted_sources(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it in 1743 [1].")
    ask(page, "Who cast the Quillmarsh tide bell?")
    assert messages(page) == [
        ("user", "Who cast the Quillmarsh tide bell?"),
        ("assistant", "Oriel Vantongeren cast it in 1743 [1]."),
    ]
    sources = page.main.chat_message[1].expander[0]
    assert sources.label == "Sources (4)"
    assert sources.markdown[0].value.startswith("**[1]** harbour\\.md · article 1 “The Quillmarsh Bell” · lines 1–4 — ")
    assert sources.caption[0].value.startswith(
        "The **Quillmarsh** **Bell** The **Quillmarsh** **tide** **bell** was **cast** by Oriel"
    )


# -- every view, element by element: nothing drawn that was not meant (Streamlit "magic" draws bare expressions) --
INTRO = ("caption", "Ask questions about your own documents. Everything stays on…")
HEALTH = ("caption", "● Ollama ready · llama3.1:8b · nomic-embed-text")


def test_a_new_chat_shows_the_title_and_the_intro_only(page: AppTest) -> None:
    assert layout(page.main) == [("title", "ragchat"), INTRO, ("empty", "")]  # empty: the first index's progress bar
    assert [c.placeholder for c in page.chat_input] == ["Ask about your documents"]


def test_the_sidebar_of_a_new_chat_shows_health_views_and_new_chat(page: AppTest) -> None:
    # the views are Streamlit's page navigation, drawn above these outside the element tree (seen in test_browser.py)
    assert layout(page.sidebar) == [HEALTH, ("button", "New chat")]


def test_an_answered_question_shows_the_question_then_the_answer_and_its_sources(
    page: AppTest, fake_ollama: FakeOllama
) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it in 1743 [1].")
    ask(page, "Who cast the Quillmarsh tide bell?")
    # fmt: off
    assert layout(page.main) == [
        ("title", "ragchat"),
        INTRO,
        ("chat_message", "user", [("markdown", "Who cast the Quillmarsh tide bell?")]),
        ("chat_message", "assistant", [
            ("markdown", "Oriel Vantongeren cast it in 1743 [1]."),
            ("expander", "Sources (4)", [
                ("markdown", "[1] harbour.md · article 1 “The Quillmarsh Bell” · lines 1–…"),
                ("caption", "The Quillmarsh Bell The Quillmarsh tide bell was cast by Or…"),
                ("popover", "Read the whole passage", [
                    ("markdown", "harbour.md · lines 1–4"),
                    ("markdown", "The Quillmarsh Bell The Quillmarsh tide bell was cast by Or…"),
                ]),
                ("markdown", "[2] harbour.md · article 2 “Ferries” · lines 6–8 — weak mat…"),
                ("caption", "Ferries The morning ferry to Dunlow leaves at 07:15 from pi…"),
                ("popover", "Read the whole passage", [
                    ("markdown", "harbour.md · lines 6–8"),
                    ("markdown", "Ferries The morning ferry to Dunlow leaves at 07:15 from pi…"),
                ]),
                ("markdown", "[3] notes/market.txt · article 1 “Market day” · lines 1–3 —…"),
                ("caption", "Market day The Saturday market sells smoked mackerel, rye b…"),
                ("popover", "Read the whole passage", [
                    ("markdown", "notes/market.txt · lines 1–3"),
                    ("markdown", "Market day The Saturday market sells smoked mackerel, rye b…"),
                ]),
                ("markdown", "[4] notes/market.txt · article 2 “Weather” · lines 5–7 — we…"),
                ("caption", "Weather Fog usually lifts from the bay by eleven in the mor…"),
                ("popover", "Read the whole passage", [
                    ("markdown", "notes/market.txt · lines 5–7"),
                    ("markdown", "Weather Fog usually lifts from the bay by eleven in the mor…"),
                ]),
            ]),
        ]),
    ]
    # fmt: on


def test_the_sidebar_of_a_saved_thread_adds_the_filter_the_thread_and_its_tools(page: AppTest) -> None:
    ask(page, "Who cast the Quillmarsh tide bell?")
    # fmt: off
    assert layout(page.sidebar) == [
        HEALTH,
        ("button", "New chat"),
        ("text_input", "Filter threads"),
        ("button", "Who cast the Quillmarsh tide bell?"),
        ("expander", "This thread", [
            ("text_input", "Title"),
            ("button", "Rename"),
            ("download_button", "Download as Markdown"),
            ("multiselect", "Search only these documents"),
            ("button", "Delete thread…"),
        ]),
        ("expander", "Manage threads", [("multiselect", "Threads to delete")]),
    ]
    # fmt: on


def test_the_documents_view_shows_upload_rescan_the_table_and_removal(page: AppTest, env: Settings) -> None:
    assert layout(view(page, "Documents").main) == [
        ("subheader", "Documents"),
        ("caption", seen(f"Documents folder: {env.docs_dir}")),
        ("form", "upload", [("file_uploader", "Add files"), ("button", "Upload and index")]),
        ("button", "Rescan the documents folder"),
        ("dataframe", "file, chunks, size (kB), indexed (UTC)"),
        ("caption", "2 files, 4 chunks, embeddings ollama/nomic-embed-text"),
        ("multiselect", "Remove or delete documents"),
    ]


def test_the_settings_view_shows_the_form_and_the_graph(page: AppTest) -> None:
    # fmt: off
    assert layout(view(page, "Settings").main) == [
        ("subheader", "Settings"),
        ("form", "settings", [
            ("selectbox", "Chat model"),
            ("slider", "Temperature"),
            ("number_input", "Passages per question (k)"),
            ("radio", "Search"),
            ("slider", "Keyword weight in hybrid search (0: meaning only, 1: keywor…"),
            ("text_area", "System prompt (empty: ragchat's rules)"),
            ("button", "Save settings"),
        ]),
        ("subheader", "How a question is answered"),
        ("graphviz_chart", ""),
        ("expander", "Mermaid source", [("code", "mermaid")]),
    ]
    # fmt: on


def test_thread_gets_its_title_and_lives_in_the_url(page: AppTest) -> None:
    assert thread_buttons(page) == []  # "New chat" is the unsaved thread's entry
    thread = page.query_params["thread"]
    ask(page, "Who cast the Quillmarsh tide bell?")
    assert thread_buttons(page) == ["Who cast the Quillmarsh tide bell?"]
    assert page.query_params["thread"] == thread


def test_refresh_and_server_restart_return_to_the_thread_in_the_url(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren [1].")
    ask(page, "Who cast the Quillmarsh tide bell?")
    reopened = start(thread=page.query_params["thread"])  # new server process, same URL
    assert messages(reopened) == [
        ("user", "Who cast the Quillmarsh tide bell?"),
        ("assistant", "Oriel Vantongeren [1]."),
    ]


def test_new_chat_starts_empty_and_switching_back_restores(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren [1].", "At 07:15 [1].")
    ask(page, "Who cast the Quillmarsh tide bell?")
    first = page.query_params["thread"]
    page.sidebar.button[0].click().run()  # New chat
    assert page.query_params["thread"] != first and messages(page) == []
    ask(page, "When does the ferry to Dunlow leave?")
    assert thread_buttons(page) == ["When does the ferry to Dunlow leave?", "Who cast the Quillmarsh tide bell?"]
    assert [m["role"] for m in fake_ollama.calls("/api/chat")[-1]["messages"]] == ["system", "user"]
    page.sidebar.button(key=f"thread-{first}").click().run()
    assert messages(page)[1] == ("assistant", "Oriel Vantongeren [1].")


def test_rename_and_delete_with_confirmation(page: AppTest) -> None:
    ask(page, "Who cast the Quillmarsh tide bell?")
    thread = page.query_params["thread"]
    page.sidebar.text_input(key=f"title-{thread}").set_value("Bell notes").run()
    page.sidebar.button(key="rename").click().run()
    assert thread_buttons(page) == ["Bell notes"]
    page.sidebar.button(key="delete").click().run()
    assert page.sidebar.warning[0].value == "Delete this thread and its whole history?"
    page.sidebar.button(key="delete-no").click().run()
    assert thread_buttons(page) == ["Bell notes"]
    page.sidebar.button(key="delete").click().run()
    page.sidebar.button(key="delete-yes").click().run()
    assert thread_buttons(page) == [] and page.query_params["thread"] != thread
    assert Assistant(load_settings()).history(thread) == []


@pytest.fixture
def served_files(monkeypatch: pytest.MonkeyPatch) -> list[MemoryMediaFileStorage]:
    """The stores of the files AppTest's runs offered for download (the browser would fetch them from there)."""
    stores: list[MemoryMediaFileStorage] = []

    class Recorded(MemoryMediaFileStorage):
        def __init__(self, media_endpoint: str) -> None:
            super().__init__(media_endpoint)
            stores.append(self)

    monkeypatch.setattr("streamlit.testing.v1.app_test.MemoryMediaFileStorage", Recorded)
    return stores


def test_download_gives_the_thread_as_a_markdown_file(
    page: AppTest, fake_ollama: FakeOllama, served_files: list[MemoryMediaFileStorage]
) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it in 1743 [1].")
    ask(page, "Who cast the Quillmarsh tide bell?")
    thread = page.query_params["thread"]
    [button] = page.sidebar.get("download_button")
    assert button.proto.label == "Download as Markdown"
    served = served_files[-1].get_file(button.proto.url.rsplit("/", 1)[-1])
    assert (served.filename, served.mimetype) == (f"ragchat-{thread}.md", "text/markdown")
    markdown = served.content.decode()
    assert markdown.startswith(f"# Who cast the Quillmarsh tide bell?\n\nThread `{thread}` · started ")
    assert (
        "## Question\n\nWho cast the Quillmarsh tide bell?\n\n## Answer\n\nOriel Vantongeren cast it in 1743 [1].\n\n"
        "Sources:\n\n1. harbour.md · article 1 “The Quillmarsh Bell”"
    ) in markdown


def test_markup_in_questions_is_shown_as_text(page: AppTest) -> None:
    ask(page, "<b>bold?</b> *stars* <script>alert(1)</script>")
    assert messages(page)[0] == ("user", "<b>bold?</b> *stars* <script>alert(1)</script>")


def test_abstention_looks_like_a_notice_not_an_answer(page: AppTest, fake_ollama: FakeOllama) -> None:
    ask(page, "What is the population of Peru?")
    notice = visible(page.main.chat_message[1].info[0].value)
    assert notice.startswith("I couldn't find this in your documents. I searched for “What is the population of Peru?”")
    assert fake_ollama.calls("/api/chat") == [] and not page.main.error


PERU_NOTICE = (
    "I couldn't find this in your documents. I searched for “What is the population of Peru?” and no passage was "
    "close enough to answer it. Try other words, or check the Documents view for what is indexed."
)


def test_abstention_points_to_the_documents_view_not_a_command(page: AppTest) -> None:
    ask(page, "What is the population of Peru?")
    assert [visible(i.value) for i in page.main.chat_message[1].info] == [PERU_NOTICE]


def test_a_reloaded_abstention_points_to_the_documents_view(page: AppTest) -> None:
    ask(page, "What is the population of Peru?")
    reopened = start(thread=page.query_params["thread"])
    assert [visible(i.value) for i in reopened.main.chat_message[1].info] == [PERU_NOTICE]


def test_thread_scope_limits_the_search_and_is_kept(page: AppTest, fake_ollama: FakeOllama) -> None:
    ask(page, "Who cast the Quillmarsh tide bell?")
    thread = page.query_params["thread"]
    page.sidebar.multiselect(key=f"scope-{thread}").set_value(["notes/market.txt"]).run()
    fake_ollama.enqueue("What does the Saturday market sell?")  # the follow-up's rewrite; then the default reply
    ask(page, "What does the Saturday market sell?")
    system = fake_ollama.calls("/api/chat")[-1]["messages"][0]["content"]
    assert 'file="notes/market.txt"' in system and 'file="harbour.md"' not in system
    assert start(thread=thread).sidebar.multiselect(key=f"scope-{thread}").value == ["notes/market.txt"]


# -- hostile text: nothing in the page can load a remote resource -----------------------------
@pytest.fixture
def hostile(env: Settings) -> Iterator[Settings]:
    """A documents folder that also holds every hostile Markdown/HTML form (pointing at ``R``)."""
    (env.docs_dir / "lanterns.md").write_text("# Lantern festival\n\n" + hostile_markdown(R))
    yield env
    st.cache_resource.clear()
    st.cache_data.clear()


def shown_markdown(element: object) -> list[str]:
    """Every Markdown text the page shows inside ``element`` (markdown, captions, notices, expanders)."""
    kinds = ("markdown", "caption", "info", "warning", "error")
    return [m.value for kind in kinds for m in getattr(element, kind)]


def test_a_stored_hostile_answer_shows_no_image_or_html(hostile: Settings, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue(hostile_markdown(R))
    page = ask(start(), "When is the Quillmarsh lantern festival?")
    reopened = start(thread=page.query_params["thread"])  # the stored answer, as a reload renders it
    answer = reopened.main.chat_message[1]
    assert [active(text) for text in shown_markdown(answer)] == [[]] * len(shown_markdown(answer))
    text = visible(answer.markdown[0].value)
    assert f"inline alt (image: {R}/inline.png?data=secret)" in text
    assert f'<img src="{R}/raw-img.png" alt="raw">' in text
    assert "Lanterns are lit at dusk with tapers." in text


def test_a_hostile_question_stays_text_in_the_abstention_and_the_title(page: AppTest) -> None:
    question = f"![asked]({R}/question.png) <img src={R}/q.png> What is the population of Peru?"
    ask(page, question)
    notice = page.main.chat_message[1].info[0].value
    searched = f"asked (image: {R}/question.png) <img src={R}/q.png> What is the population of Peru?"
    assert active(notice) == [] and f"I searched for “{searched}”" in visible(notice)
    [title] = [b.label for b in page.sidebar.button if b.key and b.key.startswith("thread-")]
    assert active(title) == [] and visible(title).startswith(f"![asked]({R}/question.png)")


def test_search_only_passages_from_a_hostile_document_are_text(
    hostile: Settings, unreachable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAGCHAT_CHUNK_SIZE", "500")  # passages short enough for their previews to show these forms
    start()  # index the folder while Ollama is up
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    down = ask(start(), "Quillmarsh lantern festival inline image")
    reply = down.main.chat_message[1]
    assert [active(text) for text in shown_markdown(reply)] == [[]] * len(shown_markdown(reply))
    shown = " ".join(visible(text) for text in shown_markdown(reply))  # snippets and whole passages
    assert f"Heading heading alt (image: {R}/heading.png)" in shown  # an image, shown as its alt text and address
    assert f'<img srcset="{R}/srcset.png 1x">' in shown  # raw HTML, shown as its characters


# -- health and search-only mode --------------------------------------------------------------
def test_ollama_down_says_what_to_run_and_searches_only(
    page: AppTest, env: Settings, unreachable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    down = start()
    assert down.sidebar.caption[0].value == ":red[●] Search-only mode"
    assert down.sidebar.error[0].value == (
        f"Ollama is not reachable at {unreachable_url} — start it with `ollama serve`."
    )
    ask(down, "Quillmarsh bell")
    reply = down.main.chat_message[1]
    assert reply.warning[0].value.startswith("Search-only mode: no answer was generated.")
    assert reply.markdown[0].value.startswith("**[1]** harbour\\.md · article 1")


def test_missing_models_say_what_to_pull(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.models.remove("llama3.1:8b")
    again = start()
    assert [e.value for e in again.sidebar.error] == ["The chat model is not pulled — run `ollama pull llama3.1:8b`."]


# -- documents --------------------------------------------------------------------------------
def test_documents_view_lists_the_indexed_files(page: AppTest) -> None:  # removing them: test_ui_documents.py
    table = view(page, "Documents").dataframe[0].value
    assert list(table["file"]) == ["harbour.md", "notes/market.txt"] and list(table["chunks"]) == [2, 2]


def test_rescan_picks_up_a_new_file(page: AppTest, env: Settings) -> None:
    (env.docs_dir / "tides.md").write_text("# Tides\n\nHigh tide is at 06:40.\n")
    view(page, "Documents")
    [rescan] = [b for b in page.main.button if b.label == "Rescan the documents folder"]
    rescan.click().run()
    assert page.success[0].value == "1 added, 0 updated, 0 removed, 2 unchanged."
    assert "tides.md" in list(page.dataframe[0].value["file"])


# -- settings ---------------------------------------------------------------------------------
def test_settings_offer_ollamas_models_and_survive_a_restart(
    page: AppTest, env: Settings, fake_ollama: FakeOllama
) -> None:
    fake_ollama.models.append("qwen3:8b")
    view(start(), "Settings")  # health is re-read by a fresh server
    settings = view(start(), "Settings")
    assert settings.selectbox[0].options == ["llama3.1:8b", "qwen3:8b"]
    settings.selectbox[0].set_value("qwen3:8b")
    settings.slider[0].set_value(0.4)
    settings.number_input[0].set_value(6)
    settings.slider[1].set_value(0.75)
    settings.text_area[0].set_value("Answer in French.")
    [save] = [b for b in settings.main.button if b.label == "Save settings"]
    save.click().run()
    saved = json.loads((env.home / "settings.json").read_text())
    assert saved == {
        "chat_model": "qwen3:8b",
        "temperature": 0.4,
        "k": 6,
        "retrieval_mode": "hybrid",
        "keyword_weight": 0.75,
        "system_prompt": "Answer in French.",
    }
    restarted = start()
    ask(restarted, "Who cast the Quillmarsh tide bell?")
    call = fake_ollama.calls("/api/chat")[-1]
    assert (call["model"], call["options"]["temperature"]) == ("qwen3:8b", 0.4)
    assert call["messages"][0]["content"].startswith("Answer in French.")


def save_settings(page: AppTest) -> AppTest:
    [save] = [b for b in page.main.button if b.label == "Save settings"]
    save.click().run()
    assert not page.exception, page.exception
    return page


def test_saving_settings_says_so(page: AppTest) -> None:
    save_settings(view(page, "Settings"))
    assert [s.value for s in page.main.success] == ["Settings saved. They apply from the next question."]


def test_the_system_prompt_box_shows_the_rules_the_model_gets(page: AppTest, fake_ollama: FakeOllama) -> None:
    shown = view(page, "Settings").text_area[0].value
    assert shown.startswith("You are ragchat, an assistant that answers questions using only the user's own documents.")
    view(page, "Chat")
    ask(page, "Who cast the Quillmarsh tide bell?")
    prompt = fake_ollama.calls("/api/chat")[-1]["messages"][0]["content"]
    [boundary] = set(re.findall(r"<source-([0-9a-f]{16})", prompt))
    assert prompt.startswith(shown.replace("{boundary}", boundary) + "\n\nSources (")


def test_saving_the_rules_as_shown_keeps_ragchats_rules(page: AppTest, env: Settings) -> None:
    settings = view(page, "Settings")
    settings.number_input[0].set_value(6)
    save_settings(settings)
    saved = json.loads((env.home / "settings.json").read_text())
    assert (saved["k"], saved["system_prompt"]) == (6, None)


def test_edited_rules_are_saved_as_the_system_prompt(page: AppTest, env: Settings) -> None:
    settings = view(page, "Settings")
    rules = settings.text_area[0].value
    settings.text_area[0].set_value(rules + "\n6. Answer in French.")
    save_settings(settings)
    assert json.loads((env.home / "settings.json").read_text())["system_prompt"] == rules + "\n6. Answer in French."
    assert view(start(), "Settings").text_area[0].value == rules + "\n6. Answer in French."


def test_settings_show_the_agents_graph(page: AppTest) -> None:
    view(page, "Settings")
    dot = page.get("graphviz_chart")[0].proto.spec
    assert '"start" -> "contextualize";' in dot and '"retrieve" -> "abstain" [style=dashed];' in dot
    assert "contextualize -.-> retrieve;" in page.code[0].value


def test_an_empty_documents_folder_says_what_to_do_and_documents_stay_reachable(
    env: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-docs"
    empty.mkdir()
    monkeypatch.setenv("RAGCHAT_DOCS_DIR", str(empty))
    page = start()
    assert not page.exception
    assert page.main.error[0].value.startswith(f"No readable documents in {empty} — add .txt, .md")
    view(page, "Documents")
    assert page.info[0].value == "Nothing is indexed yet."
    assert [b.label for b in page.main.button if b.label == "Upload and index"] == ["Upload and index"]


def test_a_question_left_without_an_answer_is_listed_and_marked(env: Settings, fake_ollama: FakeOllama) -> None:
    app = Assistant(env)
    app.ensure_index()
    fake_ollama.fail("/api/chat", 500, "out of memory")  # the turn dies before its answer is stored
    with pytest.raises(RagchatError):
        app.ask("Who cast the Quillmarsh tide bell?", "cut").run()
    app.close()
    page = start(thread="cut")
    assert thread_buttons(page) == ["Who cast the Quillmarsh tide bell?"]
    user, assistant = page.main.chat_message
    assert [m.value for m in user.markdown] == ["Who cast the Quillmarsh tide bell?"]
    assert [m.value for m in assistant.markdown] == []
    assert [c.value for c in assistant.caption] == ["No answer: the turn was stopped before it finished"]


def lost_connection(url: str) -> str:
    """The note, as Markdown, for an answer whose connection to the fake Ollama at ``url`` dropped."""
    return (
        f"Lost the connection to Ollama at `{url}` \\(RemoteProtocolError\\) — check that `ollama serve` is still "
        "running and try again\\."
    )


def drop_mid_answer(page: AppTest, fake_ollama: FakeOllama) -> AppTest:
    fake_ollama.enqueue("The bell was cast by Oriel Vantongeren in 1743 [1].")
    fake_ollama.fault("/api/chat", Fault("drop", tokens=2))
    return ask(page, "Who cast the Quillmarsh tide bell?")


def test_a_reloaded_interrupted_answer_has_a_readable_note(page: AppTest, fake_ollama: FakeOllama) -> None:
    drop_mid_answer(page, fake_ollama)
    reopened = start(thread=page.query_params["thread"])  # a fresh page at the thread's URL
    answer = reopened.main.chat_message[1]
    shown = [(e.type, e.value) for e in answer.children.values() if e.type != "expander"]
    note = "Interrupted: " + lost_connection(fake_ollama.url)
    assert shown == [("markdown", "The bell"), ("caption", note)]
    assert visible(note) == (
        f"Interrupted: Lost the connection to Ollama at {fake_ollama.url} (RemoteProtocolError) — check that "
        "ollama serve is still running and try again."
    )
    assert re.findall(r"<[a-z]+", ORACLE.render(note)) == ["<p", "<code", "<code"]  # no link, no other markup


def test_a_dropped_answer_shows_all_it_kept_and_the_same_note(page: AppTest, fake_ollama: FakeOllama) -> None:
    drop_mid_answer(page, fake_ollama)
    answer = page.main.chat_message[1]
    shown = [(e.type, e.value) for e in answer.children.values() if e.type not in ("empty", "expander")]
    kept = " The answer so far was kept, marked as interrupted\\."
    assert shown == [("markdown", "The bell"), ("error", lost_connection(fake_ollama.url) + kept)]


# -- the thread list: one "New chat", titles that tell threads apart, filter, bulk delete -------
GANNET = "How tall is Gannet Point Light?"


@pytest.fixture
def india_time() -> Iterator[None]:
    """Run in UTC+5:30 (a POSIX zone, no database needed), so local times differ from the stored UTC ones."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "IST-5:30"
    time.tzset()
    yield
    if before is None:
        os.environ.pop("TZ")
    else:
        os.environ["TZ"] = before
    time.tzset()


def seed_threads(env: Settings, monkeypatch: pytest.MonkeyPatch, *threads: tuple[str, str, str]) -> None:
    """List threads ``(id, title, last used in UTC)`` as earlier sessions would have left them."""
    app = Assistant(env)
    for thread_id, title, stamp in threads:
        with monkeypatch.context() as clock:
            clock.setattr("agent.threads.now", lambda stamp=stamp: stamp)
            app.registry.record_question(thread_id, title)
    app.close()


@pytest.fixture
def gannet(env: Settings, monkeypatch: pytest.MonkeyPatch, india_time: None) -> Iterator[AppTest]:
    """A page whose list holds the same question three times and one other thread."""
    seed_threads(
        env,
        monkeypatch,
        ("g1", GANNET, "2026-11-10T08:30:00.000000+00:00"),
        ("bells", "Who cast the Quillmarsh tide bell?", "2026-11-11T09:00:00.000000+00:00"),
        ("g2", GANNET, "2026-11-12T08:35:00.000000+00:00"),
        ("g3", GANNET, "2026-11-12T08:35:30.000000+00:00"),
    )
    app = start()
    assert not app.exception, app.exception
    yield app
    st.cache_resource.clear()
    st.cache_data.clear()


def new_chat_and_threads(page: AppTest) -> list[tuple[str, str]]:
    """The sidebar's "New chat" entry and thread entries as shown, each with its look (primary: the one shown)."""
    return [
        (visible(b.label), b.proto.type)
        for b in page.sidebar.button
        if b.label == "New chat" or (b.key and b.key.startswith("thread-"))
    ]


def listed(page: AppTest) -> list[str]:
    """The thread titles in the sidebar as a reader sees them."""
    return [visible(label) for label in thread_buttons(page)]


def test_an_unsaved_thread_is_the_one_new_chat_entry(page: AppTest) -> None:
    assert new_chat_and_threads(page) == [("New chat", "primary")]


def test_once_saved_the_thread_is_listed_and_new_chat_is_plain(page: AppTest) -> None:
    ask(page, "Who cast the Quillmarsh tide bell?")
    assert new_chat_and_threads(page) == [("New chat", "secondary"), ("Who cast the Quillmarsh tide bell?", "primary")]


GANNET_LABELS = [
    "How tall is Gannet Point Light? · 12 Nov 14:05",
    "How tall is Gannet Point Light? · 12 Nov 14:05 (2)",
    "Who cast the Quillmarsh tide bell?",
    "How tall is Gannet Point Light? · 10 Nov 14:00",
]
"""What the gannet fixture's threads are called in the list and in Manage threads."""


def test_repeated_titles_show_their_local_time_of_last_use(gannet: AppTest) -> None:
    assert listed(gannet) == GANNET_LABELS


def test_the_filter_narrows_the_list_by_title_ignoring_case(gannet: AppTest) -> None:
    gannet.sidebar.text_input(key="filter-threads").set_value("  quillMARSH ").run()
    assert listed(gannet) == ["Who cast the Quillmarsh tide bell?"]


def test_a_filter_matching_nothing_says_so(gannet: AppTest) -> None:
    gannet.sidebar.text_input(key="filter-threads").set_value("ferry").run()
    assert listed(gannet) == []
    assert [visible(c.value) for c in gannet.sidebar.caption][1:] == ["No thread title contains “ferry”."]


def test_manage_threads_lists_the_titles_that_tell_threads_apart(gannet: AppTest) -> None:
    assert gannet.sidebar.multiselect(key="manage-threads").options == GANNET_LABELS


def test_select_all_listed_selects_what_the_filter_shows(gannet: AppTest) -> None:
    gannet.sidebar.text_input(key="filter-threads").set_value("gannet").run()
    gannet.sidebar.button(key="manage-all").click().run()
    assert gannet.sidebar.multiselect(key="manage-threads").value == ["g3", "g2", "g1"]


def test_bulk_delete_asks_first_and_cancel_keeps_everything(gannet: AppTest) -> None:
    gannet.sidebar.multiselect(key="manage-threads").set_value(["g1", "g2"]).run()
    gannet.sidebar.button(key="manage-delete").click().run()
    [warning] = gannet.sidebar.warning
    assert visible(warning.value).splitlines() == [
        "Delete 2 threads and their whole history?",
        "",
        "How tall is Gannet Point Light? · 10 Nov 14:00",
        "How tall is Gannet Point Light? · 12 Nov 14:05 (2)",
    ]
    gannet.sidebar.button(key="manage-no").click().run()
    assert len(listed(gannet)) == 4 and gannet.sidebar.warning == []


def test_bulk_delete_removes_the_threads_and_their_history(page: AppTest, env: Settings) -> None:
    ask(page, "What is the population of Peru?")
    peru = page.query_params["thread"]
    page.sidebar.button(key="new-chat").click().run()
    ask(page, "Who cast the Quillmarsh tide bell?")
    page.sidebar.button(key="new-chat").click().run()
    ask(page, "When does the ferry to Dunlow leave?")
    ferry = page.query_params["thread"]
    page.sidebar.multiselect(key="manage-threads").set_value([peru, ferry]).run()
    page.sidebar.button(key="manage-delete").click().run()
    page.sidebar.button(key="manage-yes").click().run()
    assert new_chat_and_threads(page) == [("New chat", "primary"), ("Who cast the Quillmarsh tide bell?", "tertiary")]
    assert page.query_params["thread"] not in (peru, ferry)  # the thread shown was deleted: a new chat
    assert [t.value for t in page.toast] == ["Deleted 2 threads."]
    left = Assistant(load_settings())
    assert (left.history(peru), left.history(ferry)) == ([], [])


def test_a_failing_bulk_delete_is_one_line_and_keeps_the_rest_chosen(
    gannet: AppTest, env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    delete = Conversations.delete
    refusal = f"{env.home} is read-only — make it writable, or use another folder, and try again."

    def read_only_after_one(self: Conversations, thread_id: str) -> None:
        if thread_id != "g3":
            raise RagchatError(refusal)
        delete(self, thread_id)

    monkeypatch.setattr(Conversations, "delete", read_only_after_one)
    gannet.sidebar.multiselect(key="manage-threads").set_value(["g3", "g1"]).run()
    gannet.sidebar.button(key="manage-delete").click().run()
    gannet.sidebar.button(key="manage-yes").click().run()
    assert [e.value for e in gannet.sidebar.error] == [refusal]
    assert [t.value for t in gannet.toast] == ["Deleted 1 thread."]
    assert gannet.sidebar.multiselect(key="manage-threads").value == ["g1"]
    assert listed(gannet) == [
        "How tall is Gannet Point Light? · 12 Nov 14:05",
        "Who cast the Quillmarsh tide bell?",
        "How tall is Gannet Point Light? · 10 Nov 14:00",
    ]
