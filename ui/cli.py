"""The ``ragchat`` command: ``ingest``, ``ask``, ``chat`` and ``graph`` over one Assistant.

Output goes to stdout (answers, sources, summaries); progress and errors go to stderr.
Every expected failure is one line on stderr and exit code 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence
from typing import IO, Any

from tqdm import tqdm

from agent.assistant import Assistant, IngestResult
from agent.formatting import source_label
from agent.settings import load_settings
from knowledge.errors import RagchatError

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
            docs_dir=args.docs,
            home=args.home,
        )
        return args.handler(Assistant(settings), args)
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
    group.add_argument("--docs", help="documents folder (RAGCHAT_DOCS_DIR, default rag_data)")
    group.add_argument("--home", help="data folder (RAGCHAT_HOME, default .ragchat)")

    parser = argparse.ArgumentParser(
        prog="ragchat", description="Chat with your own documents, privately, through a local Ollama."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser("ingest", parents=[common], help="index the .txt and .md files in a folder")
    ingest.add_argument("folder", nargs="?", help="folder to index (default: the documents folder)")
    ingest.set_defaults(handler=run_ingest)

    ask = commands.add_parser("ask", parents=[common], help="answer one question, with its sources")
    ask.add_argument("question", nargs="+", help="the question (quotes optional)")
    ask.add_argument("--thread", help="thread to continue (default: a new one)")
    ask.set_defaults(handler=run_ask)

    chat = commands.add_parser("chat", parents=[common], help="an interactive conversation")
    chat.add_argument("--thread", default="default", help="thread name (default: default)")
    chat.set_defaults(handler=run_chat)

    graph = commands.add_parser("graph", parents=[common], help="print the agent's graph as Mermaid text")
    graph.set_defaults(handler=run_graph)
    return parser


# -- commands ---------------------------------------------------------------------------
def run_ingest(assistant: Assistant, args: argparse.Namespace) -> int:
    """Build the index from a folder and print a summary."""
    with ProgressBar() as bar:
        result = assistant.ingest(args.folder, progress=bar.update)
    print(summary(result))
    return 0


def run_ask(assistant: Assistant, args: argparse.Namespace) -> int:
    """Answer one question, streaming, then list its sources."""
    question = " ".join(args.question)
    ensure_index(assistant)
    turn = assistant.ask(question, args.thread or f"ask-{uuid.uuid4().hex[:8]}")
    stream_answer(turn)
    print_sources(turn.sources)
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


def run_graph(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print the Mermaid diagram of the agent."""
    print(assistant.mermaid())
    return 0


# -- presentation helpers ---------------------------------------------------------------
class ProgressBar:
    """A tqdm bar on stderr fed by ``progress(done, total)`` callbacks."""

    def __init__(self, description: str = "Embedding") -> None:
        """Create the bar lazily, on the first callback (when the total is known)."""
        self.description = description
        self._bar: tqdm | None = None

    def update(self, done: int, total: int) -> None:
        """Advance the bar to ``done`` of ``total`` chunks."""
        if self._bar is None:
            self._bar = tqdm(total=total, desc=self.description, unit="chunk", file=sys.stderr, leave=True)
        self._bar.update(done - self._bar.n)

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
    """One line (plus one per skipped file) describing an ingest."""
    info = result.index.info
    lines = [f"Indexed {info.chunks} chunks from {len(info.files)} files in {info.folder} → {result.path}"]
    lines += [f"  skipped {name}: {why}" for name, why in result.report.skipped]
    return "\n".join(lines)


def stream_answer(turn: Any, out: IO[str] | None = None) -> None:
    """Write the answer's tokens as they arrive, then a newline."""
    out = out or sys.stdout
    for token in turn:
        out.write(token)
        out.flush()
    out.write("\n")


def print_sources(sources: list[dict[str, Any]], out: IO[str] | None = None) -> None:
    """List sources as ``[n] file · article n “title” (score)`` with a snippet underneath."""
    out = out or sys.stdout
    if not sources:
        return
    out.write("\nSources:\n")
    for s in sources:
        out.write(f"  [{s['number']}] {source_label(s)}\n      {s['snippet']}\n")
    out.flush()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
