"""The ``ragchat`` command: the parser (settings flags included) and ``main``, which runs one command.

Commands: ``ingest``, ``sources``, ``forget``, ``search``, ``threads`` and ``graph`` (:mod:`ui.commands`),
``ask`` and ``chat`` (:mod:`ui.conversation`), ``eval`` (:mod:`ui.eval_command`) and ``web``
(:mod:`ui.web_command`); everything printed goes through :mod:`ui.terminal`, so nothing from a document
reaches the terminal as a control sequence (a file written with ``threads export -o`` is not a terminal
and keeps the thread exactly as stored).

Output goes to stdout (answers, sources, summaries, tables); progress and errors go to stderr.
Every expected failure is one line on stderr and exit code 1; usage errors exit 2.

The heavy modules (the agent, LangChain, Streamlit) are imported by the commands that need them, so
``ragchat --help`` answers at once and ``ragchat web`` hands over to Streamlit quickly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from ui.commands import run_forget, run_graph, run_ingest, run_migrate, run_search, run_sources, run_threads, warn
from ui.conversation import INTERRUPTION, run_ask, run_chat
from ui.eval_command import number_list, run_eval
from ui.terminal import one_line, say
from ui.web_command import port_number, run_web


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(settings=any(not arg.startswith("-") for arg in argv)).parse_args(argv)  # a command given
    from knowledge.errors import RagchatError

    try:
        from agent.settings import load_settings

        settings = load_settings(**settings_overrides(args))
        if args.command == "web":
            return run_web(args, settings_overrides(args))
        from agent.assistant import Assistant

        assistant = Assistant(settings)
        try:
            with INTERRUPTION:
                return args.handler(assistant, args)
        finally:  # what opening the thread store found, if a command opened it; then let go of it now
            warn(assistant.conversations.notices)
            assistant.close()
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

    migrate = commands.add_parser(
        "migrate", parents=[common], help="move this data folder's knowledge base and threads into a shared Postgres"
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="an empty Postgres with pgvector: postgresql://…")
    migrate.set_defaults(handler=run_migrate)

    graph = commands.add_parser("graph", parents=[common], help="print the agent's graph as Mermaid text")
    graph.set_defaults(handler=run_graph)
    return parser


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
