"""Conversations: the compiled agent, the thread store and registry, and every thread operation.

:class:`Conversations` compiles the graph once, from the long-lived things (the chat model,
the knowledge base it searches, the checkpointer); each question then carries its own
settings as runtime context (:class:`~agent.state.Context`), so changing k or the search
mode between two questions needs no new graph. A thread's messages are read through the
graph's public state API.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.context import Context
from agent.formatting import max_question_chars
from knowledge.errors import RagchatError

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from agent.settings import Settings
    from agent.threads import ThreadInfo, ThreadRegistry
    from agent.turns import Turn
    from knowledge.base import KnowledgeBase

MAX_THREAD_ID_CHARS = 200
SEARCH_ONLY_LABEL = "Search-only: no answer was generated."
"""The stored text of a search-only reply (its passages are in ``additional_kwargs["sources"]``)."""


class Conversations:
    """Every thread of one data folder (or of memory), answered by one compiled graph."""

    def __init__(
        self,
        settings: Settings,
        llm: Callable[[], BaseChatModel],
        knowledge: KnowledgeBase,
        checkpointer: BaseCheckpointSaver | None = None,
    ) -> None:
        """Describe the conversations; the thread store opens and the graph compiles on first use."""
        self.settings = settings
        """Read at every turn: its retrieval settings become the turn's context."""
        self._llm, self.knowledge, self._checkpointer = llm, knowledge, checkpointer
        self._registry: ThreadRegistry | None = None
        self._graph: CompiledStateGraph | None = None
        self._lock = threading.RLock()
        self.notices: list[str] = []
        """What opening the thread store found (a damaged file set aside), once it has been opened."""

    # -- long-lived things --------------------------------------------------------------
    def open(self) -> list[str]:
        """Open the thread store now (it opens on first use anyway); return what opening it found."""
        _ = self.checkpointer
        return list(self.notices)

    @property
    def checkpointer(self) -> BaseCheckpointSaver:
        """Where threads are kept: SQLite in the data folder, memory or Postgres, per settings (made on first use)."""
        from agent.thread_store import make_checkpointer

        with self._lock:
            if self._checkpointer is None:
                s = self.settings
                self._checkpointer, notice = make_checkpointer(s.home, s.memory, s.database_url)
                self.notices += [notice] if notice else []
            return self._checkpointer

    @property
    def registry(self) -> ThreadRegistry:
        """Titles, times and document scopes of threads; kept where the checkpoints are (file, Postgres or memory)."""
        from langgraph.checkpoint.memory import MemorySaver

        from agent.thread_store import postgres_pool
        from agent.threads import ThreadRegistry, now

        with self._lock:
            if self._registry is None:
                durable = not isinstance(self.checkpointer, MemorySaver)
                pool = postgres_pool(self.checkpointer)
                self._registry = ThreadRegistry(self.settings.home if durable else None, pool)
                # Only an older ragchat, which recorded a thread when its first turn finished, left
                # checkpoints without an entry (a killed first turn): list them by their first question.
                for thread_id in self._registry.unlisted():
                    messages = self._stored(thread_id)
                    questions = [str(m.content) for m in messages if m.type == "human"]
                    self._registry.adopt(thread_id, questions[0] if questions else thread_id, len(messages), now())
            return self._registry

    @property
    def graph(self) -> CompiledStateGraph:
        """The compiled agent: built once, searching the knowledge base as it is at each question."""
        from agent.graph import build_graph

        with self._lock:
            if self._graph is None:
                self._graph = build_graph(self._llm(), self.knowledge, self.checkpointer)
            return self._graph

    def rebuild(self) -> None:
        """Compile the graph again at next use (after the chat model changed)."""
        with self._lock:
            self._graph = None

    def close(self) -> None:
        """Let go of the thread database: its file, or its Postgres connections (the next use opens it again)."""
        with self._lock:
            if self._registry is not None:
                self._registry.close()
            if self._checkpointer is not None:  # else the store was never opened: import nothing for it
                from agent.thread_store import close_checkpointer

                close_checkpointer(self._checkpointer)
            self._registry = self._checkpointer = self._graph = None

    # -- turns ------------------------------------------------------------------------
    def ask(self, question: str, thread_id: str) -> Turn:
        """Check the question and thread, and return the turn that answers it when its events are read."""
        from agent.turns import Turn

        question, thread_id = self.check_question(question), check_thread_id(thread_id)
        self.knowledge.require()  # before the question is stored: there is nothing to search yet
        info = self.registry.get(thread_id)
        context = Context.of(self.settings, info.scope if info else None)
        return Turn(self.graph, question, thread_id, context, self.settings, self.registry, on_done=self._record)

    def check_question(self, question: str) -> str:
        """Return the question trimmed, or raise a one-line error if it is empty or too long for the model."""
        question = (question or "").replace("\0", "").strip()  # a NUL means nothing, and Postgres cannot store it
        if not question:
            raise RagchatError("The question is empty — type a question about your documents.")
        limit = max_question_chars(self.settings.num_ctx)
        if len(question) > limit:
            raise RagchatError(
                f"The question is too long ({len(question):,} characters; the limit is {limit:,}) — "
                "shorten it, or raise RAGCHAT_NUM_CTX."
            )
        return question

    def search_only(self, question: str, thread_id: str) -> list[dict[str, Any]]:
        """Answer without a chat model: find the best keyword matches (in the thread's documents), keep them labelled.

        The question is stored as the user's message and the passages as a reply whose text is
        :data:`SEARCH_ONLY_LABEL`, marked ``search_only`` with the passages as its ``sources``; so
        the exchange is listed, titled, reloaded and exported like any turn, and later turns leave
        it out of what the model reads (see :func:`agent.followups.conversation`). It takes the
        thread's turn like a question does. Returns the passages as display records.

        Raises:
            RagchatError: if the question or thread name is unusable, there is no index, or the
                thread store fails (nothing is stored then).
        """
        from langchain_core.messages import AIMessage, HumanMessage

        from agent.sources import rate, source_record
        from agent.thread_store import store_error, store_errors

        question, thread_id = self.check_question(question), check_thread_id(thread_id)
        info = self.registry.get(thread_id)
        turn = Context.of(self.settings, info.scope if info else None)  # a limited thread searches only its documents
        found = self.knowledge.search(question, turn.k, "keyword", turn.scope, turn.keyword_weight)
        rated = rate(found, question, float("inf"))  # a keyword search computes no cosine: no bar to name
        records = [source_record(n, doc) for n, doc in enumerate(rated, start=1)]
        details = {"search_only": True, "sources": records, "query": question}
        exchange = [HumanMessage(question), AIMessage(SEARCH_ONLY_LABEL, additional_kwargs=details)]
        config = {"configurable": {"thread_id": thread_id}}
        with self.registry.turn(thread_id):
            try:  # as the "abstain" node: like a not-found reply, it ends the turn without generating
                self.graph.update_state(config, {"messages": exchange}, as_node="abstain")
                stored = len(self.graph.get_state(config).values.get("messages", []))
            except store_errors() as exc:
                raise store_error(exc, self.settings.home, self.settings.database_url) from exc
            self.registry.record_turn(thread_id, question, stored)
        return records

    def _record(self, turn: Turn, final: dict[str, Any]) -> None:
        self.registry.record_turn(turn.thread_id, turn.question, len(final.get("messages", [])))

    # -- threads ---------------------------------------------------------------------
    def history(self, thread_id: str) -> list[BaseMessage]:
        """Return a thread's messages, oldest first (empty for a new thread).

        A question whose turn was killed before its answer was stored is followed by an
        empty answer marked ``interrupted`` (unless that turn is running right now).
        """
        from agent.transcript import mark_unanswered

        thread_id = check_thread_id(thread_id)
        messages = self._stored(thread_id)
        answering = bool(messages) and messages[-1].type == "human" and self.registry.answering(thread_id)
        return mark_unanswered(messages, answering)

    def _stored(self, thread_id: str) -> list[BaseMessage]:
        from agent.thread_store import translated

        with translated(None if self.settings.memory else self.settings.home, self.settings.database_url):
            state = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        return list(state.values.get("messages", []))

    def threads(self) -> list[ThreadInfo]:
        """Return every thread, most recently used first."""
        return self.registry.list()

    def rename(self, thread_id: str, title: str) -> None:
        """Retitle a thread."""
        self.registry.rename(check_thread_id(thread_id), title)

    def delete(self, thread_id: str) -> None:
        """Delete a thread: its registry entry and every checkpoint.

        Raises:
            RagchatError: if no such thread exists.
        """
        from agent.threads import unknown_thread

        thread_id = check_thread_id(thread_id)
        if self.registry.get(thread_id) is None and not self.history(thread_id):
            raise unknown_thread(thread_id)
        self.checkpointer.delete_thread(thread_id)
        self.registry.delete(thread_id)

    def set_scope(self, thread_id: str, sources: list[str] | None) -> None:
        """Limit a thread to some indexed documents (``None`` or every document: no limit).

        Raises:
            RagchatError: if a source is not in the index, or the list is empty.
        """
        thread_id = check_thread_id(thread_id)
        if sources is not None:
            self.knowledge.check_sources(sources)
            if not sources:
                raise RagchatError("Choose at least one document, or all of them.")
            if set(sources) == set(self.knowledge.require().files):
                sources = None
        self.registry.set_scope(thread_id, sources)

    def export(self, thread_id: str) -> str:
        """Return a thread as Markdown, with each answer's sources."""
        from agent.threads import ThreadInfo, unknown_thread
        from agent.transcript import export_markdown

        thread_id = check_thread_id(thread_id)
        info = self.registry.get(thread_id)
        messages = self.history(thread_id)
        if info is None and not messages:
            raise unknown_thread(thread_id)
        if info is None:  # checkpoints from before the registry existed
            info = ThreadInfo(thread_id, thread_id, "", "", len(messages))
        return export_markdown(info, messages)


