"""The one object the CLI and the web page drive: a knowledge base and the conversations over it.

:class:`Assistant` makes the models once per process and joins ``knowledge`` (a
:class:`~knowledge.base.KnowledgeBase`) and ``conversations`` (:class:`~agent.conversations.Conversations`);
most of its methods are short names for theirs. No presentation here: no printing, no Streamlit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.chat_model import Health, ModelCheck, check_ollama, make_chat_model
from agent.conversations import SEARCH_ONLY_LABEL, Conversations, check_thread_id
from agent.settings import Settings, load_settings
from knowledge.base import IngestResult, KnowledgeBase, UploadResult, no_index
from knowledge.errors import RagchatError

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.language_models import BaseChatModel
    from langchain_core.runnables.graph import Graph
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from agent.turns import Turn

__all__ = ["Assistant", "IngestResult", "UploadResult", "SEARCH_ONLY_LABEL", "check_thread_id", "no_index"]


class Via:
    """A short name on the assistant for a method of one of its parts (``help()`` shows the part's own)."""

    def __init__(self, part: str, name: str) -> None:
        self.part, self.name = part, name

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        return self if obj is None else getattr(getattr(obj, self.part), self.name)


class Assistant:
    """ragchat's application object: one per process, shared by every conversation."""

    # the knowledge base: the index and its changes
    load_index, require_index = Via("knowledge", "current"), Via("knowledge", "require")
    ingest, ensure_index = Via("knowledge", "ingest"), Via("knowledge", "ensure")
    upload, forget = Via("knowledge", "upload"), Via("knowledge", "forget")
    # the conversations: threads and what they hold
    search_only, history = Via("conversations", "search_only"), Via("conversations", "history")
    threads, set_scope = Via("conversations", "threads"), Via("conversations", "set_scope")
    rename_thread, delete_thread = Via("conversations", "rename"), Via("conversations", "delete")
    export_thread = Via("conversations", "export")
    registry, graph = Via("conversations", "registry"), Via("conversations", "graph")
    checkpointer = Via("conversations", "checkpointer")

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        llm: BaseChatModel | None = None,
        embeddings: Embeddings | None = None,
        checkpointer: BaseCheckpointSaver | None = None,
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        """Create the assistant; models are made on first use unless given here."""
        s = self.settings = settings or load_settings()
        self._llm, self._own_llm, self._embeddings = llm, llm is None, embeddings
        self._model_check = ModelCheck()
        self.knowledge = knowledge or KnowledgeBase(
            s.home, s.docs_dir, s.embedding, lambda: self.embeddings, chunk_size=s.chunk_size,
            chunk_overlap=s.chunk_overlap,
        )  # fmt: skip
        self.conversations = Conversations(s, lambda: self.llm, self.knowledge, checkpointer)

    def configure(self, settings: Settings) -> None:
        """Answer with ``settings`` from the next question on, without reopening anything that did not change.

        Retrieval settings (k, mode, weights, thresholds, rules) travel with each turn, so they need
        nothing here; a change to the chat model's own settings makes a new model and graph.

        Raises:
            RagchatError: if the change is to the data folder, documents folder, embedder or
                chunking, which need a new knowledge base (restart ragchat).
        """
        fixed = ("home", "docs_dir", "embedding", "chunk_size", "chunk_overlap", "memory", "database_url")
        if any(getattr(settings, name) != getattr(self.settings, name) for name in fixed):
            raise RagchatError("That setting takes effect when ragchat is started again — restart it.")
        model = ("chat_model", "temperature", "num_ctx", "num_predict", "ollama_host", "timeout")
        if self._own_llm and any(getattr(settings, name) != getattr(self.settings, name) for name in model):
            self._llm, self._model_check = None, ModelCheck()
            self.conversations.rebuild()
        self.settings = self.conversations.settings = settings

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

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list[Document]:
        """Return the ranked chunks for ``query`` without calling the chat model (settings' k and mode by default)."""
        s = self.settings
        return self.knowledge.search(query, k or s.k, mode or s.retrieval_mode, keyword_weight=s.keyword_weight)

    def ask(self, question: str, thread_id: str) -> Turn:
        """Return the turn answering ``question`` in ``thread_id``; read its events to run it.

        Raises:
            RagchatError: if the question or thread name is unusable, there is no index, or
                Ollama answers but lacks the chat model (checked even when the turn would abstain).
        """
        if self._own_llm:  # a chat model given to the constructor is not Ollama's to check
            self._model_check.require(self.settings)
        return self.conversations.ask(question, thread_id)

    def close(self) -> None:
        """Let go of the thread store and the index's database (the next use opens them again)."""
        self.conversations.close()
        self.knowledge.close()

    def health(self) -> Health:
        """Return whether Ollama answers and has the configured models."""
        return check_ollama(self.settings)

    def scratch(self) -> Assistant:
        """Return an assistant over the same models and knowledge base whose threads live in memory (for eval)."""
        from langgraph.checkpoint.memory import MemorySaver

        other = Assistant(
            self.settings.model_copy(update={"memory": True}),
            llm=self.llm, embeddings=self.embeddings, checkpointer=MemorySaver(), knowledge=self.knowledge,
        )  # fmt: skip
        other._own_llm = self._own_llm  # an Ollama model is still checked for
        return other

    def graph_structure(self) -> Graph:
        """Return the agent's graph structure (needs neither Ollama nor an index)."""
        from agent.graph import build_graph

        return build_graph(self.llm, self.knowledge).get_graph()

    def mermaid(self) -> str:
        """Return the agent's graph as Mermaid text."""
        return self.graph_structure().draw_mermaid()
