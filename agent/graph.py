"""Wire the agent, checkpointed per ``thread_id``; compiled once, each turn bringing its own settings.

The routes, as ``agent.graph.build_graph`` adds them::

    START -> contextualize -> retrieve -> generate -> END
    contextualize -> generate          (an instruction about the last answer: no search)
    retrieve -> abstain -> END         (nothing relevant found: no generation call)
    generate -> check -> END           (only when the turn's context says verify)

A turn's settings are an :class:`~agent.state.Context` passed as ``graph.stream(..., context=...)``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.context import Context
from agent.nodes import (
    Searcher,
    abstain,
    check,
    contextualize,
    generate,
    retrieve,
    route_after_contextualize,
    route_after_generate,
    route_after_retrieve,
)
from agent.state import State

DEFAULT_NUM_CTX = 8192
DEFAULT_NUM_PREDICT = 1024
REWRITE_TOKENS = 64
"""Tokens the rewrite step may write: a query and, from a chatty model, a line of preamble."""


def build_graph(
    llm: BaseChatModel,
    searcher: Searcher,
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    num_ctx: int | None = None,
    num_predict: int | None = None,
) -> CompiledStateGraph:
    """Compile the ragchat graph from the long-lived things; run it with ``context=Context(...)`` per turn.

    Args:
        llm: The chat model that rewrites follow-ups, writes answers and checks them.
        searcher: Returns the chunks for a query, best first, with scores in metadata (a knowledge base).
        checkpointer: Keeps each thread's state; a fresh ``MemorySaver`` when omitted.
        num_ctx: Context window the prompt must fit; defaults to ``llm.num_ctx``.
        num_predict: Tokens reserved for the answer; defaults to ``llm.num_predict``.
    """
    num_ctx = num_ctx or getattr(llm, "num_ctx", None) or DEFAULT_NUM_CTX
    num_predict = num_predict or getattr(llm, "num_predict", None) or DEFAULT_NUM_PREDICT
    steady = deterministic(llm)

    builder = StateGraph(State, context_schema=Context)
    builder.add_node("contextualize", partial(contextualize, llm=rewriter(llm), searcher=searcher))
    builder.add_node("retrieve", partial(retrieve, searcher=searcher))
    builder.add_node("abstain", abstain)
    builder.add_node("generate", partial(generate, llm=llm, num_ctx=num_ctx, num_predict=num_predict))
    builder.add_node("check", partial(check, llm=steady))
    builder.add_edge(START, "contextualize")
    builder.add_conditional_edges("contextualize", route_after_contextualize, ["retrieve", "generate"])
    builder.add_conditional_edges("retrieve", route_after_retrieve, ["generate", "abstain"])
    builder.add_conditional_edges("generate", route_after_generate, ["check", END])
    builder.add_edge("check", END)
    builder.add_edge("abstain", END)
    return builder.compile(checkpointer=checkpointer or MemorySaver(), name="ragchat")


def rewriter(llm: BaseChatModel) -> BaseChatModel:
    """Return ``llm`` at temperature 0 and at most :data:`REWRITE_TOKENS` tokens: a query is short.

    No stop at a newline: a model that writes a preamble line first still gets to the query,
    which :func:`agent.queries.clean_rewrite` then finds.
    """
    steady = deterministic(llm)
    if "num_predict" in getattr(type(steady), "model_fields", {}):
        return steady.model_copy(update={"num_predict": REWRITE_TOKENS})
    return steady


def deterministic(llm: BaseChatModel) -> BaseChatModel:
    """Return ``llm`` at temperature 0 for the rewrite and check steps (the answer keeps its own)."""
    fields: dict[str, Any] = getattr(type(llm), "model_fields", {})
    if "temperature" in fields and getattr(llm, "temperature", 0) not in (0, None):
        return llm.model_copy(update={"temperature": 0.0})
    return llm