def check_thread_id(thread_id: str) -> str:
    r"""Return a usable thread id, or raise a one-line error saying what is wrong with it.

    A thread name is shown in lists, so it must look like what it is. Refused: empty (after
    trimming spaces), over :data:`MAX_THREAD_ID_CHARS` characters, control characters and line or
    paragraph separators (categories Cc, Cs, Zl, Zp), a name with nothing visible in it (only
    format characters, such as ``"\u200b"`` or ``"\u202e\u202d"``), and any other invisible format
    character (category Cf): bidi marks, embeddings, overrides and isolates (they make a listed
    name lie about itself), zero-width spaces, word joiners, byte-order marks, soft hyphens.
    Allowed inside a visible name: the zero-width joiner and non-joiner U+200D/U+200C (emoji
    sequences such as a woman technologist, Persian and Indic words need them) and the tag
    characters U+E0020–U+E007F that spell the flags of Scotland or Wales.
    """
    cleaned = (thread_id or "").strip()
    if not cleaned:
        raise RagchatError("The thread name is empty — give a name such as `--thread notes`.")
    if len(cleaned) > MAX_THREAD_ID_CHARS:
        raise RagchatError(f"The thread name is longer than {MAX_THREAD_ID_CHARS} characters — use a shorter one.")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in cleaned):
        raise RagchatError("The thread name contains control characters — use letters, digits and punctuation.")
    if all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in cleaned):
        raise RagchatError("The thread name has no visible characters — give a name such as `--thread notes`.")
    joiners = {"\u200c", "\u200d", *map(chr, range(0xE0020, 0xE0080))}
    hidden = next((ch for ch in cleaned if unicodedata.category(ch) == "Cf" and ch not in joiners), None)
    if hidden is not None:
        raise RagchatError(
            f"The thread name contains invisible or text-direction characters (such as U+{ord(hidden):04X}) — "
            "use letters, digits and punctuation."
        )
    return cleaned
