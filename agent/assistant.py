"""The one object the CLI and the web page drive: index management plus asking questions.

It owns the lazily-made outside things (chat model, embeddings, index, checkpointer) and
turns every expected failure into a one-line :class:`~knowledge.errors.RagchatError`.
It holds no presentation: no printing, no Streamlit.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.chat_model import Health, check_ollama, make_chat_model
from agent.formatting import max_question_chars
from agent.settings import Settings, load_settings
from knowledge.errors import (
    EmbedderMismatch,
    IndexDamaged,
    RagchatError,
    explain_ollama_error,
    explain_os_error,
    model_not_pulled,
    write_refusal,
)
from knowledge.index import MANIFEST, IndexInfo, KnowledgeIndex

# LangGraph, the thread store, file reading and uploads are imported where they are used:
# `ragchat sources` and `ragchat search --mode keyword` need none of them, and importing
# them costs a second or more before the first line is printed.
if TYPE_CHECKING:
    from filelock import FileLock
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables.graph import Graph
    from langgraph.checkpoint.base import BaseCheckpointSaver
    from langgraph.graph.state import CompiledStateGraph

    from agent.threads import ThreadInfo, ThreadRegistry
    from knowledge.ingest import Progress, SyncReport
    from knowledge.uploads import SavedUpload

MAX_THREAD_ID_CHARS = 200
HEALTH_TTL = 10.0
"""Seconds a probe of Ollama's models is trusted before asking again (the page uses the same)."""
WRITE_LOCK = "index.lock"
WRITE_LOCK_WAIT = 2.0
"""Seconds to wait for another process's ingest before saying so (they can take minutes)."""
SEARCH_ONLY_LABEL = "Search-only: no answer was generated."
"""The stored text of a search-only reply (its passages are in ``additional_kwargs["sources"]``)."""


@dataclass
class IngestResult:
    """What an ingest did, for the summary line."""

    index: KnowledgeIndex
    report: SyncReport


@dataclass
class UploadResult:
    """Where uploads were saved, and what indexing them did."""

    saved: list[SavedUpload]
    ingest: IngestResult


