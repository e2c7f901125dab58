"""The graph's nodes (plain functions from state to a state update) and its routers.

Outside, long-lived objects (the chat model, the searcher) are keyword arguments bound once
by ``agent.graph.build_graph``; nodes never build or import them. Each turn's settings (k,
search mode, thresholds, rules, scope) arrive as LangGraph runtime context, an
:class:`~agent.state.Context`, read by :func:`context`. Nodes that the user
waits on announce themselves on LangGraph's custom stream (``{"status": ...}``) and
``generate`` streams the answer there as ``{"token": ...}`` pieces, already cleaned of
invented citation numbers, so what is shown is exactly what is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any, Literal, Protocol

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.config import get_stream_writer
from langgraph.graph import END
from langgraph.runtime import Runtime

from agent.citations import CitationStream
from agent.collection import about_documents
from agent.context import Context, min_score
from agent.followups import conversation, is_instruction
from agent.formatting import fit_history, format_docs, system_prompt
from agent.prompts import (
    ABSTAIN_ANSWER,
    CHECK_PROMPT,
    CONTEXTUALIZE_PROMPT,
    INSTRUCTION_RULES,
    NO_SEARCH,
    NOT_FOUND_ANSWER,
)
from agent.queries import check_rewrite, clean_rewrite, history_query, own_words, search_queries
from agent.sources import MIN_COVERAGE, rate, source_record
from agent.state import State
from knowledge.keyword import coverage

OVERVIEW_PASSAGES = 8
"""Opening passages an overview of the documents is written from, at least (more when k is larger)."""
HISTORY_FOR_REWRITE = 6
"""Messages (3 exchanges) the rewrite step sees: enough for "it" to resolve, little to read."""


class Searcher(Protocol):
    """What the retrieve step searches: a :class:`~knowledge.base.KnowledgeBase` (or one index)."""

    def search(
        self, query: str | Sequence[str], k: int, mode: str, sources: frozenset[str] | None, keyword_weight: float
    ) -> list[Document]:
        """Return the ``k`` best chunks for ``query`` (several queries: fused), best first, scores in metadata."""
        ...

    def rarity(self, words: Sequence[str]) -> list[float]:
        """Return how rare each word is in the documents (IDF)."""
        ...

    def evidence_threshold(self) -> float | None:
        """Return the cosine from which a chunk counts as evidence, calibrated on the documents."""
        ...

    def sources(self) -> list[str]:
        """Return the indexed documents' source names."""
        ...

    def openings(self, sources: Collection[str] | None, limit: int, articles: bool = False) -> list[Document]:
        """Return the first chunk of every file (of ``sources`` when given), or of every article."""
        ...


def context(runtime: Runtime[Context] | None) -> Context:
    """Return the turn's settings; the defaults when a graph is run without any."""
    return (runtime.context if runtime is not None else None) or Context()


# -- contextualize --------------------------------------------------------------------------
def contextualize(state: State, *, llm: BaseChatModel, searcher: Searcher) -> dict[str, Any]:
    """Decide what to search for: the question itself, checked rewrites beside a model-free query, or nothing.

    ``llm`` is the rewriter (see :func:`agent.graph.rewriter`); its reply is used only when
    :func:`agent.queries.check_rewrite` accepts it, and never alone (see :mod:`agent.queries`).
    """
    question = latest_question(state)
    history = conversation(state.get("messages", [])[:-1])  # search-only exchanges are no answers to build on
    about = about_documents(question, searcher.sources())
    if about is not None:  # "what is in these documents?": answered from what the index knows, no rewrite
        return _turn(question, [own_words(question)], about={"files": list(about.files), "topic": about.topic})
    if not any(isinstance(m, AIMessage) for m in history):
        return _turn(question, [own_words(question)])  # first turn: no model call
    if is_instruction(question):
        return _turn(question, [], route="instruction")
    _status("rewriting")
    recent = history[-HISTORY_FOR_REWRITE:]
    prompt = CONTEXTUALIZE_PROMPT.format(history=render_history(recent), question=question, no_search=NO_SEARCH)
    try:
        reply = str(llm.invoke([HumanMessage(prompt)]).content)
    except Exception:  # retrieval must never depend on the rewrite alone
        reply = ""
    if clean_rewrite(reply).strip(".").upper() == NO_SEARCH:
        return _turn(question, [], route="instruction")
    rewritten, why = check_rewrite(reply, question, [str(m.content) for m in recent])
    steady = history_query(question, history, searcher.rarity)
    return _turn(question, search_queries(question, rewritten, steady), rejected=why)


