"""One compiled graph per process: each turn brings its own settings as LangGraph runtime context."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from agent.assistant import Assistant
from knowledge.errors import RagchatError
from tests.fake_ollama import SOURCE_BLOCK, FakeOllama

QUESTION = "Who cast the Quillmarsh tide bell?"


def sources_in_last_prompt(fake: FakeOllama) -> int:
    system = [m["content"] for m in fake.calls("/api/chat")[-1]["messages"] if m["role"] == "system"]
    return len(SOURCE_BLOCK.findall(system[0]))


def test_a_changed_k_applies_from_the_next_question_on_the_same_graph(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    assistant.configure(assistant.settings.model_copy(update={"k": 1}))
    assistant.ask(QUESTION, "k").run()
    graph = assistant.graph
    assert sources_in_last_prompt(fake_ollama) == 1
    assistant.configure(assistant.settings.model_copy(update={"k": 3}))
    assistant.ask(QUESTION, "k").run()
    assert sources_in_last_prompt(fake_ollama) == 3
    assert assistant.graph is graph  # nothing recompiled for a retrieval setting


def test_a_changed_chat_model_is_used_at_once(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.models.append("mistral:latest")
    assistant.ask(QUESTION, "m1").run()
    assistant.configure(assistant.settings.model_copy(update={"chat_model": "mistral"}))
    assistant.ask(QUESTION, "m2").run()
    assert [call["model"] for call in fake_ollama.calls("/api/chat")] == ["llama3.1:8b", "mistral"]


def test_settings_that_need_a_new_knowledge_base_are_refused(assistant: Assistant) -> None:
    before = assistant.settings
    try:
        assistant.configure(before.model_copy(update={"chunk_size": 300}))
    except RagchatError as exc:
        assert "restart" in str(exc)
    else:
        raise AssertionError("a new chunk size was accepted by a running assistant")
    assert assistant.settings is before


def test_the_scope_is_context_not_checkpointed(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    assistant.set_scope("s", ["notes/market.txt"])
    *_, everywhere = assistant.ask("When does the Saturday market open?", "all").events()
    *_, done = assistant.ask("When does the Saturday market open?", "s").events()
    assert len({source["source"] for source in everywhere.sources}) > 1
    assert {source["source"] for source in done.sources} == {"notes/market.txt"}
    values = assistant.graph.get_state({"configurable": {"thread_id": "s"}}).values
    assert "scope" not in values and values["messages"][-1].type == "ai"


class OldState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    scope: list[str] | None
    seen: Annotated[list[str], operator.add]


def test_a_thread_checkpointed_with_a_scope_by_an_older_ragchat_still_opens(assistant: Assistant) -> None:
    def answer(state: OldState) -> dict[str, Any]:
        return {"messages": [AIMessage("Oriel Vantongeren [1].", additional_kwargs={"sources": []})]}

    builder = StateGraph(OldState)
    builder.add_node("generate", answer)
    builder.add_edge(START, "generate")
    builder.add_edge("generate", END)
    old = builder.compile(checkpointer=assistant.checkpointer)
    config = {"configurable": {"thread_id": "old"}}
    old.invoke({"messages": [HumanMessage(QUESTION)], "scope": ["harbour.md"], "seen": ["x"]}, config)
    assert [m.content for m in assistant.history("old")] == [QUESTION, "Oriel Vantongeren [1]."]
    assert assistant.ask("How heavy is the Quillmarsh bell?", "old").run()
    assert len(assistant.history("old")) == 4
