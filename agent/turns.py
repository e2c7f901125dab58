"""One question being answered, as a stream of small typed events.

Iterating :meth:`Turn.events` runs the graph once and yields, in order: :class:`Status` as each
step the user waits on starts, :class:`Token` pieces of the answer as they are written (they
join to exactly the stored answer), then one :class:`Done` or one :class:`Failed`. The CLI, the
page and ``ragchat eval`` consume it the same way. A turn stopped from outside (Ctrl-C, a closed
page, :meth:`Turn.stop`) keeps what was shown, marked interrupted.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from knowledge.errors import RagchatError, explain_ollama_error

if TYPE_CHECKING:
    from langgraph.graph.state import CompiledStateGraph

    from agent.settings import Settings
    from agent.state import Context
    from agent.threads import ThreadRegistry

Step = Literal["waiting", "rewriting", "searching", "writing", "checking"]


@dataclass(frozen=True)
class Status:
    """A step the user waits on has started (waiting for an earlier question of the thread, rewriting, …)."""

    step: Step


@dataclass(frozen=True)
class Token:
    """The next piece of the answer's text."""

    text: str


@dataclass(frozen=True)
class Done:
    """The answer is stored. ``query`` is what was searched for (empty for an instruction about the last answer)."""

    answer: str
    sources: list[dict[str, Any]]
    query: str
    abstained: bool
    verified: bool | None


@dataclass(frozen=True)
class Failed:
    """The turn could not finish: ``message`` is one line for the user; ``answer`` is what was kept (if anything)."""

    message: str
    partial_kept: bool
    answer: str = ""


Event = Status | Token | Done | Failed


@dataclass
class Turn:
    """One question of one thread, answered when :meth:`events` is iterated (once)."""

    graph: CompiledStateGraph
    question: str
    thread_id: str
    context: Context
    """The turn's settings (k, mode, thresholds, rules, the thread's document scope)."""
    settings: Settings
    """For naming the model, the Ollama address and the data folder in error messages."""
    registry: ThreadRegistry
    """Lists the thread from the moment its question is asked, and lets one turn of it run at a time."""
    on_done: Callable[[Turn, dict[str, Any]], None] | None = None
    """Called with the stored state whenever the thread changed (an answer, a kept part, the question alone)."""
    _pieces: list[str] = field(default_factory=list, repr=False)
    _state: dict[str, Any] = field(default_factory=dict, repr=False)
    _kept: bool = field(default=False, repr=False)
    _keeping: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def events(self) -> Iterator[Event]:
        """Answer the question once any earlier turn of the same thread has finished, step by step.

        Expected failures (Ollama down or missing the model, a busy or full thread store, an
        earlier turn still running after a long wait) end the stream with :class:`Failed`; any
        other exception is raised. Closing the iterator early keeps the answer shown so far.
        """
        from agent.threads import STILL_ANSWERING, TURN_WAIT

        acquire, release = self.registry.turn_lock(self.thread_id)
        if not acquire(0):
            yield Status("waiting")
            if not acquire(TURN_WAIT):
                yield Failed(STILL_ANSWERING, partial_kept=False)
                return
        try:
            self.registry.record_question(self.thread_id, self.question)  # listed even if the turn is killed
            yield from self._answer()
        finally:
            release()

    def _answer(self) -> Iterator[Event]:
        from langchain_core.messages import HumanMessage

        from agent.thread_store import store_error, store_errors

        config = self._config
        stream = self.graph.stream(
            {"messages": [HumanMessage(self.question)]}, config, context=self.context, stream_mode=["custom", "values"]
        )
        try:
            for mode, data in stream:
                if mode == "values":
                    self._state = data
                elif "token" in data:
                    self._pieces.append(data["token"])
                    yield Token(data["token"])
                elif "status" in data:
                    yield Status(data["status"])
        except store_errors() as exc:
            yield Failed(str(store_error(exc, self.settings.home, self.settings.database_url)), partial_kept=False)
            return
        except Exception as exc:
            explained = explain_ollama_error(exc, base_url=self.settings.ollama_host, model=self.settings.chat_model)
            if explained is None:
                raise
            if self._pieces:  # keep what the user already saw, marked as cut short
                kept = self._keep_partial(str(explained))
                message = f"{explained} The answer so far was kept, marked as interrupted."
                yield Failed(message, partial_kept=True, answer=kept)
                return
            if self.on_done:  # the question itself is stored; list the thread
                self.on_done(self, self.graph.get_state(config).values)
            yield Failed(str(explained), partial_kept=False)
            return
        except BaseException:  # Ctrl-C, a closed browser tab, a page rerun: keep what was shown, marked
            stream.close()
            with contextlib.suppress(Exception):  # best effort: the interruption itself must go on
                self.stop()
            raise
        answer = self._state["messages"][-1]
        if self.on_done:
            self.on_done(self, self._state)
        details = answer.additional_kwargs
        yield Done(
            answer=str(answer.content),
            sources=details.get("sources", []),
            query=self._state.get("query", ""),
            abstained=bool(details.get("abstained")),
            verified=details.get("verified"),
        )

    def stop(self) -> None:
        """Keep the answer streamed so far, marked interrupted (for a turn cut short: Ctrl-C, a closed page).

        Safe to call from another thread while the turn is blocked waiting for Ollama, and
        more than once: the text is kept once.
        """
        from agent.transcript import NO_ANSWER

        if self._pieces:
            self._keep_partial(NO_ANSWER)

    def _keep_partial(self, error: str) -> str:
        from langchain_core.messages import AIMessage

        with self._keeping:
            text, state = "".join(self._pieces), self._state
            if self._kept:
                return text
            self._kept = True
            details = {"sources": state.get("sources", []), "query": state.get("query", ""), "interrupted": True}
            message = AIMessage(text, additional_kwargs={**details, "error": error})
            # "check": False, so a kept part is never routed to the check step
            self.graph.update_state(self._config, {"messages": [message], "check": False}, as_node="generate")
            if self.on_done:
                self.on_done(self, self.graph.get_state(self._config).values)
            return text

    @property
    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id}}

    def run(self) -> Done:
        """Answer without showing the steps; return the result.

        Raises:
            RagchatError: if the turn failed (what was kept is stored in the thread).
        """
        for event in self.events():
            if isinstance(event, Failed):
                raise RagchatError(event.message)
            if isinstance(event, Done):
                return event
        raise RagchatError("The answer ended without a result — ask again.")  # the graph always ends a turn
