"""The tables ``ragchat eval`` shows, as text cells: recall per mode, predicted abstentions, a sweep's three tables.

Nothing here prints: the CLI prints each :class:`Table` (title, then aligned columns) and the lines returned.
Shares are shown with two decimals (recall, MRR) or as percentages (refusals); ``*`` marks the current settings.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.evaluation.run import CUTOFFS, MODES, QuestionResult
from agent.evaluation.scores import abstention_summary, answer_summary, summarise
from agent.nodes import MIN_COVERAGE

if TYPE_CHECKING:
    from agent.evaluation.tuning import Sweep
    from agent.settings import Settings


@dataclass(frozen=True)
class Table:
    """A table to show: a title line ("" for none), the column names and the rows, every cell text."""

    title: str
    header: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)


def recall_table(results: list[QuestionResult]) -> Table:
    """Return recall@1/3/5/10 and MRR@10 per search mode, over all answerable questions and over follow-ups."""
    header = ("mode", "questions", "n", *(f"R@{k}" for k in CUTOFFS), "MRR@10")
    rows = [
        (r["mode"], r["questions"], str(r["n"]), *(f"{r[f'recall@{k}']:.2f}" for k in CUTOFFS), f"{r['mrr@10']:.2f}")
        for r in summarise(results)
    ]
    return Table("", header, rows)


def skipped_note(recall: Table) -> str | None:
    """Return the note saying which modes :func:`recall_table` has no rows for (their search failed), if any.

    >>> skipped_note(Table("", ("mode",), [("keyword",), ("keyword",)]))
    '(vector and hybrid skipped: the embedding model did not answer)'
    """
    shown = {row[0] for row in recall.rows}
    skipped = [mode for mode in ("vector", "hybrid") if mode not in shown]
    return f"({' and '.join(skipped)} skipped: the embedding model did not answer)" if skipped else None


def refusal_table(results: list[QuestionResult], settings: Settings, min_score: float) -> Table:
    """Return the share of answerable and unanswerable questions the agent would refuse, per searchable mode.

    ``min_score`` is the evidence cosine in force: the setting, or the one calibrated on the documents.
    """
    how = "set" if settings.min_score is not None else "calibrated on these documents"
    title = (
        f"Would abstain (top {settings.k}, min_score {min_score:.2f} {how}, or half the question's words in a chunk):"
    )
    refusals = [abstention_summary(results, mode, min_score) for mode in MODES]
    return Table(title, ("mode", "on answerable", "on unanswerable"), [refusal_cells(r) for r in refusals if r])


def rewrite_line(results: list[QuestionResult]) -> str | None:
    """Return how many follow-up rewrites the model got wrong and why, or None when there were no follow-ups.

    >>> from agent.evaluation.run import QuestionResult as R
    >>> rewrite_line([R("a", "q", "q", True, True, rewrite_rejected="a refusal"), R("b", "q", "q", True, True)])
    'follow-up rewrites not searched: 1 of 2 (a refusal 1)'
    """
    follow_ups = [r for r in results if r.follow_up and r.about is None]
    if not follow_ups:
        return None
    reasons = Counter(r.rewrite_rejected for r in follow_ups if r.rewrite_rejected)
    why = ", ".join(f"{reason} {count}" for reason, count in reasons.most_common())
    return f"follow-up rewrites not searched: {sum(reasons.values())} of {len(follow_ups)}" + (
        f" ({why})" if why else ""
    )


def answer_line(results: list[QuestionResult]) -> str | None:
    """Return the answer shares as one line, or None when no answers were generated."""
    shares = answer_summary(results)
    if not shares:
        return None
    return (
        f"answers containing an expected answer: {shares['answers_correct']:.0%} · abstained on answerable: "
        f"{shares['abstained_on_answerable']:.0%} · abstained on unanswerable: "
        f"{shares['abstained_on_unanswerable']:.0%}"
    )


def sweep_tables(result: Sweep, settings: Settings) -> list[Table]:
    """Return a sweep's tables: chunk size × overlap, hybrid keyword weight, abstention thresholds."""
    k = result.k

    def triple(row: dict[str, Any]) -> str:
        return f"{row['recall@1']:.2f} / {row[f'recall@{k}']:.2f} / {row['mrr@10']:.2f}"

    grid: dict[tuple[int, int], dict[str, Any]] = {}
    for row in result.chunking:
        key = (row["chunk_size"], row["overlap"])
        cell = grid.setdefault(key, {"chunks": row["chunks"], "ctx": row["same_context_k"]})
        cell[row["mode"]] = f"{triple(row)} / {row['recall@context']:.2f}"
    chunking = Table(
        f"Chunk size and overlap (throwaway indexes; R@1 / R@{k} / MRR@10 / R@ctx over answerable questions;"
        f"\nR@ctx = recall within the context the current settings fill, {k} × {settings.chunk_size} characters,"
        " i.e. the top 'ctx k' chunks):",
        ("size", "overlap", "chunks", "ctx k", "keyword", "vector", "hybrid"),
        [
            (
                mark(size, settings.chunk_size),
                mark(overlap, settings.chunk_overlap),
                str(cell["chunks"]),
                str(cell["ctx"]),
                *(cell.get(mode, "-") for mode in MODES),
            )
            for (size, overlap), cell in grid.items()
        ],
    )
    fusion = Table(
        "Hybrid keyword weight (current index; 0 = meaning only, 1 = keywords only):",
        ("keyword weight", "R@1", f"R@{k}", "R@10", "MRR@10"),
        [
            (
                mark(row["keyword_weight"], settings.keyword_weight),
                *(f"{row[column]:.2f}" for column in ("recall@1", f"recall@{k}", "recall@10", "mrr@10")),
            )
            for row in result.fusion
        ],
    )
    thresholds = Table(
        f"Abstention thresholds (top {k}; refused = no chunk reaches either threshold):",
        ("mode", "min_score", "min word share", "refused answerable", "refused unanswerable"),
        [refusal_cells(r, result.min_score) for r in result.abstention if r],
    )
    return [chunking, fusion, thresholds]


def mark(value: object, current: object) -> str:
    """Return ``value`` as text, with ``*`` when it is the current setting.

    >>> mark(500, 500), mark(0.25, 0.5)
    ('500*', '0.25')
    """
    return f"{value}*" if value == current else str(value)


def refusal_cells(row: dict[str, Any], current: float | None = None) -> tuple[str, ...]:
    """Format one abstention row (with its thresholds when the ``current`` min_score is given, ``*`` marking it).

    >>> refusal_cells({"mode": "vector", "refused_answerable": 0.1, "refused_unanswerable": 0.75})
    ('vector', '10%', '75%')
    """
    shares = (f"{row['refused_answerable']:.0%}", f"{row['refused_unanswerable']:.0%}")
    if current is None:
        return (row["mode"], *shares)
    star = "*" if row["min_score"] == current else ""
    score = "-" if row["mode"] == "keyword" else f"{row['min_score']:.2f}{star}"  # keyword results carry no cosine
    coverage = row["min_coverage"]
    words = "off" if coverage > 1 else f"{coverage:.2f}" + ("*" if coverage == MIN_COVERAGE else "")
    return (row["mode"], score, words, *shares)
