"""The ``ragchat`` command: ``ingest``, ``ask``, ``chat`` and ``graph`` over one Assistant.

Output goes to stdout (answers, sources, summaries); progress and errors go to stderr.
Every expected failure is one line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import IO, Any

from tqdm import tqdm

from agent.assistant import Assistant, IngestResult
from agent.evaluation import (
    CUTOFFS,
    MODES,
    abstention_summary,
    answer_summary,
    evaluate,
    load_questions,
    summarise,
    to_json,
)
from agent.formatting import source_label, source_record
from agent.nodes import MIN_COVERAGE
from agent.settings import Settings, load_settings
from agent.tuning import CHUNK_SIZES, KEYWORD_WEIGHTS, MIN_SCORES, OVERLAPS, Sweep, check_plan, sweep
from knowledge.errors import RagchatError
from knowledge.ingest import IngestProgress

CHAT_HELP = """Type a question and press Enter. Commands:
  /thread NAME  switch to (or start) the thread NAME
  /new          start a new unnamed thread
  /sources      show the sources of the last answer again
  /help         show this help
  /quit         leave (Ctrl-D works too)"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(
            ollama_host=args.ollama_host,
            chat_model=args.model,
            embedding_backend=args.embedding_backend,
            k=args.k,
            retrieval_mode=args.mode,
            temperature=args.temperature,
            top_k=args.top_k,
            top_p=args.top_p,
            num_predict=args.num_predict,
            num_ctx=args.num_ctx,
            system_prompt=args.system_prompt,
            verify_answers=args.verify,
            memory=args.memory,
            docs_dir=args.docs,
            home=args.home,
        )
        assistant = Assistant(settings)
        try:
            return args.handler(assistant, args)
        finally:
            for warning in assistant.warnings:
                print(f"Warning: {warning}", file=sys.stderr)
    except RagchatError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so in one line, keep the traceback for those who ask
        if os.environ.get("RAGCHAT_DEBUG"):
            raise
        print(
            f"Error: unexpected {type(exc).__name__}: {exc} — set RAGCHAT_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return 1


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser (settings flags are accepted after any command)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("settings (override environment variables)")
    group.add_argument("--model", help="chat model (RAGCHAT_CHAT_MODEL, default llama3.1:8b)")
    group.add_argument("--ollama-host", help="Ollama URL (OLLAMA_HOST, default http://localhost:11434)")
    group.add_argument("--embedding-backend", choices=["ollama", "nomic-local"], help="RAGCHAT_EMBEDDING_BACKEND")
    group.add_argument("--k", type=int, help="chunks retrieved per question (RAGCHAT_K, default 4)")
    group.add_argument(
        "--mode",
        choices=["hybrid", "vector", "keyword"],
        help="retrieval mode (RAGCHAT_RETRIEVAL_MODE, default hybrid)",
    )
    group.add_argument("--temperature", type=float, help="sampling temperature (RAGCHAT_TEMPERATURE, default 0)")
    group.add_argument("--top-k", type=int, help="sample from the k likeliest tokens (RAGCHAT_TOP_K)")
    group.add_argument("--top-p", type=float, help="nucleus sampling share (RAGCHAT_TOP_P)")
    group.add_argument("--num-predict", type=int, help="most tokens per answer (RAGCHAT_NUM_PREDICT, default 1024)")
    group.add_argument("--num-ctx", type=int, help="context window in tokens (RAGCHAT_NUM_CTX, default 8192)")
    group.add_argument("--system-prompt", help="replace the answering rules (RAGCHAT_SYSTEM_PROMPT)")
    group.add_argument(
        "--verify", action="store_const", const=True, help="check answers against sources (RAGCHAT_VERIFY_ANSWERS)"
    )
    group.add_argument(
        "--memory", action="store_const", const=True, help="keep threads in memory only (RAGCHAT_MEMORY)"
    )
    group.add_argument("--docs", help="documents folder (RAGCHAT_DOCS_DIR, default rag_data)")
    group.add_argument("--home", help="data folder (RAGCHAT_HOME, default .ragchat)")

    parser = argparse.ArgumentParser(
        prog="ragchat", description="Chat with your own documents, privately, through a local Ollama."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser(
        "ingest", parents=[common], help="index new and changed files (.txt .md .pdf .html .docx), drop deleted ones"
    )
    ingest.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the documents folder)")
    ingest.add_argument("--rebuild", action="store_true", help="start a new index (after changing embedding model)")
    ingest.set_defaults(handler=run_ingest)

    sources = commands.add_parser("sources", parents=[common], help="list the indexed files")
    sources.set_defaults(handler=run_sources)

    forget = commands.add_parser("forget", parents=[common], help="remove files (or a folder) from the index")
    forget.add_argument("paths", nargs="+", metavar="PATH", help="source names as `sources` lists them, or paths")
    forget.set_defaults(handler=run_forget)

    search = commands.add_parser("search", parents=[common], help="show the ranked passages for a query (no model)")
    search.add_argument("query", nargs="+", help="the words to look for")
    search.set_defaults(handler=run_search)

    ask = commands.add_parser("ask", parents=[common], help="answer one question, with its sources")
    ask.add_argument("question", nargs="+", help="the question (quotes optional)")
    ask.add_argument("--thread", help="thread to continue (default: a new one)")
    ask.set_defaults(handler=run_ask)

    chat = commands.add_parser("chat", parents=[common], help="an interactive conversation")
    chat.add_argument("--thread", default="default", help="thread name (default: default)")
    chat.set_defaults(handler=run_chat)

    threads = commands.add_parser("threads", parents=[common], help="list, rename, delete or export conversations")
    actions = threads.add_subparsers(dest="action", metavar="ACTION")
    threads.set_defaults(handler=run_threads)
    actions.add_parser("list", parents=[common], help="list threads, newest first")
    rename = actions.add_parser("rename", parents=[common], help="give a thread a new title")
    rename.add_argument("thread_id", metavar="ID")
    rename.add_argument("title", nargs="+", metavar="TITLE")
    delete = actions.add_parser("delete", parents=[common], help="delete a thread and its history")
    delete.add_argument("thread_id", metavar="ID")
    export = actions.add_parser("export", parents=[common], help="print a thread as Markdown, with sources")
    export.add_argument("thread_id", metavar="ID")
    export.add_argument("-o", "--output", help="write to this file instead of the screen")

    evaluate = commands.add_parser(
        "eval", parents=[common], help="measure retrieval (and answers) on a JSONL file of questions"
    )
    evaluate.add_argument("file", help="questions, one JSON object per line (see rag_data/eval.jsonl)")
    evaluate.add_argument("--answers", action="store_true", help="also generate answers (needs the chat model)")
    evaluate.add_argument("--json", dest="json_path", help="write the per-question results to this file")
    evaluate.add_argument(
        "--sweep",
        action="store_true",
        help="also try other chunk sizes, overlaps, fusion weights and abstention thresholds (needs the embedder)",
    )
    evaluate.add_argument(
        "--chunk-sizes", type=number_list(int), default=CHUNK_SIZES, metavar="N,N…", help="sizes a sweep tries"
    )
    evaluate.add_argument(
        "--overlaps", type=number_list(int), default=OVERLAPS, metavar="N,N…", help="overlaps a sweep tries"
    )
    evaluate.add_argument(
        "--keyword-weights",
        type=number_list(float),
        default=KEYWORD_WEIGHTS,
        metavar="W,W…",
        help="hybrid keyword weights a sweep tries",
    )
    evaluate.add_argument(
        "--min-scores", type=number_list(float), default=MIN_SCORES, metavar="S,S…", help="thresholds a sweep tries"
    )
    evaluate.set_defaults(handler=run_eval)

    graph = commands.add_parser("graph", parents=[common], help="print the agent's graph as Mermaid text")
    graph.set_defaults(handler=run_graph)
    return parser


# -- commands ---------------------------------------------------------------------------
def run_ingest(assistant: Assistant, args: argparse.Namespace) -> int:
    """Update (or rebuild) the index from files and folders and print a summary."""
    with ProgressBar() as bar:
        result = assistant.ingest(args.paths, progress=bar.update, rebuild=args.rebuild)
    print(summary(result))
    return 0


def run_sources(assistant: Assistant, args: argparse.Namespace) -> int:
    """List indexed files with their chunks, size and when they were indexed."""
    index = assistant.load_index()
    if index is None or not index.files:
        print("Nothing is indexed yet — run `ragchat ingest`.", file=sys.stderr)
        return 0
    rows = [
        (r.source, str(r.chunks), human_size(r.size), r.indexed_at.replace("T", " ")[:16]) for r in index.files.values()
    ]
    print_table(("file", "chunks", "size", "indexed (UTC)"), rows)
    print(f"\n{len(rows)} files, {index.chunk_count} chunks, embeddings {index.info.embedding}")
    return 0


def run_forget(assistant: Assistant, args: argparse.Namespace) -> int:
    """Remove files from the index."""
    removed = assistant.forget(args.paths)
    print(f"Removed {len(removed)} file{'s' if len(removed) != 1 else ''} from the index: {', '.join(removed)}")
    return 0


def run_search(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print the ranked chunks for a query with scores and sources."""
    documents = assistant.search(" ".join(args.query))
    if not documents:
        print("No passage matches.", file=sys.stderr)
        return 0
    records = [source_record(n, doc) for n, doc in enumerate(documents, start=1)]
    print_sources(records, heading=f"Top {len(records)} ({assistant.settings.retrieval_mode} search):")
    return 0


def run_ask(assistant: Assistant, args: argparse.Namespace) -> int:
    """Answer one question, streaming, then list its sources."""
    question = " ".join(args.question)
    ensure_index(assistant)
    thread = args.thread or f"ask-{uuid.uuid4().hex[:8]}"
    turn = assistant.ask(question, thread)
    stream_answer(turn)
    print_sources(turn.sources)
    if not args.thread:
        print(f'\n(thread {thread} — continue it with: ragchat ask --thread {thread} "…")', file=sys.stderr)
    return 0


def run_chat(assistant: Assistant, args: argparse.Namespace) -> int:
    """Read questions from stdin until EOF or /quit; each answer streams, then its sources."""
    ensure_index(assistant)
    interactive = sys.stdin.isatty()
    thread = args.thread
    if interactive:
        print(f"ragchat — thread “{thread}”. /help for commands, Ctrl-D to leave.", file=sys.stderr)
    failed = False
    last_sources: list[dict[str, Any]] = []
    while True:
        if interactive:
            print(f"\n[{thread}] › ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            break
        text = line.strip()
        if not text:
            continue
        if text.startswith("/"):
            command, _, rest = text.partition(" ")
            if command in ("/quit", "/exit"):
                break
            if command == "/thread" and rest.strip():
                thread = rest.strip()
                print(f"Switched to thread “{thread}”.", file=sys.stderr)
            elif command == "/new":
                thread = f"chat-{uuid.uuid4().hex[:8]}"
                print(f"Started thread “{thread}”.", file=sys.stderr)
            elif command == "/sources":
                print_sources(last_sources)
            else:
                print(CHAT_HELP, file=sys.stderr)
            continue
        try:
            turn = assistant.ask(text, thread)
            stream_answer(turn)
            print_sources(turn.sources)
            last_sources = turn.sources
        except RagchatError as exc:  # the thread stays usable; the next question may work
            print(f"Error: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def run_threads(assistant: Assistant, args: argparse.Namespace) -> int:
    """List threads, or rename, delete or export one."""
    if args.action == "rename":
        assistant.rename_thread(args.thread_id, " ".join(args.title))
        print(f"Renamed thread {args.thread_id}.")
    elif args.action == "delete":
        assistant.delete_thread(args.thread_id)
        print(f"Deleted thread {args.thread_id} and its history.")
    elif args.action == "export":
        markdown = assistant.export_thread(args.thread_id)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(markdown)
            print(f"Wrote thread {args.thread_id} to {args.output}.")
        else:
            print(markdown)
    else:
        threads = assistant.threads()
        if not threads:
            print("No threads yet — ask something with `ragchat ask` or `ragchat chat`.", file=sys.stderr)
            return 0
        rows = [(t.id, t.title, str(t.messages), t.updated_at.replace("T", " ")[:16]) for t in threads]
        print_table(("id", "title", "messages", "updated (UTC)"), rows)
    return 0


def run_eval(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print retrieval recall and MRR per mode, what abstention would do, answer shares and a sweep."""
    questions = load_questions(args.file)
    if args.sweep:
        check_plan(args.chunk_sizes, args.overlaps, args.keyword_weights, args.min_scores)
    ensure_index(assistant)
    s = assistant.settings
    with tqdm(total=len(questions), desc="Questions", unit="q", file=sys.stderr, leave=False) as bar:
        results = evaluate(assistant, questions, answers=args.answers, on_question=lambda _: bar.update())
    rows = summarise(results)
    header = ("mode", "questions", "n", "R@1", "R@3", "R@5", "R@10", "MRR@10")
    cells = [
        (r["mode"], r["questions"], str(r["n"]), *(f"{r[f'recall@{k}']:.2f}" for k in CUTOFFS), f"{r['mrr@10']:.2f}")
        for r in rows
    ]
    print_table(header, cells)
    skipped = [mode for mode in ("vector", "hybrid") if not any(r["mode"] == mode for r in rows)]
    if skipped:
        print(f"({' and '.join(skipped)} skipped: the embedding model did not answer)", file=sys.stderr)
    refusals = [abstention_summary(results, mode, s.min_score) for mode in MODES]
    print(f"\nWould abstain (top {s.k}, min_score {s.min_score}, or half the question's words in a chunk):")
    print_table(("mode", "on answerable", "on unanswerable"), [refusal_cells(r) for r in refusals if r])
    shares = answer_summary(results)
    if shares:
        print(
            f"\nanswers containing an expected answer: {shares['answers_correct']:.0%} · abstained on answerable: "
            f"{shares['abstained_on_answerable']:.0%} · abstained on unanswerable: "
            f"{shares['abstained_on_unanswerable']:.0%}"
        )
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            f.write(to_json(results))
        print(f"Wrote per-question results to {args.json_path}.", file=sys.stderr)
    if args.sweep:
        print_sweep(
            sweep(
                assistant,
                questions,
                chunk_sizes=args.chunk_sizes,
                overlaps=args.overlaps,
                keyword_weights=args.keyword_weights,
                min_scores=args.min_scores,
                progress=lambda label: ProgressBar(f"Building {label}").update,
                baseline=results,
            ),
            s,
        )
    return 0


def print_sweep(result: Sweep, s: Settings) -> None:
    """Print the sweep's three tables; ``*`` marks the current settings."""

    def mark(value: object, current: object) -> str:
        return f"{value}*" if value == current else str(value)

    def triple(row: dict[str, Any]) -> str:
        return f"{row['recall@1']:.2f} / {row[f'recall@{result.k}']:.2f} / {row['mrr@10']:.2f}"

    print(
        f"\nChunk size and overlap (throwaway indexes; R@1 / R@{result.k} / MRR@10 / R@ctx over answerable questions;"
        f"\nR@ctx = recall within the context the current settings fill, {result.k} × {s.chunk_size} characters,"
        " i.e. the top 'ctx k' chunks):"
    )
    grid: dict[tuple[int, int], dict[str, Any]] = {}
    for row in result.chunking:
        key = (row["chunk_size"], row["overlap"])
        cell = grid.setdefault(key, {"chunks": row["chunks"], "ctx": row["same_context_k"]})
        cell[row["mode"]] = f"{triple(row)} / {row['recall@context']:.2f}"
    print_table(
        ("size", "overlap", "chunks", "ctx k", "keyword", "vector", "hybrid"),
        [
            (mark(size, s.chunk_size), mark(overlap, s.chunk_overlap), str(cell["chunks"]), str(cell["ctx"]))
            + tuple(cell.get(mode, "-") for mode in MODES)
            for (size, overlap), cell in grid.items()
        ],
    )
    print("\nHybrid keyword weight (current index; 0 = meaning only, 1 = keywords only):")
    print_table(
        ("keyword weight", "R@1", f"R@{result.k}", "R@10", "MRR@10"),
        [
            (
                mark(row["keyword_weight"], s.keyword_weight),
                f"{row['recall@1']:.2f}",
                f"{row[f'recall@{result.k}']:.2f}",
                f"{row['recall@10']:.2f}",
                f"{row['mrr@10']:.2f}",
            )
            for row in result.fusion
        ],
    )
    print(f"\nAbstention thresholds (top {result.k}; refused = no chunk reaches either threshold):")
    print_table(
        ("mode", "min_score", "min word share", "refused answerable", "refused unanswerable"),
        [refusal_cells(r, s) for r in result.abstention if r],
    )


def refusal_cells(row: dict[str, Any], s: Settings | None = None) -> tuple[str, ...]:
    """Format one abstention row (with its thresholds when ``s`` is given, ``*`` marking the current ones)."""
    shares = (f"{row['refused_answerable']:.0%}", f"{row['refused_unanswerable']:.0%}")
    if s is None:
        return (row["mode"], *shares)
    score = f"{row['min_score']:.2f}" + ("*" if row["min_score"] == s.min_score else "")
    if row["mode"] == "keyword":
        score = "-"  # keyword results carry no cosine
    coverage = row["min_coverage"]
    words = "off" if coverage > 1 else f"{coverage:.2f}" + ("*" if coverage == MIN_COVERAGE else "")
    return (row["mode"], score, words, *shares)


def number_list(kind: type) -> Callable[[str], tuple[Any, ...]]:
    """Return an argparse type reading comma-separated numbers of ``kind``."""

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


def run_graph(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print the Mermaid diagram of the agent."""
    print(assistant.mermaid())
    return 0


# -- presentation helpers ---------------------------------------------------------------
class ProgressBar:
    """A tqdm bar on stderr (chunks, rate, time left; files in the postfix) fed by ingest progress."""

    def __init__(self, description: str = "Embedding") -> None:
        """Create the bar lazily, on the first callback (when the totals are known)."""
        self.description = description
        self._bar: tqdm | None = None

    def update(self, progress: IngestProgress) -> None:
        """Move the bar to the chunks and files done."""
        if progress.chunks_total == 0:
            return  # nothing to embed: no bar
        if self._bar is None:
            self._bar = tqdm(total=progress.chunks_total, desc=self.description, unit="chunk", file=sys.stderr)
        self._bar.set_postfix_str(f"files {progress.files_done}/{progress.files_total}", refresh=False)
        self._bar.update(progress.chunks_done - self._bar.n)
        if progress.chunks_done >= progress.chunks_total:
            self._bar.close()  # done: callers that never exit a `with` (a sweep's builds) still end the line

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def ensure_index(assistant: Assistant) -> None:
    """Build the index from the documents folder first if there is none, saying so."""
    if assistant.load_index() is not None:
        return
    folder = assistant.settings.docs_dir
    print(f"No index yet — indexing {folder} first.", file=sys.stderr)
    with ProgressBar() as bar:
        result = assistant.ingest(progress=bar.update)
    print(summary(result), file=sys.stderr)


def summary(result: IngestResult) -> str:
    """One line of counts, then one line per skipped file with the reason."""
    report, index = result.report, result.index
    counts = [
        f"{len(report.added)} added",
        f"{len(report.updated)} updated",
        f"{len(report.removed)} removed",
        f"{report.unchanged} unchanged",
    ]
    if report.skipped:
        counts.append(f"{len(report.skipped)} skipped")
    lines = [
        f"{', '.join(counts)} ({report.chunks_embedded} chunks embedded). "
        f"The index holds {index.chunk_count} chunks from {len(index.files)} files."
    ]
    lines += [f"  skipped {name}: {why}" for name, why in report.skipped]
    return "\n".join(lines)


def human_size(size: int) -> str:
    """Return a byte count as ``12.3 kB``-style text.

    >>> human_size(512), human_size(2048), human_size(5_300_000)
    ('512 B', '2.0 kB', '5.3 MB')
    """
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]], out: IO[str] | None = None) -> None:
    """Print left-aligned columns (numbers right-aligned) sized to their widest cell."""
    out = out or sys.stdout
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        cells = [
            cell.rjust(width) if cell.replace(".", "").rstrip("*").split(" ")[0].isdigit() else cell.ljust(width)
            for cell, width in zip(row, widths, strict=True)
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def stream_answer(turn: Any, out: IO[str] | None = None) -> None:
    """Write the answer's pieces as they arrive, then a newline and any warning from the check."""
    out = out or sys.stdout
    try:
        for token in turn:
            out.write(token)
            out.flush()
    finally:
        out.write("\n")  # an error line must not start in the middle of the answer
    if turn.verified is False:
        out.write("\n(Check: this answer contains claims its sources do not support.)\n")


def print_sources(sources: list[dict[str, Any]], out: IO[str] | None = None, heading: str = "\nSources:") -> None:
    """List sources as ``[n] file · article n “title” (score)`` with a snippet underneath."""
    out = out or sys.stdout
    if not sources:
        return
    out.write(heading + "\n")
    for s in sources:
        out.write(f"  [{s['number']}] {source_label(s)}\n      {s['snippet']}\n")
    out.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
