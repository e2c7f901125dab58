"""The graph's nodes: plain functions from state to a state update.

Outside objects (the retriever, the chat model) are keyword arguments bound by
``agent.graph.build_graph``; the nodes never build or import them.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.retrievers import BaseRetriever

from agent.formatting import fit_history, source_record, system_prompt
from agent.state import State


def retrieve(state: State, *, retriever: BaseRetriever) -> dict[str, Any]:
    """Find the chunks that best match the latest user message."""
    question = latest_question(state)
    documents = retriever.invoke(question)
    return {
        "question": question,
        "documents": documents,
        "sources": [source_record(n, doc) for n, doc in enumerate(documents, start=1)],
    }


def generate(state: State, *, llm: BaseChatModel, num_ctx: int, num_predict: int) -> dict[str, Any]:
    """Answer the latest question from the numbered sources and the conversation so far."""
    *history, latest = state["messages"]
    question = str(latest.content)
    history, documents = fit_history(history, state.get("documents", []), question, num_ctx, num_predict)
    prompt = [SystemMessage(system_prompt(documents)), *history, HumanMessage(question)]
    response = llm.invoke(prompt)
    sources = [source_record(n, doc) for n, doc in enumerate(documents, start=1)]
    answer = AIMessage(
        # A fresh id (add_messages assigns one): reusing the model's run id would let a
        # model that repeats ids overwrite an earlier answer in the thread.
        content=response.content,
        additional_kwargs={"sources": sources},
        response_metadata=response.response_metadata,
    )
    return {"messages": [answer], "sources": sources}


def latest_question(state: State) -> str:
    """Return the text of the newest user message."""
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""
