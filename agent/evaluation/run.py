"""Run a file of questions through retrieval in each search mode (and, optionally, the whole agent).

The file is JSON Lines, one question per line::

    {"id": "q1", "question": "How tall is Gannet Point Light?", "answers": ["34 metres"],
     "source": "harbour_ledger_spring.md", "conversation": "lighthouse"}

``answers`` are strings a correct passage or answer contains (compared case- and
punctuation-insensitively); an empty list marks a question the documents cannot answer.
``source`` (optional) is the file the passage must come from; ``kind`` (optional) says what the
question tests, and a follow-up's ``standalone`` (optional) its ideal rewrite. Lines sharing a
``conversation`` are turns of one conversation, in file order: later turns are searched
through the real ``contextualize`` step, with the earlier turns as history (the generated
answers with ``--answers``, otherwise the first expected answer stands in for them).

A question is found at rank r when the r-th retrieved chunk contains an expected answer
(from the expected file, if given). The figures over many questions are in
:mod:`agent.evaluation.scores`; nothing here prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.context import Context
from agent.graph import rewriter as make_rewriter
from agent.nodes import contextualize, evidence, find
from knowledge.errors import RagchatError
from knowledge.index import KnowledgeIndex

if TYPE_CHECKING:
    from agent.assistant import Assistant

MODES = ("keyword", "vector", "hybrid")
CUTOFFS = (1, 3, 5, 10)
DEPTH = 10


@dataclass
class EvalQuestion:
    """One line of the evaluation file."""

    id: str
    question: str
    answers: list[str]
    source: str | None = None
    conversation: str | None = None
    turn: int = 0
    """Position in its conversation (0 for a standalone question or a first turn)."""
    kind: str = ""
    """What the question tests (``paraphrase``, ``pronoun``, ``topic-shift``, ``collection``...); free text."""
    standalone: str | None = None
    """For a follow-up: its ideal standalone rewrite, searched apart to show what a perfect rewrite gives."""


@dataclass
class QuestionResult:
    """What happened to one question."""

    id: str
    question: str
    query: str
    follow_up: bool
    answerable: bool
    queries: list[str] = field(default_factory=list)
    """Every query searched, fused (``query`` first)."""
    ranks: dict[str, int | None] = field(default_factory=dict)
    """Per mode, the 1-based rank of the first matching chunk within the top 10 (None: not found)."""
    evidence: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    """Per mode, the best cosine and best query-word share in the top k: what abstention judges."""
    about: dict[str, Any] | None = None
    """What a question about the documents themselves names and asks (see ``agent.collection``)."""
    rewrite_rejected: str = ""
    """Why the model's rewrite of this follow-up was not searched; "" when it was (or there was none)."""
    ideal_ranks: dict[str, int | None] = field(default_factory=dict)
    """Per mode, the rank when the question's ideal standalone rewrite is searched (follow-ups that have one)."""
    kind: str = ""
    answer: str | None = None
    answer_correct: bool | None = None
    abstained: bool | None = None


