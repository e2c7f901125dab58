"""Asking: ``ask`` and ``chat`` stream each answer as the model writes it, then list its sources.

This is the one module that consumes a :class:`~agent.turns.Turn` (its typed events: the text pieces as
they come, then ``Done`` or ``Failed``), and the one that handles Ctrl-C while an answer is written
(:class:`Interruption`). ``chat``'s slash commands (``/source N`` and the rest) read the last answer's sources.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from ui.commands import ensure_index
from ui.terminal import TerminalText, clean, one_line, print_history, print_sources, say

if TYPE_CHECKING:
    from agent.assistant import Assistant
    from agent.turns import Done, Turn


CHAT_HELP = """Type a question and press Enter. Commands:
  /thread NAME  switch to (or start) the thread NAME
  /new          start a new unnamed thread
  /sources      show the sources of the last answer again
  /history      show this thread's questions and answers so far
  /source N     show the whole passage of source N
  /help         show this help
  /quit         leave (Ctrl-D works too)"""


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


def stream_answer(turn: Turn, out: IO[str] | None = None) -> Done:
    """Write the answer's pieces as they arrive (without control sequences), then a newline and any check warning.

    Raises:
        RagchatError: if the turn failed (its message; what was shown is kept in the thread).
    """
    from agent.turns import Done, Failed, Token
    from knowledge.errors import RagchatError

    out = out or sys.stdout
    text = TerminalText()
    INTERRUPTION.turn = turn
    end: Done | Failed | None = None
    try:
        with contextlib.closing(turn.events()) as events:  # closed early (Ctrl-C): the turn keeps what was shown
            for event in events:
                if isinstance(event, Token):
                    out.write(text.feed(event.text))
                    out.flush()
                elif isinstance(event, Done | Failed):
                    end = event
    finally:
        INTERRUPTION.turn = None
        out.write(text.flush() + "\n")  # an error line must not start in the middle of the answer
    if not isinstance(end, Done):
        raise RagchatError(end.message if end else "The answer ended without a result — ask again.")
    if end.verified is False:
        say("\n(Check: this answer contains claims its sources do not support.)", file=out)
    return end


def run_ask(assistant: Assistant, args: argparse.Namespace) -> int:
    """Answer one question, streaming, then list its sources."""
    from agent.assistant import check_thread_id

    question = " ".join(args.question)
    thread = check_thread_id(args.thread) if args.thread else f"ask-{uuid.uuid4().hex[:8]}"  # before any indexing
    ensure_index(assistant)
    done = stream_answer(assistant.ask(question, thread))
    print_sources(done.sources)
    if not args.thread:
        say(f'\n(thread {thread} — continue it with: ragchat ask --thread {thread} "…")', file=sys.stderr)
    return 0


def run_chat(assistant: Assistant, args: argparse.Namespace) -> int:
    """Read questions from stdin until EOF or /quit; each answer streams, then its sources."""
    from agent.assistant import check_thread_id

    chat = Chat(check_thread_id(args.thread))  # before any indexing
    ensure_index(assistant)
    interactive = sys.stdin.isatty()
    if interactive:
        say(f"ragchat — thread “{one_line(chat.thread)}”. /help for commands, Ctrl-D to leave.", file=sys.stderr)
    failed = False
    while True:
        if interactive:
            say(f"\n[{one_line(chat.thread)}] › ", file=sys.stderr, end="")
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
            chat_command(assistant, chat, command, rest.strip())
        elif not answer(assistant, chat, text):
            failed = True
    return 1 if failed else 0


@dataclass
class Chat:
    """What ``chat`` remembers between lines."""

    thread: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    """The last answer's sources, for ``/sources`` and ``/source N``."""
    no_sources: str = "No answer yet — ask a question first."
    """What ``/sources`` says while ``sources`` is empty."""


def answer(assistant: Assistant, chat: Chat, question: str) -> bool:
    """Stream the answer to ``question`` in the chat's thread, then its sources; return False if it failed."""
    from knowledge.errors import RagchatError

    try:
        chat.sources, chat.no_sources = [], "No sources: the last question failed (the error is above)."
        done = stream_answer(assistant.ask(question, chat.thread))
        print_sources(done.sources)
        chat.sources = done.sources
        chat.no_sources = (
            "No sources: the last answer found nothing relevant in your documents."
            if done.abstained
            else "No sources: the last answer did not rest on your documents."
        )
    except RagchatError as exc:  # the thread stays usable; the next question may work
        say(f"Error: {one_line(exc)}", file=sys.stderr)
        return False
    return True


def chat_command(assistant: Assistant, chat: Chat, command: str, rest: str) -> None:
    """Carry out one slash command other than ``/quit`` (an unknown one shows the help)."""
    if command == "/thread" and rest:
        chat.thread = rest
        say(f"Switched to thread “{one_line(chat.thread)}”.", file=sys.stderr)
    elif command == "/new":
        chat.thread = f"chat-{uuid.uuid4().hex[:8]}"
        say(f"Started thread “{chat.thread}”.", file=sys.stderr)
    elif command == "/history":
        print_history(assistant.history(chat.thread))
    elif command in ("/sources", "/source") and not chat.sources:
        say(chat.no_sources, file=sys.stderr)
    elif command == "/sources":
        print_sources(chat.sources)
    elif command == "/source":
        print_passage(chat.sources, rest)
    else:
        say(CHAT_HELP, file=sys.stderr)


def print_passage(sources: list[dict[str, Any]], number: str, out: IO[str] | None = None) -> None:
    """Print source ``number``'s label and whole passage (Markdown as plain text), or say which numbers exist."""
    from agent.sources import passage, source_label

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
