"""Measure retrieval (and, optionally, answers) on your own documents from a file of questions.

The file is JSON Lines, one question per line::

    {"id": "q1", "question": "How tall is Gannet Point Light?", "answers": ["34 metres"],
     "source": "harbour_ledger_spring.md", "conversation": "lighthouse"}

``answers`` are strings a correct passage or answer contains (compared case- and
punctuation-insensitively); an empty list marks a question the documents cannot answer.
``source`` (optional) is the file the passage must come from. Lines sharing a
``conversation`` are turns of one conversation, in file order: later turns are searched
through the real ``contextualize`` step, with the earlier turns as history (the generated
answers with ``--answers``, otherwise the first expected answer stands in for them).

A question is found at rank r when the r-th retrieved chunk contains an expected answer
(from the expected file, if given). Reported per search mode: recall@1/3/5/10 and MRR@10,
for all answerable questions and separately for follow-up turns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.graph import deterministic
from agent.nodes import MIN_COVERAGE, contextualize, evidence, is_evidence
from knowledge.errors import RagchatError
from knowledge.index import KnowledgeIndex

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


@dataclass
class QuestionResult:
    """What happened to one question."""

    id: str
    question: str
    query: str
    follow_up: bool
    answerable: bool
    ranks: dict[str, int | None] = field(default_factory=dict)
    """Per mode, the 1-based rank of the first matching chunk within the top 10 (None: not found)."""
    evidence: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    """Per mode, the best cosine and best query-word share in the top k: what abstention judges."""
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
                str(data.get("id", f"line{number}")), question, answers, data.get("source"), conversation, turn
            )
        )
    if not questions:
        raise RagchatError(f"{path} holds no questions — write one JSON object per line.")
    return questions


def evaluate(
    assistant: Any,
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
    rewriter = deterministic(assistant.llm)
    answering = assistant.scratch() if answers else None
    histories: dict[str, list[BaseMessage]] = {}
    results = []
    for item in questions:
        history = histories.setdefault(item.conversation, []) if item.conversation else []
        state = contextualize({"messages": [*history, HumanMessage(item.question)]}, llm=rewriter)
        query = state.get("query") or item.question
        result = QuestionResult(item.id, item.question, query, item.turn > 0, bool(item.answers))
        result.ranks, result.evidence = measure(index, item, query, k=s.k, keyword_weight=s.keyword_weight)
        if answering is not None:
            thread = f"eval-{item.conversation or item.id}"
            turn = answering.ask(item.question, thread)
            result.answer = turn.run()
            result.abstained = turn.abstained
            result.answer_correct = contains_answer(result.answer, item.answers) if item.answers else None
        if item.conversation:
            reply = result.answer if result.answer is not None else (item.answers[0] if item.answers else "")
            history += [HumanMessage(item.question), AIMessage(reply)]
        results.append(result)
        if on_question is not None:
            on_question(result)
    return results


def measure(
    index: KnowledgeIndex,
    item: EvalQuestion,
    query: str,
    *,
    k: int,
    keyword_weight: float = 0.5,
    modes: Iterable[str] = MODES,
) -> tuple[dict[str, int | None], dict[str, tuple[float, float] | None]]:
    """Search ``query`` in each mode; return the rank of the first match and the evidence in the top ``k``.

    A mode whose search fails (the embedding model is unreachable) gets rank -1 and no evidence.
    """
    ranks: dict[str, int | None] = {}
    signals: dict[str, tuple[float, float] | None] = {}
    for mode in modes:
        try:
            documents = index.search(query, max(DEPTH, k), mode, keyword_weight=keyword_weight)
        except RagchatError:
            if mode == "keyword":
                raise
            ranks[mode], signals[mode] = -1, None  # vector search needs the embedding model
            continue
        ranks[mode] = first_match(documents[:DEPTH], item)
        signals[mode] = evidence(documents[:k], query)
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


def summarise(results: list[QuestionResult], cutoffs: Iterable[int] = CUTOFFS) -> list[dict[str, Any]]:
    """Return one row per mode and question group: recall at each cutoff and MRR@10."""
    rows = []
    for mode in MODES:
        for group, members in (
            ("all", [r for r in results if r.answerable]),
            ("follow-up", [r for r in results if r.answerable and r.follow_up]),
        ):
            if not members or any(r.ranks.get(mode, -1) == -1 for r in members):
                continue
            ranks = [r.ranks[mode] for r in members]
            row: dict[str, Any] = {"mode": mode, "questions": group, "n": len(ranks)}
            for cutoff in cutoffs:
                row[f"recall@{cutoff}"] = sum(1 for rank in ranks if rank and rank <= cutoff) / len(ranks)
            row["mrr@10"] = sum(1 / rank for rank in ranks if rank) / len(ranks)
            rows.append(row)
    return rows


def abstention_summary(
    results: list[QuestionResult], mode: str, min_score: float, min_coverage: float = MIN_COVERAGE
) -> dict[str, Any] | None:
    """Return the shares of answerable and unanswerable questions the agent would refuse in ``mode``.

    The same rule as the agent's (:func:`agent.nodes.is_evidence`) on each question's top-k
    evidence, so it needs no chat model; ``None`` when ``mode`` could not be searched.
    """
    signals = [(r.answerable, r.evidence.get(mode)) for r in results]
    if not signals or any(signal is None for _, signal in signals):
        return None

    def share(answerable: bool) -> float:
        group = [signal for flag, signal in signals if flag == answerable]
        refused = [signal for signal in group if not is_evidence(*signal, min_score, min_coverage)]
        return len(refused) / len(group) if group else 0.0

    return {
        "mode": mode,
        "min_score": min_score,
        "min_coverage": min_coverage,
        "refused_answerable": share(True),
        "refused_unanswerable": share(False),
    }


def answer_summary(results: list[QuestionResult]) -> dict[str, float] | None:
    """Return answer accuracy and abstention shares, when answers were generated."""
    answered = [r for r in results if r.answer is not None]
    if not answered:
        return None
    answerable = [r for r in answered if r.answerable]
    unanswerable = [r for r in answered if not r.answerable]
    return {
        "answers_correct": sum(1 for r in answerable if r.answer_correct) / max(len(answerable), 1),
        "abstained_on_answerable": sum(1 for r in answerable if r.abstained) / max(len(answerable), 1),
        "abstained_on_unanswerable": sum(1 for r in unanswerable if r.abstained) / max(len(unanswerable), 1),
        "abstained": sum(1 for r in answered if r.abstained) / len(answered),
    }


def to_json(results: list[QuestionResult]) -> str:
    """Return the per-question results as a JSON document."""
    return json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2)