def normalise(text: str) -> str:
    """Lower-case, drop punctuation, collapse spaces: how answers and chunks are compared.

    >>> normalise("It cost £1,860,000 — in total!")
    'it cost 1 860 000 in total'
    """
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def contains_answer(text: str, answers: Iterable[str]) -> bool:
    """Return whether ``text`` contains any expected answer (normalised)."""
    haystack = f" {normalise(text)} "
    return any(f" {normalise(a)} " in haystack for a in answers if normalise(a))


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read and check an evaluation file.

    Raises:
        RagchatError: naming the line of the first problem.
    """
    questions: list[EvalQuestion] = []
    turns: dict[str, int] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RagchatError(f"Cannot read {path}: {exc.strerror or exc} — check the path.") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            question = str(data["question"]).strip()
            answers = [str(a) for a in data.get("answers", [])]
        except (ValueError, KeyError, TypeError) as exc:
            raise RagchatError(
                f"{path} line {number} is not a question ({type(exc).__name__}: {exc}) — each line needs "
                '{"question": "...", "answers": ["..."]}.'
            ) from exc
        if not question:
            raise RagchatError(f"{path} line {number} has an empty question.")
        conversation = data.get("conversation")
        turn = turns.get(conversation, 0) if conversation else 0
        if conversation:
            turns[conversation] = turn + 1
        questions.append(
            EvalQuestion(
                str(data.get("id", f"line{number}")),
                question,
                answers,
                data.get("source"),
                conversation,
                turn,
                str(data.get("kind") or ""),
                data.get("standalone"),
            )
        )
    if not questions:
        raise RagchatError(f"{path} holds no questions — write one JSON object per line.")
    return questions


def evaluate(
    assistant: Assistant,
    questions: list[EvalQuestion],
    answers: bool = False,
    on_question: Callable[[QuestionResult], None] | None = None,
) -> list[QuestionResult]:
    """Run every question through retrieval in each mode (and the full agent with ``answers``).

    Answers are written in threads kept in memory (:meth:`~agent.assistant.Assistant.scratch`),
    so the user's thread list is left as it was. ``on_question`` is called after each question
    (for a progress bar).
    """
    index = assistant.require_index()
    s = assistant.settings
    rewriter = make_rewriter(assistant.llm)
    answering = assistant.scratch() if answers else None
    histories: dict[str, list[BaseMessage]] = {}
    results = []
    for item in questions:
        history = histories.setdefault(item.conversation, []) if item.conversation else []
        messages = [*history, HumanMessage(item.question)]
        state = contextualize({"messages": messages}, llm=rewriter, searcher=index)
        query = state.get("query") or item.question
        queries = state.get("queries") or [query]
        result = QuestionResult(item.id, item.question, query, item.turn > 0, bool(item.answers), queries)
        result.about = state.get("about")
        result.rewrite_rejected = state.get("rewrite_rejected", "")
        result.ranks, result.evidence = measure(
            index, item, queries, k=s.k, keyword_weight=s.keyword_weight, about=result.about
        )
        result.kind = item.kind
        if item.turn and item.standalone:
            result.ideal_ranks, _ = measure(index, item, [item.standalone], k=s.k, keyword_weight=s.keyword_weight)
        if answering is not None:
            thread = f"eval-{item.conversation or item.id}"
            done = answering.ask(item.question, thread).run()
            result.answer, result.abstained = done.answer, done.abstained
            result.answer_correct = contains_answer(result.answer, item.answers) if item.answers else None
        if item.conversation:
            reply = result.answer if result.answer is not None else (item.answers[0] if item.answers else "")
            history += [HumanMessage(item.question), AIMessage(reply)]
        results.append(result)
        if on_question is not None:
            on_question(result)
    return results


def evidence_floor(assistant: Assistant) -> float:
    """Return the cosine the agent takes as evidence now: the ``min_score`` setting, else the calibrated one."""
    from agent.context import Context, min_score

    return min_score(Context.of(assistant.settings), assistant.knowledge)


def measure(
    index: KnowledgeIndex,
    item: EvalQuestion,
    queries: list[str],
    *,
    k: int,
    keyword_weight: float = 0.5,
    modes: Iterable[str] = MODES,
    about: dict[str, Any] | None = None,
) -> tuple[dict[str, int | None], dict[str, tuple[float, float] | None]]:
    """Find passages as the agent's retrieve step does, in each mode; return the first match's rank and the evidence.

    The evidence is the best cosine and word share in the top ``k`` (an overview of the documents
    always has some: it counts as (1, 1)). A mode whose search fails (the embedding model is
    unreachable) gets rank -1 and no evidence.
    """
    ranks: dict[str, int | None] = {}
    signals: dict[str, tuple[float, float] | None] = {}
    state = {"query": queries[0], "queries": queries, "about": about}
    for mode in modes:
        turn = Context(k=k, mode=mode, keyword_weight=keyword_weight, min_score=1.0)  # rated only, not judged
        try:
            documents, _ = find(state, turn, index, max(DEPTH, k))
        except RagchatError:
            if mode == "keyword":
                raise
            ranks[mode], signals[mode] = -1, None  # vector search needs the embedding model
            continue
        ranks[mode] = first_match(documents[:DEPTH], item)
        if about and not about.get("topic"):
            signals[mode] = (1.0, 1.0)
            continue
        found = [evidence(documents[:k], query) for query in queries]
        signals[mode] = (max(c for c, _ in found), max(w for _, w in found))  # either signal, from any query
    return ranks, signals


def first_match(documents: list[Any], item: EvalQuestion) -> int | None:
    """Return the 1-based rank of the first chunk holding an answer (from the right file), or None."""
    if not item.answers:
        return None
    for rank, doc in enumerate(documents, start=1):
        if item.source and doc.metadata.get("source") != item.source:
            continue
        if contains_answer(doc.page_content, item.answers):
            return rank
    return None
