"""The commands over the index and the threads: ``ingest``, ``sources``, ``forget``, ``search``, ``threads``, ``graph``.

:func:`ensure_index` builds a missing index before a question (``ask``, ``chat``, ``eval``). Each ``run_*``
takes the :class:`~agent.assistant.Assistant` and the parsed arguments and returns the exit code; errors are
raised as :class:`~knowledge.errors.RagchatError` for ``main`` to print.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.errors import counted
from ui.terminal import ProgressBar, human_size, one_line, print_sources, print_table, raw_scores, say

if TYPE_CHECKING:
    from agent.assistant import Assistant, IngestResult


def run_ingest(assistant: Assistant, args: argparse.Namespace) -> int:
    """Update (or rebuild) the index from files and folders and print a summary."""
    with ProgressBar() as bar:
        result = assistant.ingest(args.paths, progress=bar.update, rebuild=args.rebuild)
    warn(result.warnings)
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
    held = f"{counted(len(rows), 'file')}, {counted(index.chunk_count, 'chunk')}"
    say(f"\n{held}, embeddings {one_line(index.info.embedding)}")
    if count:
        say(left_out)
    return 0


def run_forget(assistant: Assistant, args: argparse.Namespace) -> int:
    """Remove files from the index; folder ingests leave them out until they are named again."""
    removed = assistant.forget(args.paths)
    names = ", ".join(one_line(name) for name in removed)
    plural = len(removed) != 1
    say(f"Removed {counted(len(removed), 'file')} from the index: {names}")
    again = "`ragchat ingest FILE` adds one back" if plural else f"`ragchat ingest {shlex.quote(names)}` adds it back"
    say(f"`ragchat ingest` leaves {'them' if plural else 'it'} out from now on; {again}.")
    return 0


def run_search(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print the ranked chunks for a query with scores and sources."""
    from agent.context import Context, min_score
    from agent.sources import rate, source_record

    query = " ".join(args.query)
    floor = min_score(Context.of(assistant.settings), assistant.knowledge)
    documents = rate(assistant.search(query), query, floor)
    if not documents:
        say("No passage matches.", file=sys.stderr)
        return 0
    records = [source_record(n, doc) | {"scores": raw_scores(doc.metadata)} for n, doc in enumerate(documents, 1)]
    print_sources(records, heading=f"Top {len(records)} ({assistant.settings.retrieval_mode} search):")
    return 0


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


def run_migrate(assistant: Assistant, args: argparse.Namespace) -> int:
    """Copy this data folder's knowledge base and threads into the Postgres ``--to`` names; say how to use it."""
    from tqdm import tqdm

    from agent.moving import move_to

    bars: dict[str, tqdm] = {}

    def progress(what: str, done: int, total: int) -> None:
        bar = bars.get(what) or bars.setdefault(
            what, tqdm(total=total, desc=f"Moving {what}", unit="", file=sys.stderr, leave=False)
        )
        bar.update(done - bar.n)

    assistant.close()  # the move opens the data folder itself
    try:
        moved = move_to(assistant.settings, args.to, progress)
    finally:
        for bar in bars.values():
            bar.close()
    say(
        f"Moved {counted(moved.files, 'file')} ({counted(moved.chunks, 'chunk')}, nothing embedded again) and "
        f"{counted(moved.threads, 'thread')} "
        f"to {moved.where}. Set RAGCHAT_DATABASE_URL to it (or pass --database-url) on every ragchat that "
        "shares them; this data folder is left as it was."
    )
    return 0


def run_graph(assistant: Assistant, args: argparse.Namespace) -> int:
    """Print the Mermaid diagram of the agent."""
    say(assistant.mermaid())
    return 0


def ensure_index(assistant: Assistant) -> None:
    """Build the index from the documents folder first if there is none, saying so."""
    if assistant.load_index() is not None:
        return
    folder = assistant.settings.docs_dir
    say(f"No index yet — indexing {one_line(folder)} first.", file=sys.stderr)
    with ProgressBar() as bar:
        result = assistant.ingest(progress=bar.update)
    warn(result.warnings)
    say(summary(result), file=sys.stderr)


def warn(warnings: list[str]) -> None:
    """Say each notice of what a call found (a damaged file set aside), on stderr."""
    for warning in warnings:
        say(f"Warning: {one_line(warning)}", file=sys.stderr)


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
        f"{', '.join(counts)} ({counted(report.chunks_embedded, 'chunk')} embedded). "
        f"The index holds {counted(index.chunk_count, 'chunk')} from {counted(len(index.files), 'file')}."
    ]
    lines += [f"  skipped {one_line(name)}: {one_line(why)}" for name, why in report.skipped]
    return "\n".join(lines)
