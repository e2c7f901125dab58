"""The embedding model factory, the only importer of Ollama embeddings and ``langchain_nomic``.

Nomic embedding models expect a task prefix on every text: ``search_document: `` for
passages and ``search_query: `` for questions. langchain-nomic adds them itself (from its
``task_type``); Ollama sends text as is, so for Ollama-served nomic models we add them
here. Either way each text carries its prefix exactly once.
"""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.embeddings import Embeddings

from knowledge.embedding_names import BACKENDS, DEFAULT_MODELS, embedding_name
from knowledge.errors import RagchatError, explain_ollama_error

__all__ = ["BACKENDS", "DEFAULT_MODELS", "OllamaNomicEmbeddings", "embedding_name", "make_embeddings"]
DOCUMENT_PREFIX = "search_document: "
QUERY_PREFIX = "search_query: "


def with_prefix(prefix: str, text: str) -> str:
    """Return ``text`` with ``prefix`` in front, unless it is there already.

    >>> with_prefix("search_query: ", "search_query: tides")
    'search_query: tides'
    """
    return text if text.startswith(prefix) else prefix + text


class OllamaNomicEmbeddings(Embeddings):
    """Ollama embeddings that add nomic task prefixes and explain failures in one line."""

    def __init__(
        self, inner: Embeddings | Callable[[], Embeddings], *, model: str, base_url: str, prefixed: bool = True
    ) -> None:
        """Wrap ``inner`` (an ``OllamaEmbeddings``, or a function making one); ``prefixed`` adds nomic task prefixes."""
        self._inner = inner
        self.model = model
        self.base_url = base_url
        self.prefixed = prefixed

    @property
    def inner(self) -> Embeddings:
        """The wrapped model, made on first use when a function was given.

        Importing ``langchain_ollama`` takes about a second, and opening an index to list its
        files or search it by keyword never embeds anything.
        """
        if not isinstance(self._inner, Embeddings):
            self._inner = self._inner()
        return self._inner

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages (one request for the whole list)."""
        if self.prefixed:
            texts = [with_prefix(DOCUMENT_PREFIX, t) for t in texts]
        return self._call(self.inner.embed_documents, texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        if self.prefixed:
            text = with_prefix(QUERY_PREFIX, text)
        return self._call(self.inner.embed_query, text)

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embed several questions in one request (as :meth:`embed_query` embeds one)."""
        if self.prefixed:
            texts = [with_prefix(QUERY_PREFIX, t) for t in texts]
            return self._call(self.inner.embed_documents, texts)  # the prefix, not the method, makes it a query
        return [self._call(self.inner.embed_query, t) for t in texts]

    def _call(self, method, argument):  # noqa: ANN001, ANN202 (thin pass-through)
        try:
            return method(argument)
        except Exception as exc:
            explained = explain_ollama_error(exc, base_url=self.base_url, model=self.model)
            if explained is None:
                raise
            raise explained from exc


def make_embeddings(
    backend: str = "ollama", model: str | None = None, base_url: str = "http://localhost:11434", timeout: float = 120.0
) -> Embeddings:
    """Create the embedding model for ``backend`` (``ollama`` or ``nomic-local``).

    Raises:
        RagchatError: for an unknown backend, or ``nomic-local`` without its extra installed.
    """
    if backend not in BACKENDS:
        raise RagchatError(f"Unknown embedding backend {backend!r} — use one of: {', '.join(BACKENDS)}.")
    model = model or DEFAULT_MODELS[backend]
    if backend == "ollama":

        def ollama() -> Embeddings:
            import httpx
            from langchain_ollama import OllamaEmbeddings

            timeout_ = httpx.Timeout(timeout, connect=10.0)
            return OllamaEmbeddings(model=model, base_url=base_url, client_kwargs={"timeout": timeout_})

        return OllamaNomicEmbeddings(ollama, model=model, base_url=base_url, prefixed="nomic" in model)
    try:
        from langchain_nomic import NomicEmbeddings
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RagchatError(
            f"The nomic-local backend needs langchain-nomic ({exc}) — run `pip install 'ragchat[local]'`."
        ) from exc
    # langchain-nomic passes task_type="search_document"/"search_query"; nomic adds the prefix.
    return NomicEmbeddings(model=model, inference_mode="local")
