"""Wire the agent: START → retrieve → generate → END, checkpointed per ``thread_id``."""

from __future__ import annotations

from functools import partial

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.nodes import generate, retrieve
from agent.state import State

DEFAULT_NUM_CTX = 8192
DEFAULT_NUM_PREDICT = 1024


def build_graph(
    llm: BaseChatModel,
    retriever: BaseRetriever,
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    num_ctx: int | None = None,
    num_predict: int | None = None,
) -> CompiledStateGraph:
    """Compile the ragchat graph.

    Args:
        llm: The chat model that writes answers.
        retriever: Returns the chunks for a question, best first.
        checkpointer: Keeps each thread's state; a fresh ``MemorySaver`` when omitted.
        num_ctx: Context window the prompt must fit; defaults to ``llm.num_ctx``.
        num_predict: Tokens reserved for the answer; defaults to ``llm.num_predict``.
    """
    num_ctx = num_ctx or getattr(llm, "num_ctx", None) or DEFAULT_NUM_CTX
    num_predict = num_predict or getattr(llm, "num_predict", None) or DEFAULT_NUM_PREDICT

    builder = StateGraph(State)
    builder.add_node("retrieve", partial(retrieve, retriever=retriever))
    builder.add_node("generate", partial(generate, llm=llm, num_ctx=num_ctx, num_predict=num_predict))
    builder.add_edge(START, "retrieve")
    builder.add_edge("retrieve", "generate")
    builder.add_edge("generate", END)
    return builder.compile(checkpointer=checkpointer or MemorySaver(), name="ragchat")
