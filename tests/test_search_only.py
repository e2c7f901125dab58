"""Search-only answers are kept in the thread, labelled; keyword mode answers without the embedding model."""

from __future__ import annotations

import io
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from agent.assistant import Assistant
from agent.chat_model import check_ollama
from agent.settings import Settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama
from tests.test_ui import ask, messages, start, thread_buttons, view
from ui.cli import main

QUESTION = "Quillmarsh bell"
CHAT_MODEL = "llama3.1:8b"
EMBEDDER = "nomic-embed-text:latest"
SEARCH_ONLY_LABEL = "Search-only: no answer was generated."
MARKET = "When is the Saturday market?"  # a question no passage contains word for word


def shown(message: Any) -> list[tuple[str, Any]]:
    """The elements of one chat message as (type, value), in order; a block (a popover) as (type, its elements)."""
    return [(e.type, e.value if hasattr(e, "value") else shown(e)) for e in message.children.values()]


# -- the Assistant keeps the exchange ---------------------------------------------------------
def test_a_search_only_exchange_is_stored_as_question_and_labelled_passages(assistant: Assistant) -> None:
    records = assistant.search_only(QUESTION, "t")
    question, reply = assistant.history("t")
    assert (question.type, question.content) == ("human", QUESTION)
    assert (reply.type, reply.content) == ("ai", SEARCH_ONLY_LABEL)
    assert reply.additional_kwargs == {"search_only": True, "sources": records, "query": QUESTION}
    assert [r["source"] for r in records][:1] == ["harbour.md"]


def test_search_only_keeps_to_the_threads_documents(assistant: Assistant) -> None:
    assistant.set_scope("t", ["notes/market.txt"])
    records = assistant.search_only("Quillmarsh bell and the Saturday market", "t")
    assert {r["source"] for r in records} == {"notes/market.txt"}


def test_a_search_only_exchange_survives_a_restart(assistant: Assistant) -> None:
    records = assistant.search_only(QUESTION, "t")
    assistant.close()
    reopened = Assistant(assistant.settings)
    assert [(m.type, m.content, m.additional_kwargs.get("sources")) for m in reopened.history("t")] == [
        ("human", QUESTION, None),
        ("ai", SEARCH_ONLY_LABEL, records),
    ]


def test_a_search_only_exchange_lists_and_titles_the_thread(assistant: Assistant) -> None:
    assistant.search_only(QUESTION, "t")
    assert [(t.id, t.title, t.messages) for t in assistant.threads()] == [("t", QUESTION, 2)]


@pytest.mark.parametrize(
    ("question", "thread", "error"),
    [
        ("", "t", "The question is empty — type a question about your documents."),
        (" \n\t ", "t", "The question is empty — type a question about your documents."),
        (
            "bell " * 5000,
            "t",
            "The question is too long (24,999 characters; the limit is 6,144) — shorten it, or raise RAGCHAT_NUM_CTX.",
        ),
        (QUESTION, "", "The thread name is empty — give a name such as `--thread notes`."),
        (QUESTION, "a\nb", "The thread name contains control characters — use letters, digits and punctuation."),
        (QUESTION, "\u200b", "The thread name has no visible characters — give a name such as `--thread notes`."),
    ],
)
def test_a_bad_search_only_request_is_one_line_and_stores_nothing(
    assistant: Assistant, question: str, thread: str, error: str
) -> None:
    with pytest.raises(RagchatError) as caught:
        assistant.search_only(question, thread)
    assert str(caught.value) == error
    assert assistant.threads() == []


def test_search_only_without_an_index_says_to_ingest(settings: Settings) -> None:
    app = Assistant(settings)
    with pytest.raises(RagchatError) as caught:
        app.search_only(QUESTION, "t")
    assert str(caught.value) == "There is no index yet — run `ragchat ingest` first."
    assert app.history("t") == [] and app.threads() == []


def test_the_export_labels_a_search_only_answer(assistant: Assistant) -> None:
    assistant.search_only(QUESTION, "t")
    markdown = assistant.export_thread("t")
    assert (
        f"## Question\n\n{QUESTION}\n\n## Passages found (search only)\n\n{SEARCH_ONLY_LABEL}\n\n"
        "Sources:\n\n1. harbour.md · article 1 “The Quillmarsh Bell”"
    ) in markdown


