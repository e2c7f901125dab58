"""Figures over many questions: recall@k and MRR per search mode, predicted abstentions, answer shares.

Each function takes the :class:`~agent.evaluation.run.QuestionResult` list that
:func:`~agent.evaluation.run.evaluate` returns and gives plain numbers (shares from 0 to 1);
:mod:`agent.evaluation.report` turns them into table rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from agent.evaluation.run import CUTOFFS, MODES, QuestionResult
from agent.nodes import MIN_COVERAGE, is_evidence


def summarise(results: list[QuestionResult], cutoffs: Iterable[int] = CUTOFFS) -> list[dict[str, Any]]:
    """Return one row per mode and question group: recall at each cutoff and MRR@10."""
    rows = []
    answerable = [r for r in results if r.answerable]
    for mode in MODES:
        for group, members, ranks_of in (
            ("all", answerable, "ranks"),
            ("standalone", [r for r in answerable if not r.follow_up], "ranks"),
            ("follow-up", [r for r in answerable if r.follow_up], "ranks"),
            ("follow-up, ideal rewrite", [r for r in answerable if r.follow_up and r.ideal_ranks], "ideal_ranks"),
        ):
            if not members or any(getattr(r, ranks_of).get(mode, -1) == -1 for r in members):
                continue
            if group == "standalone" and len(members) == len(answerable):
                continue  # the same as "all"
            ranks = [getattr(r, ranks_of)[mode] for r in members]
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
