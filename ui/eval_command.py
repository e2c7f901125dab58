"""``ragchat eval``: run a question file, print the figures, and with ``--sweep`` the values tried.

The measuring and the table cells are :mod:`agent.evaluation`'s; this module reads the flags, shows the
progress bars and prints. The tables go to stdout; progress, notes and the JSON file's name go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ui.commands import ensure_index
from ui.terminal import ProgressBar, one_line, print_table, say

if TYPE_CHECKING:
    from agent.assistant import Assistant
    from agent.evaluation import Table


def run_eval(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print retrieval recall and MRR per mode, what abstention would do, answer shares and a sweep."""
    from tqdm import tqdm

    from agent import evaluation as ev

    questions = ev.load_questions(args.file)
    chunk_sizes, overlaps = args.chunk_sizes or ev.CHUNK_SIZES, args.overlaps or ev.OVERLAPS
    keyword_weights, min_scores = args.keyword_weights or ev.KEYWORD_WEIGHTS, args.min_scores or ev.MIN_SCORES
    if args.sweep:
        ev.check_plan(chunk_sizes, overlaps, keyword_weights, min_scores)
    ensure_index(assistant)
    with tqdm(total=len(questions), desc="Questions", unit="q", file=sys.stderr, leave=False) as bar:
        results = ev.evaluate(assistant, questions, answers=args.answers, on_question=lambda _: bar.update())
    recall = ev.recall_table(results)
    show(recall)
    if note := ev.skipped_note(recall):
        say(note, file=sys.stderr)
    show(ev.refusal_table(results, assistant.settings, ev.evidence_floor(assistant)))
    if line := ev.rewrite_line(results):
        say(f"\n{line}")
    if line := ev.answer_line(results):
        say(f"\n{line}")
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            f.write(ev.to_json(results))
        say(f"Wrote per-question results to {one_line(args.json_path)}.", file=sys.stderr)
    if args.sweep:
        tried = ev.sweep(
            assistant,
            questions,
            chunk_sizes=chunk_sizes,
            overlaps=overlaps,
            keyword_weights=keyword_weights,
            min_scores=min_scores,
            progress=lambda label: ProgressBar(f"Building {label}").update,
            baseline=results,
        )
        for table in ev.sweep_tables(tried, assistant.settings):
            show(table)
    return 0


def show(table: Table) -> None:
    """Print a table, after a blank line and its title when it has one."""
    if table.title:
        say(f"\n{table.title}")
    print_table(table.header, table.rows)


def number_list(kind: type) -> Callable[[str], tuple[Any, ...]]:
    """Return an argparse type reading comma-separated numbers of ``kind`` (a sweep's ``--chunk-sizes 300,500``)."""

    def parse(text: str) -> tuple[Any, ...]:
        try:
            values = tuple(kind(part) for part in text.split(",") if part.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a comma-separated list of numbers (e.g. 300,500,800)"
            ) from None
        if not values:
            raise argparse.ArgumentTypeError("give at least one number")
        return values

    return parse
