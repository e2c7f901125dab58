"""Wire the agent, checkpointed per ``thread_id``.

The routes, as ``agent.graph.build_graph`` adds them::

    START -> contextualize -> retrieve -> generate -> END
    contextualize -> generate          (an instruction about the last answer: no search)
    retrieve -> abstain -> END         (nothing relevant found: no generation call)
    generate -> check -> END           (only with verify_answers)
"""

from __future__ import annotations

from functools import partial
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent.nodes import (
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
DEFAULT_MIN_SCORE = 0.5


def build_graph(
    llm: BaseChatModel,
    retriever: BaseRetriever,
    checkpointer: BaseCheckpointSaver | None = None,
    *,
    num_ctx: int | None = None,
    num_predict: int | None = None,
    min_score: float = DEFAULT_MIN_SCORE,
    verify_answers: bool = False,
    system_prompt: str | None = None,
) -> CompiledStateGraph:
    """Compile the ragchat graph.

    Args:
        llm: The chat model that rewrites follow-ups, writes answers and checks them.
        retriever: Returns the chunks for a query, best first, with scores in metadata.
        checkpointer: Keeps each thread's state; a fresh ``MemorySaver`` when omitted.
        num_ctx: Context window the prompt must fit; defaults to ``llm.num_ctx``.
        num_predict: Tokens reserved for the answer; defaults to ``llm.num_predict``.
        min_score: Cosine similarity from which a chunk counts as evidence (see ``has_evidence``).
        verify_answers: Add the ``check`` step that judges answers against their sources.
        system_prompt: Replaces the default answering rules (the sources are still appended).
    """
    num_ctx = num_ctx or getattr(llm, "num_ctx", None) or DEFAULT_NUM_CTX
    num_predict = num_predict or getattr(llm, "num_predict", None) or DEFAULT_NUM_PREDICT
    steady = deterministic(llm)

    builder = StateGraph(State)
    builder.add_node("contextualize", partial(contextualize, llm=steady))
    builder.add_node("retrieve", partial(retrieve, retriever=retriever, min_score=min_score))
    builder.add_node("abstain", abstain)
    builder.add_node(
        "generate", partial(generate, llm=llm, num_ctx=num_ctx, num_predict=num_predict, rules=system_prompt)
    )
    builder.add_node("check", partial(check, llm=steady))
    builder.add_edge(START, "contextualize")
    builder.add_conditional_edges("contextualize", route_after_contextualize, ["retrieve", "generate"])
    builder.add_conditional_edges("retrieve", route_after_retrieve, ["generate", "abstain"])
    builder.add_conditional_edges("generate", partial(route_after_generate, verify=verify_answers), ["check", END])
    builder.add_edge("check", END)
    builder.add_edge("abstain", END)
    return builder.compile(checkpointer=checkpointer or MemorySaver(), name="ragchat")


def deterministic(llm: BaseChatModel) -> BaseChatModel:
    """Return ``llm`` at temperature 0 for the rewrite and check steps (the answer keeps its own)."""
    fields: dict[str, Any] = getattr(type(llm), "model_fields", {})
    if "temperature" in fields and getattr(llm, "temperature", 0) not in (0, None):
        return llm.model_copy(update={"temperature": 0.0})
    return llm
