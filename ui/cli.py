"""The ``ragchat`` command: ``ingest``, ``ask``, ``chat``, ``web`` and the rest over one Assistant.

Output goes to stdout (answers, sources, summaries); progress and errors go to stderr.
Every expected failure is one line on stderr and exit code 1; usage errors exit 2.

Everything printed passes through :func:`say` (or, for a streamed answer, :class:`TerminalText`), so text
from documents, file names, titles and questions never reaches the terminal as control sequences: running
text loses them, names and other one-line fields show them escaped (:func:`one_line`). A file written with
``threads export -o`` is not a terminal and keeps the thread exactly as stored.

The heavy modules (the agent, LangChain, Streamlit) are imported by the commands that need them, so
``ragchat --help`` answers at once and ``ragchat web`` hands over to Streamlit quickly.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import re
import shlex
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.assistant import Assistant, IngestResult
    from agent.settings import Settings
    from agent.tuning import Sweep
    from knowledge.ingest import IngestProgress

CHAT_HELP = """Type a question and press Enter. Commands:
  /thread NAME  switch to (or start) the thread NAME
  /new          start a new unnamed thread
  /sources      show the sources of the last answer again
  /history      show this thread's questions and answers so far
  /source N     show the whole passage of source N
  /help         show this help
  /quit         leave (Ctrl-D works too)"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(settings=any(not arg.startswith("-") for arg in argv)).parse_args(argv)  # a command given
    from knowledge.errors import RagchatError

    try:
        from agent.settings import load_settings

        settings = load_settings(**settings_overrides(args))
        if args.command == "web":
            return run_web(settings, args)
        from agent.assistant import Assistant

        assistant = Assistant(settings)
        try:
            with INTERRUPTION:
                return args.handler(assistant, args)
        finally:
            for warning in assistant.warnings:
                say(f"Warning: {one_line(warning)}", file=sys.stderr)
    except RagchatError as exc:
        say(f"Error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        INTERRUPTION.said = True
        say("\nInterrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return output_closed()
    except Exception as exc:  # a bug: say so in one line, keep the traceback for those who ask
        if os.environ.get("RAGCHAT_DEBUG"):
            raise
        say(
            f"Error: unexpected {type(exc).__name__}: {one_line(exc)} — set RAGCHAT_DEBUG=1 to see the traceback.",
            file=sys.stderr,
        )
        return 1


def output_closed() -> int:
    """Leave quietly, with exit code 0, because whatever read the output has stopped (``… | head -1``).

    Python ignores SIGPIPE and raises BrokenPipeError instead. ``cat`` or ``grep`` are killed by SIGPIPE
    (exit 141); ripgrep, ruff and gzip leave with 0, and so does ragchat: the reader took what it wanted,
    and a script running with ``set -o pipefail`` does not fail over ``| head``. (Python itself leaves
    with 0, and no error, when a single large write is cut short, so 0 is what every command gives.)
    stdout is pointed at /dev/null so the interpreter's last flush of what is still buffered does not
    raise again on the way out.
    """
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


INTERRUPT_GRACE = 1.5
"""Seconds Ctrl-C gives the answer being written to stop before ragchat leaves anyway."""


class Interruption:
    """Ctrl-C while Ollama is writing: keep what was shown (marked interrupted), then leave promptly.

    LangGraph runs the step that talks to Ollama in a worker thread and waits for it on the way
    out, and a request already sent cannot be cancelled, so a plain KeyboardInterrupt would hang
    until the model finished (or ``RAGCHAT_TIMEOUT``). The handler raises KeyboardInterrupt as
    usual and starts a watchdog: if the process is still here after :data:`INTERRUPT_GRACE`
    seconds, it keeps the current turn's answer so far, says "Interrupted." and exits 130.
    A second Ctrl-C leaves at once.
    """

    def __init__(self) -> None:
        self.turn: Any = None
        """The turn being streamed, whose text so far is kept on the way out."""
        self.said = False
        self._previous: Any = None
        self._armed = False

    def __enter__(self) -> Interruption:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: object) -> None:
        if self._armed:
            self._leave(0)
        self._armed = True
        threading.Thread(target=self._leave, args=(INTERRUPT_GRACE,), daemon=True).start()
        raise KeyboardInterrupt

    def _leave(self, after: float) -> None:
        time.sleep(after)
        if self.turn is not None:
            with contextlib.suppress(Exception):
                self.turn.stop()
        if not self.said:
            sys.stderr.write("\nInterrupted.\n")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


INTERRUPTION = Interruption()


def settings_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Return the settings given as flags, keyed by setting name (only those given)."""
    return {
        name.removeprefix(SETTING): value
        for name, value in vars(args).items()
        if name.startswith(SETTING) and value is not None
    }


SETTING = "setting_"
"""Prefix of the ``args`` attributes that hold settings (``args.setting_k``), apart from each command's own."""


def add_settings_flags(group: argparse._ArgumentGroup) -> None:
    """Add one flag per field of :class:`agent.settings.Settings`, typed, bounded and explained by the field.

    The help says the environment variable and the default, so ``ragchat ask --help`` is the
    whole settings reference; nothing here is written per setting.
    """
    import types
    import typing

    from agent.settings import Settings, env_name, flag_name

    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if typing.get_origin(kind) is types.UnionType:  # `int | None`: the flag takes an int
            kind = next(k for k in typing.get_args(kind) if k is not type(None))
        default = field.default
        shown = "unset" if default is None else ("off" if default is False else default)
        help_text = f"{(field.description or name).rstrip('.')} ({env_name(name)}, default {shown})"
        help_text = help_text.replace("%", "%%")  # argparse formats help with %
        options: dict[str, Any] = {"dest": SETTING + name, "help": help_text}
        if kind is bool:
            options.update(action="store_const", const=True)
        elif typing.get_origin(kind) is typing.Literal:
            options.update(choices=list(typing.get_args(kind)))
        else:
            options.update(type=kind if kind in (int, float) else str, metavar=name.upper())
        group.add_argument(flag_name(name), **options)


def build_parser(settings: bool = True) -> argparse.ArgumentParser:
    """Return the argument parser (settings flags are accepted after any command).

    With ``settings=False`` the commands take no settings flags: enough to list the commands
    (``ragchat --help``) without importing pydantic and the settings model (~0.3 s).
    """
    common = argparse.ArgumentParser(add_help=False)
    if settings:
        add_settings_flags(common.add_argument_group("settings (flags override environment variables)"))

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
    sources.add_argument(
        "--forgotten", action="store_true", help="list the forgotten files instead (left out of `ingest`)"
    )
    sources.set_defaults(handler=run_sources)

    forget = commands.add_parser(
        "forget", parents=[common], help="remove files (or a folder) from the index and keep them out of `ingest`"
    )
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

    web = commands.add_parser(
        "web", parents=[common], help="open the web page on this machine only (http://127.0.0.1:8501)"
    )
    web.add_argument("--port", type=port_number, default=8501, help="port to listen on (default 8501)")
    web.add_argument(
        "--address",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1, this machine only); 0.0.0.0 opens the page to your "
        "network, and anyone who can reach the port can read your documents",
    )

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
    export.add_argument(
        "-o", "--output", help="write to this file instead of the screen (unchanged: control characters kept)"
    )

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
        "--chunk-sizes", type=number_list(int), metavar="N,N…", help="sizes a sweep tries (default: a built-in list)"
    )
    evaluate.add_argument(
        "--overlaps", type=number_list(int), metavar="N,N…", help="overlaps a sweep tries (default: a built-in list)"
    )
    evaluate.add_argument(
        "--keyword-weights",
        type=number_list(float),
        metavar="W,W…",
        help="hybrid keyword weights a sweep tries (default: a built-in list)",
    )
    evaluate.add_argument(
        "--min-scores",
        type=number_list(float),
        metavar="S,S…",
        help="thresholds a sweep tries (default: a built-in list)",
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
    say(summary(result))
    left_out = result.report.forgotten
    if len(left_out) == 1:
        name = one_line(left_out[0])
        say(f"1 forgotten file left out ({name}) — `ragchat ingest {shlex.quote(name)}` adds it back.")
    elif left_out:
        say(
            f"{len(left_out)} forgotten files left out — `ragchat sources --forgotten` lists them, "
            "`ragchat ingest FILE` adds one back."
        )
    return 0


def run_sources(assistant: Assistant, args: argparse.Namespace) -> int:
    """List indexed files with their chunks, size and when they were indexed (or, asked, the forgotten files)."""
    index = assistant.load_index()
    forgotten = sorted(index.forgotten) if index is not None else []
    if args.forgotten:
        for name in forgotten:
            say(one_line(name))
        if not forgotten:
            say("No file is forgotten — `ragchat forget FILE` keeps one out of the index.", file=sys.stderr)
        return 0
    count = len(forgotten)
    left_out = (
        f"{count} forgotten file{'s are' if count > 1 else ' is'} left out of the index — "
        f"`ragchat sources --forgotten` lists {'them' if count > 1 else 'it'}, `ragchat ingest FILE` adds one back."
    )
    if index is None or not index.files:
        empty = f"Nothing is indexed: {left_out}" if count else "Nothing is indexed yet — run `ragchat ingest`."
        say(empty, file=sys.stderr)
        return 0
    rows = [
        (r.source, str(r.chunks), human_size(r.size), r.indexed_at.replace("T", " ")[:16]) for r in index.files.values()
    ]
    print_table(("file", "chunks", "size", "indexed (UTC)"), rows)
    say(f"\n{len(rows)} files, {index.chunk_count} chunks, embeddings {one_line(index.info.embedding)}")
    if count:
        say(left_out)
    return 0


def run_forget(assistant: Assistant, args: argparse.Namespace) -> int:
    """Remove files from the index; folder ingests leave them out until they are named again."""
    removed = assistant.forget(args.paths)
    names = ", ".join(one_line(name) for name in removed)
    plural = len(removed) != 1
    say(f"Removed {len(removed)} file{'s' if plural else ''} from the index: {names}")
    again = "`ragchat ingest FILE` adds one back" if plural else f"`ragchat ingest {shlex.quote(names)}` adds it back"
    say(f"`ragchat ingest` leaves {'them' if plural else 'it'} out from now on; {again}.")
    return 0


def run_search(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print the ranked chunks for a query with scores and sources."""
    from agent.formatting import rate, source_record

    query = " ".join(args.query)
    documents = rate(assistant.search(query), query, assistant.settings.min_score)
    if not documents:
        say("No passage matches.", file=sys.stderr)
        return 0
    records = [source_record(n, doc) | {"scores": raw_scores(doc.metadata)} for n, doc in enumerate(documents, 1)]
    print_sources(records, heading=f"Top {len(records)} ({assistant.settings.retrieval_mode} search):")
    return 0


def run_ask(assistant: Assistant, args: argparse.Namespace) -> int:
    """Answer one question, streaming, then list its sources."""
    from agent.assistant import check_thread_id

    question = " ".join(args.question)
    thread = check_thread_id(args.thread) if args.thread else f"ask-{uuid.uuid4().hex[:8]}"  # before any indexing
    ensure_index(assistant)
    turn = assistant.ask(question, thread)
    stream_answer(turn)
    print_sources(turn.sources)
    if not args.thread:
        say(f'\n(thread {thread} — continue it with: ragchat ask --thread {thread} "…")', file=sys.stderr)
    return 0


def run_chat(assistant: Assistant, args: argparse.Namespace) -> int:
    """Read questions from stdin until EOF or /quit; each answer streams, then its sources."""
    from agent.assistant import check_thread_id
    from knowledge.errors import RagchatError

    thread = check_thread_id(args.thread)  # before any indexing
    ensure_index(assistant)
    interactive = sys.stdin.isatty()
    if interactive:
        say(f"ragchat — thread “{one_line(thread)}”. /help for commands, Ctrl-D to leave.", file=sys.stderr)
    failed = False
    last_sources: list[dict[str, Any]] = []
    no_sources = "No answer yet — ask a question first."  # what /sources says while last_sources is empty
    while True:
        if interactive:
            say(f"\n[{one_line(thread)}] › ", file=sys.stderr, end="")
            sys.stderr.flush()
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
                say(f"Switched to thread “{one_line(thread)}”.", file=sys.stderr)
            elif command == "/new":
                thread = f"chat-{uuid.uuid4().hex[:8]}"
                say(f"Started thread “{thread}”.", file=sys.stderr)
            elif command == "/sources":
                if last_sources:
                    print_sources(last_sources)
                else:
                    say(no_sources, file=sys.stderr)
            elif command == "/history":
                print_history(assistant.history(thread))
            elif command == "/source":
                if last_sources:
                    print_passage(last_sources, rest.strip())
                else:
                    say(no_sources, file=sys.stderr)
            else:
                say(CHAT_HELP, file=sys.stderr)
            continue
        try:
            last_sources, no_sources = [], "No sources: the last question failed (the error is above)."
            turn = assistant.ask(text, thread)
            stream_answer(turn)
            print_sources(turn.sources)
            last_sources = turn.sources
            no_sources = (
                "No sources: the last answer found nothing relevant in your documents."
                if turn.abstained
                else "No sources: the last answer did not rest on your documents."
            )
        except RagchatError as exc:  # the thread stays usable; the next question may work
            say(f"Error: {one_line(exc)}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


def run_threads(assistant: Assistant, args: argparse.Namespace) -> int:
    """List threads, or rename, delete or export one."""
    if args.action == "rename":
        assistant.rename_thread(args.thread_id, " ".join(args.title))
        say(f"Renamed thread {one_line(args.thread_id)}.")
    elif args.action == "delete":
        assistant.delete_thread(args.thread_id)
        say(f"Deleted thread {one_line(args.thread_id)} and its history.")
    elif args.action == "export":
        markdown = assistant.export_thread(args.thread_id)
        if args.output:
            write_file(args.output, markdown)
            say(f"Wrote thread {one_line(args.thread_id)} to {one_line(args.output)}.")
        else:
            say(markdown)
    else:
        threads = assistant.threads()
        if not threads:
            say("No threads yet — ask something with `ragchat ask` or `ragchat chat`.", file=sys.stderr)
            return 0
        rows = [(t.id, t.title, str(t.messages), t.updated_at.replace("T", " ")[:16]) for t in threads]
        print_table(("id", "title", "messages", "updated (UTC)"), rows)
    return 0


def write_file(name: str, text: str) -> None:
    """Write ``text`` to the file ``name`` exactly as given (a file is a record, not a terminal).

    Raises:
        RagchatError: when ``name`` is a folder, its folder is missing, or the file cannot be written.
    """
    from knowledge.errors import RagchatError

    path = Path(name)
    if path.is_dir():
        raise RagchatError(f"{path} is a folder — give a file name inside it, e.g. -o {path / 'thread.md'}")
    if not path.parent.is_dir():
        if path.parent.exists():
            raise RagchatError(f"{path.parent} is a file, not a folder — write somewhere else.")
        raise RagchatError(f"The folder {path.parent} does not exist — create it first, or write somewhere else.")
    try:
        with path.open("w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise RagchatError(f"Cannot write {path}: {exc.strerror or exc} — choose another file.") from None


def run_eval(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print retrieval recall and MRR per mode, what abstention would do, answer shares and a sweep."""
    from tqdm import tqdm

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
    from agent.tuning import CHUNK_SIZES, KEYWORD_WEIGHTS, MIN_SCORES, OVERLAPS, check_plan, sweep

    questions = load_questions(args.file)
    chunk_sizes, overlaps = args.chunk_sizes or CHUNK_SIZES, args.overlaps or OVERLAPS
    keyword_weights, min_scores = args.keyword_weights or KEYWORD_WEIGHTS, args.min_scores or MIN_SCORES
    if args.sweep:
        check_plan(chunk_sizes, overlaps, keyword_weights, min_scores)
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
        say(f"({' and '.join(skipped)} skipped: the embedding model did not answer)", file=sys.stderr)
    refusals = [abstention_summary(results, mode, s.min_score) for mode in MODES]
    say(f"\nWould abstain (top {s.k}, min_score {s.min_score}, or half the question's words in a chunk):")
    print_table(("mode", "on answerable", "on unanswerable"), [refusal_cells(r) for r in refusals if r])
    shares = answer_summary(results)
    if shares:
        say(
            f"\nanswers containing an expected answer: {shares['answers_correct']:.0%} · abstained on answerable: "
            f"{shares['abstained_on_answerable']:.0%} · abstained on unanswerable: "
            f"{shares['abstained_on_unanswerable']:.0%}"
        )
    if args.json_path:
        with open(args.json_path, "w", encoding="utf-8") as f:
            f.write(to_json(results))
        say(f"Wrote per-question results to {one_line(args.json_path)}.", file=sys.stderr)
    if args.sweep:
        print_sweep(
            sweep(
                assistant,
                questions,
                chunk_sizes=chunk_sizes,
                overlaps=overlaps,
                keyword_weights=keyword_weights,
                min_scores=min_scores,
                progress=lambda label: ProgressBar(f"Building {label}").update,
                baseline=results,
            ),
            s,
        )
    return 0


def print_sweep(result: Sweep, s: Settings) -> None:
    """Print the sweep's three tables; ``*`` marks the current settings."""
    from agent.evaluation import MODES

    def mark(value: object, current: object) -> str:
        return f"{value}*" if value == current else str(value)

    def triple(row: dict[str, Any]) -> str:
        return f"{row['recall@1']:.2f} / {row[f'recall@{result.k}']:.2f} / {row['mrr@10']:.2f}"

    say(
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
    say("\nHybrid keyword weight (current index; 0 = meaning only, 1 = keywords only):")
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
    say(f"\nAbstention thresholds (top {result.k}; refused = no chunk reaches either threshold):")
    print_table(
        ("mode", "min_score", "min word share", "refused answerable", "refused unanswerable"),
        [refusal_cells(r, s) for r in result.abstention if r],
    )


def refusal_cells(row: dict[str, Any], s: Settings | None = None) -> tuple[str, ...]:
    """Format one abstention row (with its thresholds when ``s`` is given, ``*`` marking the current ones)."""
    from agent.nodes import MIN_COVERAGE

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
    say(assistant.mermaid())
    return 0


# -- the web page -----------------------------------------------------------------------
APP = Path(__file__).with_name("app.py")
"""The page, found next to this file wherever ragchat is installed."""


def run_web(settings: Settings, args: argparse.Namespace) -> int:
    """Start the page with Streamlit, on 127.0.0.1 unless ``--address`` says otherwise, usage statistics off.

    The options are given to ``streamlit run`` as flags, which override any ``.streamlit/config.toml`` and
    ``STREAMLIT_*`` variable, so the folder it is started from changes nothing. Settings given as flags reach
    the page as environment variables. ragchat then becomes Streamlit (``exec``): Ctrl-C and signals go
    straight to the server and no second process waits around.
    """
    check_port(args.address, args.port)
    if not is_loopback(args.address):
        say(
            f"Warning: the page will be open to your network on {one_line(args.address)}:{args.port} — anyone who "
            "can reach that port can read your documents and threads.",
            file=sys.stderr,
        )
    host = page_host(args.address)
    host = f"[{host}]" if ":" in host else host
    say(f"Starting the page at http://{one_line(host)}:{args.port} — Ctrl-C stops it.", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()  # exec replaces the process: anything still buffered would be lost
    os.execve(sys.executable, web_command(args.address, args.port), {**os.environ, **settings_environment(args)})
    return 0  # reached only when exec is replaced (in tests)


def web_command(address: str, port: int) -> list[str]:
    """Return the ``streamlit run`` command line for the page."""
    command = [
        sys.executable,
        "-P",  # the page's own packages, never same-named ones in the folder it is started from
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",  # no browser opened from a server, no e-mail prompt on the first run
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]
    if not is_loopback(address):
        # Told its address, Streamlit prints it instead of asking a web service for this machine's public one.
        command += ["--browser.serverAddress", page_host(address)]
    return command


def page_host(address: str) -> str:
    """Return the host name a browser should use for a page listening on ``address``.

    >>> page_host("127.0.0.1"), page_host("192.168.1.20"), page_host("0.0.0.0") == socket.gethostname()
    ('127.0.0.1', '192.168.1.20', True)
    """
    try:
        everywhere = ipaddress.ip_address(address).is_unspecified
    except ValueError:
        everywhere = False
    return socket.gethostname() if everywhere else address


def settings_environment(args: argparse.Namespace) -> dict[str, str]:
    """Return the settings given as flags as the environment variables the page reads."""
    from agent.settings import env_name

    return {
        env_name(name): "true" if value is True else str(value) for name, value in settings_overrides(args).items()
    }


def is_loopback(address: str) -> bool:
    """Return whether ``address`` is reachable from this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, True, False)
    """
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_port(address: str, port: int) -> None:
    """Make sure the page can listen on ``address`` and ``port`` before handing over to Streamlit.

    Raises:
        RagchatError: when the port is taken, the address is not this machine's, or the port needs privileges.
    """
    import errno

    from knowledge.errors import RagchatError

    try:
        family, kind, proto, _, where = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise RagchatError(
            f"Cannot listen on {address} — give an address of this machine, such as 127.0.0.1."
        ) from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no conflict
        try:
            probe.bind(where)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise RagchatError(
                    f"Port {port} on {address} is already in use — stop what is using it, or choose another with "
                    f"`ragchat web --port {port % 65535 + 1}`."
                ) from None
            if exc.errno == errno.EACCES:
                raise RagchatError(
                    f"Listening on port {port} needs administrator rights — choose a port above 1023."
                ) from None
            raise RagchatError(
                f"Cannot listen on {address}: {exc.strerror} — give an address of this machine, such as 127.0.0.1."
            ) from None


def port_number(text: str) -> int:
    """Return ``text`` as a TCP port (1–65535), for argparse."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1–65535)")
    return port


# -- presentation helpers ---------------------------------------------------------------
# Text from documents, file names, titles and questions may carry sequences that retitle the terminal
# (OSC), clear it or move the cursor (CSI), hide text with a lone carriage return, or reverse it with a
# bidi override. 8-bit C1 controls (0x80–0x9f) do the same on terminals that honour them.
_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # all but tab and newline
_ESCAPED = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029]")  # also tab and line breaks
_STRING = r"(?:\x1b[\]P^_X]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*"  # OSC, DCS, SOS, PM, APC: text up to BEL or ST
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*"
_SEQUENCE = re.compile(rf"{_STRING}(?:\x07|\x1b\\|\x9c)|{_CSI}[@-~]|\x1b[ -/]*[0-~]")
_UNFINISHED = re.compile(rf"{_STRING}\x1b?|{_CSI}|\x1b[ -/]*")  # a sequence still missing its end
_INTRODUCER = re.compile(r"[\x1b\x90\x98\x9b\x9d-\x9f]")
_HELD_AT_MOST = 512  # characters of an unfinished sequence held back before giving up on it


def clean(text: str) -> str:
    r"""Return running text without escape sequences or control characters (tabs and newlines stay).

    A carriage return becomes a newline, so the text it would have overwritten stays visible.

    >>> clean("\x1b]0;pwned\x07Tide \x1b[31mred\x1b[0m at 06:40\rfake\u202e")
    'Tide red at 06:40\nfake'
    """
    text = _SEQUENCE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def one_line(value: object) -> str:
    r"""Return ``value`` as one line with every control character shown escaped, for names and table cells.

    >>> print(one_line("two\nlines\t\x1b[2J\u202e.md"))
    two\nlines\t\x1b[2J\u202e.md
    """
    return _ESCAPED.sub(_escape, str(value))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def say(text: str = "", file: IO[str] | None = None, end: str = "\n") -> None:
    """Print ``text`` (to stdout unless ``file`` is given) as :func:`clean` leaves it: every CLI line goes here."""
    (file or sys.stdout).write(clean(text) + end)


class TerminalText:
    """:func:`clean` for text that arrives in pieces: a sequence split across pieces is held until complete."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """Return what can be shown of ``piece`` now, holding back an unfinished sequence or a final carriage return."""
        text = self._held + piece
        cut = self._ready(text)
        self._held = text[cut:]
        return clean(text[:cut])

    def flush(self) -> str:
        """Return whatever is still held: the text has ended, so a sequence cut short by its end is dropped."""
        text, self._held = self._held, ""
        return "" if _UNFINISHED.fullmatch(text) else clean(text)

    @staticmethod
    def _ready(text: str) -> int:
        position = 0
        while found := _INTRODUCER.search(text, position):
            start = found.start()
            if _UNFINISHED.fullmatch(text, start) and len(text) - start <= _HELD_AT_MOST:
                return start  # checked first: "\x1b]" alone is also a complete (short) sequence
            if complete := _SEQUENCE.match(text, start):
                position = complete.end()
            else:
                position = start + 1  # not a sequence: clean() drops the lone introducer
        return len(text) - 1 if text.endswith("\r") else len(text)  # "\r\n" may be split too


class ProgressBar:
    """A tqdm bar on stderr fed by ingest progress: the phase and file in front, files in the postfix.

    While files are read and split it counts the chunks found (``Splitting big.txt: 640
    chunks found, files 0/1``); while they are embedded, the chunks embedded of the total,
    with rate and time left (``Embedding:  45%|…| 128/290 […, files 0/1]``).
    """

    FOUND = "{desc}{n_fmt} chunks found{postfix}"

    def __init__(self, label: str = "") -> None:
        """Create the bar lazily, on the first callback; ``label`` goes before the phase (a sweep's build)."""
        self.label = label
        self._bar: Any = None

    def update(self, progress: IngestProgress) -> None:
        """Show the phase and file, and move the bar to the chunks found or embedded and the files done."""
        from tqdm import tqdm

        embedding = progress.phase == "embedding"
        phase = progress.phase if embedding else f"{progress.phase} {one_line(progress.file)}"
        description = f"{self.label} · {phase}" if self.label else phase[0].upper() + phase[1:]
        files = f"files {progress.files_done}/{progress.files_total}"
        if self._bar is None:
            self._bar = tqdm(
                desc=f"{description}: ", postfix=files, unit="chunk", file=sys.stderr, bar_format=self.FOUND
            )
        bar = self._bar
        bar.set_postfix_str(files, refresh=False)
        if embedding and bar.total is None:  # from chunks found to chunks embedded of their total
            bar.set_description(description, refresh=False)
            bar.bar_format = None
            bar.reset(total=progress.chunks_total)
        bar.update(progress.chunks_done - bar.n)
        if bar.desc != f"{description}: ":
            bar.set_description(description)  # drawn at once: a phase may be shorter than tqdm's refresh interval
        if embedding and progress.chunks_done >= progress.chunks_total:
            bar.close()  # done: callers that never exit a `with` (a sweep's builds) still end the line

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
    say(f"No index yet — indexing {one_line(folder)} first.", file=sys.stderr)
    with ProgressBar() as bar:
        result = assistant.ingest(progress=bar.update)
    say(summary(result), file=sys.stderr)


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
    lines += [f"  skipped {one_line(name)}: {one_line(why)}" for name, why in report.skipped]
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
    """Print left-aligned columns (numbers right-aligned) sized to their widest cell, one line per row."""
    table = [tuple(one_line(cell) for cell in row) for row in (header, *rows)]
    widths = [max(len(cell) for cell in column) for column in zip(*table, strict=True)]
    for row in table:
        cells = [
            cell.rjust(width) if cell.replace(".", "").rstrip("*").split(" ")[0].isdigit() else cell.ljust(width)
            for cell, width in zip(row, widths, strict=True)
        ]
        say("  ".join(cells).rstrip(), file=out)


def stream_answer(turn: Any, out: IO[str] | None = None) -> None:
    """Write the answer's pieces as they arrive (without control sequences), then a newline and any check warning."""
    out = out or sys.stdout
    text = TerminalText()
    INTERRUPTION.turn = turn
    try:
        for token in turn:
            out.write(text.feed(token))
            out.flush()
    finally:
        INTERRUPTION.turn = None
        out.write(text.flush() + "\n")  # an error line must not start in the middle of the answer
    if turn.verified is False:
        say("\n(Check: this answer contains claims its sources do not support.)", file=out)


def print_history(messages: list[Any], out: IO[str] | None = None) -> None:
    """Print a thread's questions and answers (without control sequences), each answer with its sources.

    A search-only reply shows its label (its text) and the passages it found; an answer cut short says so.
    """
    from agent.threads import stop_reason

    if not messages:
        say("Nothing in this thread yet — ask a question.", file=sys.stderr)
        return
    out = out or sys.stdout
    for position, message in enumerate(messages):
        if message.type == "human":
            say(("\n" if position else "") + f"You: {clean(str(message.content))}", file=out)
            continue
        details = message.additional_kwargs
        if message.content:
            say(clean(str(message.content)), file=out)
        if details.get("interrupted"):
            note = stop_reason(details)
            say(f"({'Interrupted' if message.content else 'No answer'}: {clean(note)}.)", file=out)
        print_sources(details.get("sources", []), out)


def print_sources(sources: list[dict[str, Any]], out: IO[str] | None = None, heading: str = "\nSources:") -> None:
    """List sources as ``[n] file · article n “title” · lines a–b — relevance`` with a snippet underneath.

    A record that carries raw ``scores`` (``ragchat search`` adds them, for tuning) shows them in brackets.
    """
    from agent.formatting import source_label

    out = out or sys.stdout
    if not sources:
        return
    say(heading, file=out)
    for s in sources:
        scores = f" ({s['scores']})" if s.get("scores") else ""
        say(f"  [{s['number']}] {one_line(source_label(s))}{scores}\n      {one_line(clean(s['snippet']))}", file=out)
    out.flush()


def raw_scores(metadata: dict[str, Any]) -> str:
    """Return the search's numbers for one chunk: its ranking score, then the cosine and BM25 behind it.

    >>> raw_scores({"score": 0.9302, "vector_score": 0.71, "keyword_score": 3.2})
    'score 0.93 · cosine 0.71 · BM25 3.20'
    """
    names = (("score", "score"), ("vector_score", "cosine"), ("keyword_score", "BM25"))
    return " · ".join(f"{name} {metadata[key]:.2f}" for key, name in names if metadata.get(key) is not None)


def print_passage(sources: list[dict[str, Any]], number: str, out: IO[str] | None = None) -> None:
    """Print source ``number``'s label and whole passage (Markdown as plain text), or say which numbers exist."""
    from agent.formatting import passage, source_label

    out = out or sys.stdout
    last = len(sources)
    which = f"/source 1 to /source {last}" if last > 1 else "/source 1"
    if not number.isdigit():
        say(f"Give a source number: {which}.", file=sys.stderr)
        return
    if not 1 <= int(number) <= last:
        has = f"sources 1 to {last}" if last > 1 else "only source 1"
        say(f"No source {int(number)} — the last answer has {has}.", file=sys.stderr)
        return
    source = sources[int(number) - 1]
    say(f"\n[{source['number']}] {one_line(source_label(source))}\n\n{clean(passage(source))}", file=out)
    out.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