def _turn(
    question: str,
    queries: list[str],
    route: str = "retrieve",
    about: dict[str, Any] | None = None,
    rejected: str = "",
) -> dict[str, Any]:
    """Return contextualize's update; every key is set each turn, so nothing of the last turn's is left over."""
    query = queries[0] if queries else ""
    return {"question": question, "query": query, "queries": queries, "about": about, "route": route,
            "rewrite_rejected": rejected}  # fmt: skip


def route_after_contextualize(state: State) -> Literal["retrieve", "generate"]:
    """Search for new questions; answer instructions about the previous answer from the conversation."""
    return "generate" if state.get("route") == "instruction" else "retrieve"


# -- retrieve -------------------------------------------------------------------------------
def retrieve(state: State, runtime: Runtime[Context], *, searcher: Searcher) -> dict[str, Any]:
    """Find the chunks for the search queries (in the thread's documents) and judge whether they can answer it."""
    _status("searching")
    turn = context(runtime)
    documents, evidence_found = find(state, turn, searcher, turn.k)
    return {
        "documents": documents,
        "sources": [source_record(n, doc) for n, doc in enumerate(documents, start=1)],
        "evidence": evidence_found,
    }


def find(state: State, turn: Context, searcher: Searcher, k: int) -> tuple[list[Document], bool]:
    """Return the passages for the turn in ``state`` (rated) and whether any is evidence.

    An overview of the documents (see :mod:`agent.collection`) is the opening passage of each
    file, or of each article of the files it names, and always has something to say; a question
    about named files searches them alone; anything else searches the turn's queries, fused.
    """
    query = state.get("query") or latest_question(state)
    queries = state.get("queries") or [query]
    scope = turn.scope
    about = state.get("about")
    if about:
        named = [f for f in about["files"] if scope is None or f in scope]
        if about["files"] and not named:  # the thread may not search the files named: an ordinary question
            about = None
        elif not about["topic"]:
            targets = named or (sorted(scope) if scope is not None else None)
            documents = searcher.openings(targets, max(k, OVERVIEW_PASSAGES), articles=bool(named))
            opening = "the opening of an article" if named else "the opening of the file"
            for doc in documents:
                doc.metadata["relevance"] = opening
            return documents, bool(documents)
        else:
            scope, queries = frozenset(named), list(dict.fromkeys([about["topic"], *queries]))
    found = searcher.search(queries, k, turn.mode, scope, turn.keyword_weight)
    floor = min_score(turn, searcher)
    documents = rate(found, query, floor)  # why each was found, said once for every view
    return documents, any(has_evidence(documents, q, floor) for q in queries)


def evidence(documents: list[Document], query: str) -> tuple[float, float]:
    """Return the best cosine and the best share of the query's words among ``documents``."""
    cosine = max((doc.metadata.get("vector_score") or 0.0 for doc in documents), default=0.0)
    words = max((coverage(query, doc.page_content) for doc in documents), default=0.0)
    return cosine, words


def has_evidence(documents: list[Document], query: str, min_score: float) -> bool:
    """Return whether some chunk is relevant: cosine >= ``min_score``, or half the query's words in it.

    Either signal alone is enough, so a paraphrase (no shared words) and an exact name
    (a weak vector) both count; a question about something absent has neither.
    """
    return is_evidence(*evidence(documents, query), min_score)


def is_evidence(cosine: float, words: float, min_score: float, min_coverage: float = MIN_COVERAGE) -> bool:
    """The abstention rule on the two signals of :func:`evidence`."""
    return cosine >= min_score or words >= min_coverage


def route_after_retrieve(state: State) -> Literal["generate", "abstain"]:
    """Answer when there is evidence; otherwise say so without calling the model."""
    return "generate" if state.get("evidence") else "abstain"


