"""The fake Ollama itself: scripted replies (handler, then queue), a default read from structure alone.

Its chat replies are driven through the real ``ChatOllama`` client, as ragchat drives them.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from agent.chat_model import make_chat_model
from agent.graph import rewriter
from agent.settings import load_settings
from tests.fake_ollama import NOT_FOUND, FakeOllama, Fault, rewrite_request

SOURCES = """<source-ab12 id="1" file="harbour.md">
# The Quillmarsh Bell
The bell weighs 612 kilograms. It hangs in the harbour tower.
</source-ab12>"""


def chat(fake: FakeOllama, *messages: Any, **kwargs: Any) -> str:
    return str(make_chat_model(load_settings(ollama_host=fake.url, timeout=1)).invoke(list(messages), **kwargs).content)


def test_a_handler_answers_the_calls_it_claims_and_passes_the_rest_to_the_queue(fake_ollama: FakeOllama) -> None:
    seen: list[dict[str, Any]] = []
    fake_ollama.respond(lambda body: seen.append(body) or ("handled" if "mine" in str(body["messages"]) else None))
    fake_ollama.enqueue("queued")
    assert chat(fake_ollama, HumanMessage("this one is mine")) == "handled"
    assert chat(fake_ollama, HumanMessage("not this one")) == "queued"
    assert [body["messages"][-1]["content"] for body in seen] == ["this one is mine", "not this one"]


def test_the_queue_answers_in_order_then_the_default_takes_over(fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("first", "second")
    assert [chat(fake_ollama, HumanMessage("q")) for _ in range(3)] == ["first", "second", ""]


def test_the_default_reads_structure_not_wording(fake_ollama: FakeOllama) -> None:
    assert chat(fake_ollama, SystemMessage(SOURCES), HumanMessage("How heavy is the bell?")) == (
        "The bell weighs 612 kilograms. [1]"
    )
    assert chat(fake_ollama, SystemMessage("No sources today."), HumanMessage("How heavy?")) == NOT_FOUND
    assert chat(fake_ollama, HumanMessage(f"Latest message: How heavy?\n{SOURCES}")) == ""  # a bare task: no reply


def test_a_reply_ends_at_the_requests_stop_string_as_ollama_ends_it(fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Sure! Here is the query:\nQuillmarsh bell weight", "two\nlines")
    assert chat(fake_ollama, HumanMessage("q"), stop=["\n"]) == "Sure! Here is the query:"
    assert chat(fake_ollama, HumanMessage("q")) == "two\nlines"


MISBEHAVING_REWRITES = [
    "I'm sorry, but I can't help with that request.",  # a refusal
    "The Quillmarsh bell weighs 612 kilograms [1].",  # an answer instead of a query
    "Sure! Here is a standalone search query:\nQuillmarsh bell weight",  # chatty preamble on a line of its own
    "",  # nothing
    "¿Cuánto pesa la campana de Quillmarsh?",  # another language
]


@pytest.mark.parametrize("reply", MISBEHAVING_REWRITES)
def test_a_misbehaving_rewrite_can_be_scripted_for_the_rewrite_call_alone(fake_ollama: FakeOllama, reply: str) -> None:
    fake_ollama.respond(lambda body: reply if rewrite_request(body) else None)
    fake_ollama.enqueue("The answer [1].")
    model = make_chat_model(load_settings(ollama_host=fake_ollama.url, timeout=1))
    assert rewriter(model).invoke([HumanMessage("Rewrite this.")]).content == reply
    assert chat(fake_ollama, SystemMessage(SOURCES), HumanMessage("How heavy is it?")) == "The answer [1]."


def test_a_stall_can_be_scripted_for_the_next_call_alone(fake_ollama: FakeOllama) -> None:
    fake_ollama.fault("/api/chat", Fault("stall", seconds=3))
    with pytest.raises(Exception, match="timed out"):  # noqa: PT011 (httpx's own ReadTimeout)
        chat(fake_ollama, HumanMessage("Rewrite this."), stop=["\n"])
    assert chat(fake_ollama, SystemMessage(SOURCES), HumanMessage("How heavy is the bell?")).endswith("[1]")