def test_the_cli_export_labels_a_search_only_answer(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    app = Assistant(env)
    app.ensure_index()
    app.search_only(QUESTION, "t")
    app.close()
    assert main(["threads", "export", "t"]) == 0
    assert f"## Passages found (search only)\n\n{SEARCH_ONLY_LABEL}\n" in capsys.readouterr().out


def test_chat_history_labels_a_search_only_answer(
    env: Settings, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = Assistant(env)
    app.ensure_index()
    app.search_only(QUESTION, "t")
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    app.ask("Who cast the Quillmarsh tide bell?", "t").run()
    app.close()
    monkeypatch.setattr(sys, "stdin", io.StringIO("/history\n"))
    assert main(["chat", "--thread", "t"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:4] == [f"You: {QUESTION}", SEARCH_ONLY_LABEL, "", "Sources:"]
    assert lines[4].startswith("  [1] harbour.md · article 1")
    assert lines[lines.index("You: Who cast the Quillmarsh tide bell?") + 1] == "Oriel Vantongeren cast it [1]."
    assert err == ""


def test_chat_history_shows_no_control_sequences(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = Assistant(env)
    app.ensure_index()
    app.search_only("Quillmarsh \x1b[2J\x1b]0;pwned\x07bell\u202e", "t")
    app.close()
    monkeypatch.setattr(sys, "stdin", io.StringIO("/history\n"))
    assert main(["chat", "--thread", "t"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "You: Quillmarsh bell"


def test_chat_history_of_an_empty_thread_says_so(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    Assistant(env).ensure_index()
    monkeypatch.setattr(sys, "stdin", io.StringIO("/history\n"))
    assert main(["chat", "--thread", "t"]) == 0
    assert capsys.readouterr() == ("", "Nothing in this thread yet — ask a question.\n")


def test_a_later_answer_does_not_feed_the_search_only_label_to_the_model(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    assistant.search_only(MARKET, "t")
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assistant.ask("Who cast the Quillmarsh tide bell?", "t").run()
    prompts = fake_ollama.chat_prompts
    assert len(prompts) == 1  # the first real question: nothing to rewrite
    assert SEARCH_ONLY_LABEL not in prompts[0]
    assert MARKET not in prompts[0]
    assert [m.content for m in assistant.history("t")][-1] == "Oriel Vantongeren cast it [1]."


def test_a_follow_up_after_a_search_only_exchange_is_rewritten_without_it(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assistant.ask("Who cast the Quillmarsh tide bell?", "t").run()
    assistant.search_only(MARKET, "t")
    assistant.ask("How much does it weigh?", "t").run()
    rewrite, answer = fake_ollama.chat_prompts[1:]
    for prompt in (rewrite, answer):
        assert SEARCH_ONLY_LABEL not in prompt
        assert MARKET not in prompt
    assert "Oriel Vantongeren cast it [1]." in rewrite and "Oriel Vantongeren cast it [1]." in answer


def test_a_search_only_exchange_waits_for_the_threads_running_turn(assistant: Assistant) -> None:
    assistant.search_only(QUESTION, "warm-up")  # the graph compiled: only the turn can hold the next one back
    done = threading.Event()
    with assistant.registry.turn("t"):  # a turn of this thread is running (another tab)
        worker = threading.Thread(target=lambda: (assistant.search_only(QUESTION, "t"), done.set()))
        worker.start()
        time.sleep(0.5)
        assert not done.is_set() and assistant.history("t") == []
    worker.join(10)
    assert done.is_set() and len(assistant.history("t")) == 2


# -- keyword mode needs no embedding model to answer -------------------------------------------
@pytest.fixture
def keyword(settings: Settings, fake_ollama: FakeOllama) -> Settings:
    """Keyword search, the index built, then the embedding model gone from Ollama."""
    chosen = settings.model_copy(update={"retrieval_mode": "keyword"})
    Assistant(chosen).ensure_index()
    fake_ollama.models.remove(EMBEDDER)
    return chosen


def test_keyword_mode_answers_without_the_embedding_model(keyword: Settings) -> None:
    health = check_ollama(keyword)
    assert (health.answers, health.ok, health.embed_ok) == (True, False, False)


def test_other_modes_need_the_embedding_model_to_answer(keyword: Settings) -> None:
    for mode in ("hybrid", "vector"):
        assert check_ollama(keyword.model_copy(update={"retrieval_mode": mode})).answers is False


def test_keyword_mode_asks_without_the_embedding_model(keyword: Settings, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assert (
        Assistant(keyword).ask("Who cast the Quillmarsh tide bell?", "t").run().answer
        == "Oriel Vantongeren cast it [1]."
    )


def test_keyword_mode_ingest_still_names_the_embedding_model_to_pull(
    keyword: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in (("OLLAMA_HOST", keyword.ollama_host), ("RAGCHAT_HOME", str(keyword.home))):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RAGCHAT_RETRIEVAL_MODE", "keyword")
    assert main(["ingest", "--rebuild", str(keyword.docs_dir)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "Error: The model nomic-embed-text is not available in Ollama — run `ollama pull nomic-embed-text`."
    )


# -- the page ---------------------------------------------------------------------------------
@pytest.fixture
def indexed(env: Settings) -> Iterator[Settings]:
    """The page opened once with Ollama up, so the index exists."""
    start()
    yield env


def test_a_search_only_answer_is_shown_again_after_a_server_restart(
    indexed: Settings, unreachable_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", unreachable_url)
    live = ask(start(), QUESTION)
    reopened = start(thread=live.query_params["thread"])
    assert [m.name for m in reopened.main.chat_message] == ["user", "assistant"]
    user, reply = reopened.main.chat_message
    assert shown(user) == [("markdown", QUESTION)]
    assert reply.avatar == ":material/manage_search:"
    assert shown(reply) == shown(live.main.chat_message[1])
    assert shown(reply)[0] == (
        "warning",
        "Search-only mode: no answer was generated. These are the passages that best match your question.",
    )
    assert reply.markdown[0].value.startswith("**[1]** harbour\\.md · article 1")
    assert thread_buttons(reopened) == [QUESTION]


def test_a_missing_chat_model_keeps_the_search_only_answer_too(indexed: Settings, fake_ollama: FakeOllama) -> None:
    fake_ollama.models.remove(CHAT_MODEL)
    live = ask(start(), QUESTION)
    reopened = start(thread=live.query_params["thread"])
    assert shown(reopened.main.chat_message[1]) == shown(live.main.chat_message[1])
    assert reopened.main.chat_message[1].warning[0].value.startswith("Search-only mode: no answer was generated.")
    assert fake_ollama.calls("/api/chat") == []


def test_the_page_answers_after_ollama_returns_and_keeps_the_search_only_exchange(
    indexed: Settings, fake_ollama: FakeOllama
) -> None:
    fake_ollama.models.remove(CHAT_MODEL)
    thread = ask(start(), QUESTION).query_params["thread"]
    fake_ollama.models.append(CHAT_MODEL)
    fake_ollama.enqueue("It weighs 612 kilograms [1].")
    back = ask(start(thread=thread), "How much does the Quillmarsh bell weigh?")
    assert [m.name for m in back.main.chat_message] == ["user", "assistant", "user", "assistant"]
    assert back.main.chat_message[1].warning[0].value.startswith("Search-only mode")
    assert messages(back)[2:] == [
        ("user", "How much does the Quillmarsh bell weigh?"),
        ("assistant", "It weighs 612 kilograms [1]."),
    ]


@pytest.fixture
def keyword_page(indexed: Settings, fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The page in keyword mode with the embedding model gone from Ollama."""
    monkeypatch.setenv("RAGCHAT_RETRIEVAL_MODE", "keyword")
    fake_ollama.models.remove(EMBEDDER)
    return start()


def test_keyword_mode_without_the_embedder_says_answers_work_and_what_indexing_needs(keyword_page: AppTest) -> None:
    assert [c.value for c in keyword_page.sidebar.caption][:1] == [
        ":orange[●] Answers ready · keyword search · indexing needs `ollama pull nomic-embed-text`"
    ]
    assert [e.value for e in keyword_page.sidebar.error] == []


def test_keyword_mode_without_the_embedder_answers_in_the_page(keyword_page: AppTest, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    ask(keyword_page, "Who cast the Quillmarsh tide bell?")
    assert messages(keyword_page) == [
        ("user", "Who cast the Quillmarsh tide bell?"),
        ("assistant", "Oriel Vantongeren cast it [1]."),
    ]


def test_keyword_mode_without_the_embedder_keeps_indexing_off(keyword_page: AppTest) -> None:
    view(keyword_page, "Documents")
    rescan = [b for b in keyword_page.main.button if b.label == "Rescan the documents folder"]
    assert [b.disabled for b in rescan] == [True]