@dataclass
class Turn:
    """One question being answered. Iterate it for the answer's text as it streams; then read the result.

    Iterating runs the graph once. Afterwards ``answer`` is the stored answer (the streamed
    pieces join to exactly this text), ``sources`` the sources it rests on, ``query`` what
    was searched for (empty for an instruction about the previous answer), ``abstained``
    whether the documents did not hold the answer and ``verified`` the check's verdict.
    """

    graph: CompiledStateGraph
    question: str
    thread_id: str
    settings: Settings
    registry: ThreadRegistry
    """Lists the thread from the moment its question is asked, and lets one turn of it run at a time."""
    scope: list[str] | None = None
    """Only these documents are searched (``None``: all)."""
    on_status: Callable[[str], None] | None = None
    """Called with "waiting" (for an earlier question of the thread), "rewriting", "searching", "writing" or
    "checking" as each step starts."""
    on_done: Callable[[Turn, dict[str, Any]], None] | None = None
    answer: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)
    query: str = ""
    abstained: bool = False
    verified: bool | None = None
    _pieces: list[str] = field(default_factory=list, repr=False)
    _state: dict[str, Any] = field(default_factory=dict, repr=False)
    _kept: bool = field(default=False, repr=False)
    _keeping: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __iter__(self) -> Iterator[str]:
        """Stream the answer piece by piece, once any earlier turn of the same thread has finished.

        Raises:
            RagchatError: if an earlier turn of the thread is still running after a long wait,
                or the model or the thread store fails (what was already shown is kept).
        """
        waiting = (lambda: self.on_status("waiting")) if self.on_status else None
        with self.registry.turn(self.thread_id, on_wait=waiting):
            self.registry.record_question(self.thread_id, self.question)  # listed even if the turn is killed
            yield from self._answer()

    def _answer(self) -> Iterator[str]:
        from langchain_core.messages import HumanMessage

        from agent.threads import store_error

        inputs = {"messages": [HumanMessage(self.question)], "scope": self.scope}
        stream = self.graph.stream(inputs, self._config, stream_mode=["custom", "values"])
        try:
            for mode, data in stream:
                if mode == "values":
                    self._state = data
                elif "token" in data:
                    self._pieces.append(data["token"])
                    yield data["token"]
                elif "status" in data and self.on_status:
                    self.on_status(data["status"])
        except sqlite3.Error as exc:
            raise store_error(exc, self.settings.home) from exc
        except Exception as exc:
            explained = explain_ollama_error(exc, base_url=self.settings.ollama_host, model=self.settings.chat_model)
            if explained is None:
                raise
            if self._pieces:  # keep what the user already saw, marked as cut short
                self._keep_partial(str(explained))
                explained = RagchatError(f"{explained} The answer so far was kept, marked as interrupted.")
            elif self.on_done:  # the question itself is stored; list the thread
                self.on_done(self, self.graph.get_state(self._config).values)
            raise explained from exc
        except BaseException:  # Ctrl-C, a closed browser tab, a page rerun: keep what was shown, marked
            stream.close()
            with contextlib.suppress(Exception):  # best effort: the interruption itself must go on
                self.stop()
            raise
        answer = self._state["messages"][-1]
        self.answer = str(answer.content)
        self.sources = answer.additional_kwargs.get("sources", [])
        self.abstained = bool(answer.additional_kwargs.get("abstained"))
        self.verified = answer.additional_kwargs.get("verified")
        self.query = self._state.get("query", "")
        if self.on_done:
            self.on_done(self, self._state)

    def stop(self) -> None:
        """Keep the answer streamed so far, marked interrupted (for a turn cut short: Ctrl-C, a closed page).

        Safe to call from another thread while the turn is blocked waiting for Ollama, and
        more than once: the text is kept once.
        """
        from agent.threads import NO_ANSWER

        if self._pieces:
            self._keep_partial(NO_ANSWER)

    def _keep_partial(self, error: str) -> None:
        from langchain_core.messages import AIMessage

        with self._keeping:
            if self._kept:
                return
            self._kept = True
            text, state = "".join(self._pieces), self._state
            self.answer, self.sources = text, state.get("sources", [])
            details = {"sources": self.sources, "query": state.get("query", ""), "interrupted": True, "error": error}
            message = AIMessage(text, additional_kwargs=details)
            self.graph.update_state(self._config, {"messages": [message]}, as_node="generate")
            if self.on_done:
                self.on_done(self, self.graph.get_state(self._config).values)

    @property
    def _config(self) -> dict[str, Any]:
        return {"configurable": {"thread_id": self.thread_id}}

    def run(self) -> str:
        """Consume the stream and return the whole answer."""
        for _ in self:
            pass
        return self.answer