def abstain(state: State) -> dict[str, Any]:
    """Say plainly that the documents do not answer this, naming what was searched for."""
    text = ABSTAIN_ANSWER.format(query=state.get("query") or latest_question(state))
    _stream_writer()({"token": text})
    kwargs = {"sources": [], "abstained": True, "query": state.get("query", "")}
    answer = AIMessage(text, id=str(uuid.uuid4()), additional_kwargs=kwargs)
    return {"messages": [answer], "documents": [], "sources": []}


# -- generate -------------------------------------------------------------------------------
def generate(
    state: State, runtime: Runtime[Context], *, llm: BaseChatModel, num_ctx: int, num_predict: int
) -> dict[str, Any]:
    """Write the answer from the numbered sources and the conversation, streaming cleaned tokens."""
    _status("writing")
    turn = context(runtime)
    *history, latest = state["messages"]
    question = str(latest.content)
    instruction = state.get("route") == "instruction"
    rules = INSTRUCTION_RULES if instruction else turn.system_prompt
    history, documents = fit_history(history, state.get("documents", []), question, num_ctx, num_predict, rules)
    prompt: list[BaseMessage] = [SystemMessage(system_prompt(documents, rules)), *history, HumanMessage(question)]
    write = _stream_writer()
    citations = CitationStream(len(documents))
    pieces = []
    for chunk in llm.stream(prompt):
        piece = citations.feed(str(chunk.content))
        if piece:
            pieces.append(piece)
            write({"token": piece})
    if tail := citations.flush():
        pieces.append(tail)
        write({"token": tail})
    text = "".join(pieces)
    sources = [source_record(n, doc) for n, doc in enumerate(documents, start=1)]
    kwargs: dict[str, Any] = {
        "sources": sources,
        "abstained": text.strip().startswith(NOT_FOUND_ANSWER),
        "query": state.get("query", ""),
    }
    answer = AIMessage(text, id=str(uuid.uuid4()), additional_kwargs=kwargs)
    check = turn.verify and bool(documents) and not kwargs["abstained"]  # decided here: routers get no context
    return {"messages": [answer], "documents": documents, "sources": sources, "check": check}


def route_after_generate(state: State) -> Literal["check", "__end__"]:
    """Check the answer against its sources when verification is on and there is something to check."""
    return "check" if state.get("check") else END


# -- check ----------------------------------------------------------------------------------
def check(state: State, *, llm: BaseChatModel) -> dict[str, Any]:
    """Ask the model whether the answer is supported by its sources; record the verdict on the answer."""
    _status("checking")
    answer = state["messages"][-1]
    prompt = CHECK_PROMPT.format(sources=format_docs(state.get("documents", [])), answer=answer.content)
    try:
        verdict = str(llm.invoke([HumanMessage(prompt)]).content).strip().upper()
    except Exception:  # a failed check must not lose the answer
        verdict = ""
    supported = True if verdict.startswith("SUPPORTED") else False if verdict.startswith("UNSUPPORTED") else None
    kwargs = {**answer.additional_kwargs, "verified": supported}
    return {"messages": [AIMessage(answer.content, id=answer.id, additional_kwargs=kwargs)], "check": False}


# -- helpers --------------------------------------------------------------------------------
def latest_question(state: State) -> str:
    """Return the text of the newest user message."""
    for message in reversed(state.get("messages", [])):
        if isinstance(message, HumanMessage):
            return str(message.content)
    return ""


def render_history(messages: list[BaseMessage]) -> str:
    """Render turns as ``User: …`` / ``Assistant: …`` lines for the rewrite prompt."""
    lines = []
    for message in messages:
        role = "User" if isinstance(message, HumanMessage) else "Assistant"
        lines.append(f"{role}: {' '.join(str(message.content).split())}")
    return "\n".join(lines)


def _stream_writer() -> Any:
    try:
        return get_stream_writer()
    except RuntimeError:  # called outside a graph run (direct unit calls)
        return lambda _chunk: None


def _status(step: str) -> None:
    _stream_writer()({"status": step})
