"""``ragchat eval``: measure retrieval (and answers) on your own documents, and try other settings on them.

- :mod:`~agent.evaluation.run` reads a question file and runs each question through retrieval in every
  search mode (and, with answers, the whole agent, in scratch threads);
- :mod:`~agent.evaluation.scores` sums the results up: recall@k and MRR, predicted abstentions, answer shares;
- :mod:`~agent.evaluation.tuning` sweeps chunking (throwaway indexes), fusion weights and abstention thresholds;
- :mod:`~agent.evaluation.report` turns the figures into table cells; the CLI prints them (nothing here prints).
"""

from agent.evaluation.report import (
    Table,
    answer_line,
    recall_table,
    refusal_table,
    rewrite_line,
    skipped_note,
    sweep_tables,
)
from agent.evaluation.run import (
    CUTOFFS,
    MODES,
    EvalQuestion,
    QuestionResult,
    contains_answer,
    evaluate,
    evidence_floor,
    load_questions,
)
from agent.evaluation.scores import abstention_summary, answer_summary, summarise, to_json
from agent.evaluation.tuning import CHUNK_SIZES, KEYWORD_WEIGHTS, MIN_SCORES, OVERLAPS, Sweep, check_plan, sweep

__all__ = [
    "CHUNK_SIZES",
    "CUTOFFS",
    "KEYWORD_WEIGHTS",
    "MIN_SCORES",
    "MODES",
    "OVERLAPS",
    "EvalQuestion",
    "QuestionResult",
    "Sweep",
    "Table",
    "abstention_summary",
    "answer_line",
    "answer_summary",
    "check_plan",
    "contains_answer",
    "evaluate",
    "evidence_floor",
    "load_questions",
    "recall_table",
    "refusal_table",
    "rewrite_line",
    "skipped_note",
    "summarise",
    "sweep",
    "sweep_tables",
    "to_json",
]