class Assistant:
    """ragchat's application object: one per process, shared by every conversation."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: BaseChatModel | None = None,
        embeddings: Embeddings | None = None,
        checkpointer: BaseCheckpointSaver | None = None,
    ) -> None:
        """Create the assistant; models are made on first use unless given here."""
        self.settings = settings or load_settings()
        self._llm = llm
        self._own_llm = llm is None
        self._health: tuple[float, Health] | None = None
        self._embeddings = embeddings
        self._checkpointer = checkpointer
        self._registry: ThreadRegistry | None = None
        self.warnings: list[str] = []
        """One-line notices for the user (e.g. a damaged file was set aside and replaced)."""
        self._index: KnowledgeIndex | None = None
        self._stamp: tuple[int, int] | None = None
        self._graph: CompiledStateGraph | None = None
        self._lock = threading.RLock()
        self._ingest_lock = threading.RLock()
        self._file_lock: FileLock | None = None

    # -- outside things ------------------------------------------------------------
    @property
    def llm(self) -> BaseChatModel:
        """The chat model (made from settings on first use)."""
        if self._llm is None:
            self._llm = make_chat_model(self.settings)
        return self._llm

    @property
    def embeddings(self) -> Embeddings:
        """The embedding model (made from settings on first use)."""
        if self._embeddings is None:
            s = self.settings
            from knowledge.embeddings import make_embeddings  # loads LangChain's runnables: only when embedding

            self._embeddings = make_embeddings(s.embedding_backend, s.embedding_model, s.ollama_host, s.timeout)
        return self._embeddings

    @property
    def checkpointer(self) -> BaseCheckpointSaver:
        """Where threads are kept: SQLite in the data folder unless settings say memory (made on first use)."""
        from agent.threads import make_checkpointer

        with self._lock:
            if self._checkpointer is None:
                self._checkpointer, warning = make_checkpointer(self.settings.home, self.settings.memory)
                if warning:
                    self.warnings.append(warning)
            return self._checkpointer

    @property
    def registry(self) -> ThreadRegistry:
        """Titles and times of threads; on disk exactly when the checkpoints are."""
        from langgraph.checkpoint.memory import MemorySaver

        from agent.threads import ThreadRegistry

        with self._lock:
            if self._registry is None:
                durable = not isinstance(self.checkpointer, MemorySaver)
                self._registry = ThreadRegistry(self.settings.home if durable else None)
                self._adopt_unlisted(self._registry)
            return self._registry

    def _adopt_unlisted(self, registry: ThreadRegistry) -> None:
        """List threads whose checkpoints have no registry entry, titled by their first question.

        Only an older ragchat, which recorded a thread when its first turn finished, left such
        threads (a killed first turn); this one records it as the question is asked, so one
        look when the store is opened is enough.
        """
        from agent.threads import now

        for thread_id in registry.unlisted():
            messages = self._stored_messages(thread_id)
            questions = [str(m.content) for m in messages if m.type == "human"]
            registry.adopt(thread_id, questions[0] if questions else thread_id, len(messages), now())

    def close(self) -> None:
        """Let go of the thread database (the next use opens it again)."""
        with self._lock:
            if self._registry is not None:
                self._registry.close()
            conn = getattr(self._checkpointer, "conn", None)
            if isinstance(conn, sqlite3.Connection):
                conn.close()
            self._registry = self._checkpointer = self._graph = None

    def scratch(self) -> Assistant:
        """Return an assistant over the same models and index whose threads live in memory and end with it.

        For evaluation: its questions are answered by the real agent without joining the user's threads.
        """
        from langgraph.checkpoint.memory import MemorySaver

        other = Assistant(
            self.settings.model_copy(update={"memory": True}),
            llm=self.llm,
            embeddings=self.embeddings,
            checkpointer=MemorySaver(),
        )
        other._own_llm = self._own_llm  # an Ollama model is still checked for
        with self._lock:  # the index already loaded, not a second copy of its vectors
            other._index, other._stamp = self._index, self._stamp
        return other

    # -- the index -----------------------------------------------------------------
    def load_index(self) -> KnowledgeIndex | None:
        """Return the saved index, or ``None`` if nothing has been ingested yet.

        If another process (the CLI beside the web page) saved a newer index since, that
        one is loaded: a ``stat`` of the manifest per call keeps long-running pages current.
        """
        with self._lock:
            stamp = self._manifest_stamp()
            if self._index is None or stamp != self._stamp:
                # The embedding client is made when a search first needs it: not for a keyword search.
                self._index = KnowledgeIndex.load(self.settings.home, lambda: self.embeddings, self.settings.embedding)
                self._stamp, self._graph = stamp, None
            return self._index

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            stat = (self.settings.index_dir / MANIFEST).stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def ingest(
        self,
        paths: Sequence[str | Path] | None = None,
        progress: Progress | None = None,
        rebuild: bool = False,
    ) -> IngestResult:
        """Bring the index up to date with ``paths`` (default: the documents folder) and save it.

        Only new and changed files are embedded. ``rebuild`` starts from an empty index
        (needed after changing the embedding model) that still keeps forgotten files out.
        The index on disk is replaced only by a complete new version. Forgotten files stay
        out unless a path names them (see :func:`knowledge.ingest.sync`); a path that does
        not exist is also tried as a source name in the documents folder.
        """
        from knowledge.formats import SUPPORTED_EXTENSIONS
        from knowledge.ingest import sync

        s = self.settings
        targets = list(paths) if paths else [s.docs_dir]
        with self._writing():  # one writer at a time, across processes; questions go on meanwhile
            forgotten: set[str] = set()
            if rebuild:
                forgotten = KnowledgeIndex.read_forgotten(s.home)  # before a damaged index is set aside
                self._set_aside_if_unreadable()
            index = None if rebuild else self._load_for_update()
            if index is None:
                info = IndexInfo(s.embedding, chunk_size=s.chunk_size, chunk_overlap=s.chunk_overlap)
                index = KnowledgeIndex.empty(self.embeddings, info)
                index.forgotten = forgotten
            start, done = index.generation, False
            try:
                report = sync(
                    index,
                    targets,
                    docs_dir=s.docs_dir,
                    home=s.home,
                    embeddings=self.embeddings,
                    progress=progress,
                )
                done = True
            finally:  # even a failed sync may have saved the files that completed; but a failed
                # save (full disk) leaves this copy ahead of the disk: the disk's is read again
                saved = index.generation > start or (done and index.generation > 0)
                with self._lock:  # the swap: readers see the old index or the complete new one
                    self._index, self._graph = (index if saved else None), None
                    self._stamp = self._manifest_stamp()
            if index.chunk_count == 0 and report.forgotten and not report.skipped:
                raise RagchatError(
                    f"Every document in {', '.join(map(str, targets))} is forgotten ({len(report.forgotten)} "
                    f"file{'s' if len(report.forgotten) > 1 else ''}) — `ragchat sources --forgotten` lists them, "
                    "`ragchat ingest FILE` adds one back."
                )
            if index.chunk_count == 0:
                skipped = "; ".join(f"{name}: {why}" for name, why in report.skipped)
                raise RagchatError(
                    f"No readable documents in {', '.join(map(str, targets))}"
                    + (f" (skipped {skipped})" if skipped else "")
                    + f" — add {', '.join(SUPPORTED_EXTENSIONS)} files and run `ragchat ingest` again."
                )
            return IngestResult(index=index, report=report)

    def ensure_index(self, progress: Progress | None = None) -> KnowledgeIndex:
        """Return the index, building it from the documents folder if none exists yet."""
        index = self.load_index()
        if index is None:
            with self._writing():
                index = self.load_index()  # another caller may have built it meanwhile
                if index is None:
                    index = self.ingest(progress=progress).index
        return index

    def upload(self, files: Sequence[tuple[str, bytes]], progress: Progress | None = None) -> UploadResult:
        """Save uploaded ``(name, bytes)`` files into the documents folder and index them.

        Raises:
            RagchatError: if a file type is unsupported (nothing is saved then).
        """
        from knowledge.uploads import checked_name, save_upload

        for name, _ in files:
            checked_name(name)  # all checked before any is saved
        saved = [save_upload(self.settings.docs_dir, name, data) for name, data in files]
        result = self.ingest([item.path for item in saved], progress=progress)
        return UploadResult(saved=saved, ingest=result)

    def forget(self, names: Sequence[str], delete_files: bool = False) -> list[str]:
        """Remove files from the index by source name or path, and keep them out; return the sources removed.

        A forgotten file stays on disk and out of every ingest of the documents folder
        (by its source name, even if deleted and made again) until it is named again:
        ``ingest([path])``, ingesting a sub-folder of the documents folder that holds it, or an
        upload of that name. With ``delete_files``, files inside the documents folder are
        deleted instead, so there is nothing to keep out: a new file of that name is indexed
        like any other. Files elsewhere are never deleted; they are kept out like forgotten ones.

        Raises:
            RagchatError: if a name matches nothing in the index (nothing is removed then).
        """
        from knowledge.loader import source_name

        with self._writing():
            index = self._load_for_update()  # a private copy, swapped in once saved
            if index is None:
                raise no_index()
            sources = []
            for name in names:
                matches = self._match_sources(index, name)
                if not matches:
                    source = name if name in index.forgotten else source_name(Path(name), self.settings.docs_dir)
                    if source in index.forgotten:
                        raise RagchatError(
                            f"{name} is not in the index: it was forgotten — "
                            f"`ragchat ingest {shlex.quote(source)}` adds it back."
                        )
                    raise RagchatError(f"{name} is not in the index — `ragchat sources` lists what is.")
                sources.extend(matches)
            paths = [Path(index.files[s].path) for s in sources]
            docs = Path(os.path.abspath(self.settings.docs_dir))
            doomed = [path for path in paths if path.is_relative_to(docs)] if delete_files else []
            for folder in sorted({path.parent for path in doomed}):  # refuse before the index changes
                if refusal := write_refusal(folder):
                    raise refusal
            index.remove_sources(sources)
            index.forgotten.update(s for s, path in zip(sources, paths, strict=True) if path not in doomed)
            index.save(self.settings.home)
            with self._lock:
                self._index, self._graph, self._stamp = index, None, self._manifest_stamp()
            for path in doomed:
                path.unlink(missing_ok=True)
            return sources

    def health(self) -> Health:
        """Return whether Ollama answers and has the configured models."""
        return check_ollama(self.settings)

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Document]:
        """Return the ranked chunks for ``query`` without calling the chat model."""
        query = (query or "").strip()
        if not query:
            raise RagchatError("The search query is empty — type some words to look for.")
        index = self.require_index()
        s = self.settings
        return index.search(query, k or s.k, mode or s.retrieval_mode, keyword_weight=s.keyword_weight)

    def require_index(self) -> KnowledgeIndex:
        """Return the index, or raise the one-line error saying to ingest first."""
        index = self.load_index()
        if index is None:
            raise no_index()
        return index

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the right to change the index: one thread here, one process on this data folder."""
        from filelock import FileLock, Timeout

        with self._ingest_lock:
            try:
                self.settings.home.mkdir(parents=True, exist_ok=True)
                if self._file_lock is None:
                    self._file_lock = FileLock(self.settings.home / WRITE_LOCK)
                self._file_lock.acquire(timeout=WRITE_LOCK_WAIT)
            except Timeout as exc:  # before OSError: filelock's Timeout is a TimeoutError
                raise RagchatError(
                    "Another ragchat is updating the index right now — try again when it has finished."
                ) from exc
            except OSError as exc:  # a read-only or full disk: say so, change nothing
                fault = explain_os_error(exc, self.settings.home)
                if fault is None:
                    raise
                raise fault from exc
            try:
                yield
            finally:
                self._file_lock.release()

    def _set_aside_if_unreadable(self) -> None:
        # Only damage is set aside. A readable index of another model is replaced by the
        # rebuild as usual; a disk that refuses to be read (permission) is no damage: its
        # error is raised and nothing is renamed.
        try:
            KnowledgeIndex.load(self.settings.home, None, self.settings.embedding)
        except EmbedderMismatch:
            return
        except IndexDamaged:
            kept = KnowledgeIndex.set_aside(self.settings.home)
            if kept:
                self.warnings.append(f"The unreadable index was kept as {kept.name}; a new one is being built.")

    def _load_for_update(self) -> KnowledgeIndex | None:
        # A private copy from disk: questions keep using the live index while this one
        # changes, and see the new one only once it is complete and saved.
        return KnowledgeIndex.load(self.settings.home, lambda: self.embeddings, self.settings.embedding)

    def _match_sources(self, index: KnowledgeIndex, name: str) -> list[str]:
        from knowledge.loader import source_name

        if name in index.files:
            return [name]
        path = source_name(Path(name), self.settings.docs_dir)
        if path in index.files:
            return [path]
        prefix = path.rstrip("/") + "/"  # a folder: everything indexed under it
        return [source for source in index.files if source.startswith(prefix)]

    # -- conversations -------------------------------------------------------------
    @property
    def graph(self) -> CompiledStateGraph:
        """The compiled agent over the current index (which must exist)."""
        from agent.graph import build_graph
        from knowledge.retriever import IndexRetriever

        with self._lock:
            if self._graph is None:
                index = self.require_index()
                s = self.settings
                retriever = IndexRetriever(index=index, k=s.k, mode=s.retrieval_mode, keyword_weight=s.keyword_weight)
                self._graph = build_graph(
                    self.llm,
                    retriever,
                    self.checkpointer,
                    min_score=s.min_score,
                    verify_answers=s.verify_answers,
                    system_prompt=s.system_prompt,
                )
            return self._graph

    def ask(self, question: str, thread_id: str, on_status: Callable[[str], None] | None = None) -> Turn:
        """Check the question and thread, and return the turn that answers it when iterated."""
        question = self._check_question(question)
        thread_id = check_thread_id(thread_id)
        self._require_chat_model()
        info = self.registry.get(thread_id)
        return Turn(
            self.graph,
            question,
            thread_id,
            self.settings,
            self.registry,
            scope=info.scope if info else None,
            on_status=on_status,
            on_done=self._record,
        )

    def _check_question(self, question: str) -> str:
        question = (question or "").strip()
        if not question:
            raise RagchatError("The question is empty — type a question about your documents.")
        limit = self.max_question_chars
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

        from agent.formatting import rate, source_record
        from agent.threads import store_error

        question = self._check_question(question)
        thread_id = check_thread_id(thread_id)
        info = self.registry.get(thread_id)
        scope = info.scope if info else None  # a thread limited to some documents searches only those
        s = self.settings
        found = self.require_index().search(question, s.k, "keyword", sources=scope, keyword_weight=s.keyword_weight)
        found = rate(found, question, s.min_score)
        records = [source_record(n, doc) for n, doc in enumerate(found, start=1)]
        details = {"search_only": True, "sources": records, "query": question}
        exchange = [HumanMessage(question), AIMessage(SEARCH_ONLY_LABEL, additional_kwargs=details)]
        config = {"configurable": {"thread_id": thread_id}}
        with self.registry.turn(thread_id):
            try:
                # as the "abstain" node: like a not-found reply, it ends the turn without generating
                self.graph.update_state(config, {"messages": exchange}, as_node="abstain")
                stored = len(self.graph.get_state(config).values.get("messages", []))
            except sqlite3.Error as exc:
                raise store_error(exc, self.settings.home) from exc
            self.registry.record_turn(thread_id, question, stored)
        return records

    def _require_chat_model(self) -> None:
        """Refuse a question when Ollama answers but lacks the chat model, whatever route the turn would take.

        A turn that abstains never calls the chat model, so without this a missing model
        showed as "I couldn't find this…" instead of what to pull. The probe (``/api/tags``)
        is cached for :data:`HEALTH_TTL` seconds; an unreachable Ollama is left to the turn's
        own message, and a chat model given to the constructor is not Ollama's to check.
        """
        if not self._own_llm:
            return
        stamp = time.monotonic()
        if self._health is None or stamp - self._health[0] > HEALTH_TTL:
            self._health = (stamp, check_ollama(self.settings))
        health = self._health[1]
        if health.reachable and not health.chat_ok:
            raise model_not_pulled(self.settings.chat_model)

    def _record(self, turn: Turn, final: dict[str, Any]) -> None:
        self.registry.record_turn(turn.thread_id, turn.question, len(final.get("messages", [])))

    @property
    def max_question_chars(self) -> int:
        """Longest question accepted: a quarter of the context window, so sources still fit."""
        return max_question_chars(self.settings.num_ctx)

    def history(self, thread_id: str) -> list[BaseMessage]:
        """Return a thread's messages, oldest first (empty for a new thread).

        A question whose turn was killed before its answer was stored is followed by an
        empty answer marked ``interrupted`` (unless that turn is running right now).
        """
        from agent.threads import mark_unanswered

        thread_id = check_thread_id(thread_id)
        messages = self._stored_messages(thread_id)
        answering = bool(messages) and messages[-1].type == "human" and self.registry.answering(thread_id)
        return mark_unanswered(messages, answering)

    def _stored_messages(self, thread_id: str) -> list[BaseMessage]:
        from agent.threads import translated

        with translated(None if self.settings.memory else self.settings.home):
            snapshot = self.checkpointer.get_tuple({"configurable": {"thread_id": thread_id}})
        if snapshot is None:
            return []
        return list(snapshot.checkpoint["channel_values"].get("messages", []))

    # -- threads ---------------------------------------------------------------------
    def threads(self) -> list[ThreadInfo]:
        """Return every thread, most recently used first."""
        return self.registry.list()

    def rename_thread(self, thread_id: str, title: str) -> None:
        """Retitle a thread."""
        self.registry.rename(check_thread_id(thread_id), title)

    def delete_thread(self, thread_id: str) -> None:
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
            index = self.require_index()
            unknown = [s for s in sources if s not in index.files]
            if unknown:
                raise RagchatError(f"{', '.join(unknown)} is not in the index — `ragchat sources` lists what is.")
            if not sources:
                raise RagchatError("Choose at least one document, or all of them.")
            if set(sources) == set(index.files):
                sources = None
        self.registry.set_scope(thread_id, sources)

    def export_thread(self, thread_id: str) -> str:
        """Return a thread as Markdown, with each answer's sources."""
        from agent.threads import ThreadInfo, export_markdown, unknown_thread

        thread_id = check_thread_id(thread_id)
        info = self.registry.get(thread_id)
        messages = self.history(thread_id)
        if info is None and not messages:
            raise unknown_thread(thread_id)
        if info is None:  # checkpoints from before the registry existed
            info = ThreadInfo(thread_id, thread_id, "", "", len(messages))
        return export_markdown(info, messages)

    def graph_structure(self) -> Graph:
        """Return the agent's graph structure (needs neither Ollama nor an index)."""
        from agent.graph import build_graph
        from knowledge.retriever import IndexRetriever

        empty = KnowledgeIndex.empty(self.embeddings, IndexInfo(self.settings.embedding))
        return build_graph(self.llm, IndexRetriever(index=empty, k=self.settings.k)).get_graph()

    def mermaid(self) -> str:
        """Return the agent's graph as Mermaid text."""
        return self.graph_structure().draw_mermaid()


def no_index() -> RagchatError:
    """Return the error for a command that needs an index when there is none."""
    return RagchatError("There is no index yet — run `ragchat ingest` first.")


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
