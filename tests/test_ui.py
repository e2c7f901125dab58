"""The Streamlit page, run headless with AppTest against the fake Ollama server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from agent.settings import Settings
from tests.fake_ollama import FakeOllama

APP = str(Path(__file__).parents[1] / "ui" / "app.py")


@pytest.fixture
def page(env: Settings) -> Iterator[AppTest]:
    st.cache_resource.clear()  # each test gets its own Assistant, built from its own environment
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    yield app
    st.cache_resource.clear()


def ask(page: AppTest, question: str) -> AppTest:
    page.chat_input[0].set_value(question).run()
    assert not page.exception, page.exception
    return page


def messages(page: AppTest) -> list[tuple[str, str]]:
    return [(m.name, (m.markdown or m.info)[0].value) for m in page.main.chat_message]


def test_first_start_builds_the_index_and_shows_it(page: AppTest, env: Settings) -> None:
    assert not page.exception
    assert (env.index_dir / "current.json").exists()
    captions = [c.value for c in page.sidebar.caption]
    assert "4 chunks from 2 files · hybrid search" in captions, captions


def test_question_streams_an_answer_with_its_sources(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it in 1743 [1].")
    ask(page, "Who cast the Quillmarsh tide bell?")
    assert messages(page) == [
        ("user", "Who cast the Quillmarsh tide bell?"),
        ("assistant", "Oriel Vantongeren cast it in 1743 [1]."),
    ]
    sources = page.main.chat_message[1].expander[0]
    assert sources.label == "Sources (4)"
    assert sources.markdown[0].value.startswith("**[1]** harbour\\.md · article 1 “The Quillmarsh Bell”")
    assert "Oriel Vantongeren" in sources.caption[0].value


def thread_buttons(page: AppTest) -> list[str]:
    return [b.label for b in page.sidebar.button if b.key and b.key.startswith("thread-")]


def test_thread_title_comes_from_the_first_question(page: AppTest) -> None:
    assert thread_buttons(page) == ["New chat"]
    ask(page, "Who cast the Quillmarsh tide bell? And when was it cast, exactly?")
    assert thread_buttons(page) == ["Who cast the Quillmarsh tide bell? And when was…"]


def test_new_thread_starts_empty_and_switching_back_restores_the_first(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren [1].", "At 07:15 [1].")
    ask(page, "Who cast the Quillmarsh tide bell?")
    first = page.session_state.thread_id
    page.sidebar.button[0].click().run()  # New chat
    assert page.session_state.thread_id != first
    assert messages(page) == []
    ask(page, "When does the ferry leave?")
    assert messages(page) == [("user", "When does the ferry leave?"), ("assistant", "At 07:15 [1].")]
    prompt = fake_ollama.calls("/api/chat")[-1]["messages"]
    assert [m["role"] for m in prompt] == ["system", "user"]  # the new thread did not see the first
    assert thread_buttons(page) == ["When does the ferry leave?", "Who cast the Quillmarsh tide bell?"]
    page.sidebar.button(key=f"thread-{first}").click().run()
    assert messages(page) == [
        ("user", "Who cast the Quillmarsh tide bell?"),
        ("assistant", "Oriel Vantongeren [1]."),
    ]
    assert page.main.chat_message[1].expander[0].label == "Sources (4)"


def test_document_and_user_markup_is_shown_as_text(page: AppTest, fake_ollama: FakeOllama) -> None:
    ask(page, "<b>bold?</b> *stars*")
    assert messages(page)[0] == ("user", "\\<b\\>bold?\\</b\\> \\*stars\\*")


def test_unreachable_ollama_is_a_message_on_the_page(
    env: Settings, unreachable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    st.cache_resource.clear()
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert app.error[0].value == (
        f"Cannot reach Ollama at {unreachable_url} — start it with `ollama serve` (or point OLLAMA_HOST at it)."
    )


def test_missing_chat_model_is_a_message_under_the_question(page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.models.remove("llama3.1:8b")
    ask(page, "Who cast the bell?")
    assert page.main.chat_message[1].error[0].value == (
        "The model llama3.1:8b is not available in Ollama — run `ollama pull llama3.1:8b`."
    )


def test_empty_question_is_refused_on_the_page(page: AppTest) -> None:
    ask(page, "   ")
    assert page.error[0].value == "The question is empty — type a question about your documents."


def test_abstention_looks_like_a_notice_not_an_answer(page: AppTest, fake_ollama: FakeOllama) -> None:
    ask(page, "What is the population of Peru?")
    notice = page.main.chat_message[1].info[0].value
    assert notice.startswith("I couldn't find this in your documents. I searched for “What is the population of Peru?”")
    assert fake_ollama.calls("/api/chat") == []
    page.run()  # after a rerun, the stored answer is shown the same way
    assert page.main.chat_message[1].info[0].value == notice
