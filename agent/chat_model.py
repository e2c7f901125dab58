"""The chat model factory (the only place that imports ``ChatOllama``) and the Ollama health check.

``langchain_ollama`` is imported inside the factory, not at the top: the ``ollama`` library
builds a client from ``OLLAMA_HOST`` as it is imported and fails with a traceback on a value
it cannot parse, so it must not load before :func:`agent.settings.load_settings` has checked it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agent.settings import Settings

if TYPE_CHECKING:
    from langchain_ollama import ChatOllama


def make_chat_model(settings: Settings) -> ChatOllama:
    """Create the Ollama chat model with an explicit context window.

    ``num_ctx`` is always sent: Ollama's own default is small and would silently cut
    the retrieved sources out of the prompt.
    """
    import httpx
    from langchain_ollama import ChatOllama

    return ChatOllama(
        model=settings.chat_model,
        base_url=settings.ollama_host,
        temperature=settings.temperature,
        num_ctx=settings.num_ctx,
        num_predict=settings.num_predict,
        top_k=settings.top_k,
        top_p=settings.top_p,
        client_kwargs={"timeout": httpx.Timeout(settings.timeout, connect=10.0)},
    )


@dataclass
class Health:
    """Whether Ollama answers and has the models ragchat needs, with what to run if not."""

    reachable: bool
    models: list[str] = field(default_factory=list)
    chat_ok: bool = False
    embed_ok: bool = False
    problems: list[str] = field(default_factory=list)
    """One sentence per problem, each saying what to run."""
    answers_need_embeddings: bool = True
    """Whether answering embeds the question (every search mode but keyword does)."""

    @property
    def ok(self) -> bool:
        """Whether everything works: answers and indexing."""
        return self.reachable and self.chat_ok and self.embed_ok

    @property
    def answers(self) -> bool:
        """Whether answers can be generated (indexing may still need the embedding model)."""
        return self.reachable and self.chat_ok and (self.embed_ok or not self.answers_need_embeddings)


def check_ollama(settings: Settings, timeout: float = 3.0) -> Health:
    """Ask Ollama which models it has (``/api/tags``) and compare with the settings."""
    import httpx  # here, not at the top: `ragchat sources` and keyword search never ask Ollama

    try:
        response = httpx.get(f"{settings.ollama_host}/api/tags", timeout=timeout)
        response.raise_for_status()
        models = sorted(m.get("model") or m.get("name", "") for m in response.json().get("models", []))
    except (httpx.HTTPError, ValueError, AttributeError):
        return Health(
            reachable=False,
            problems=[f"Ollama is not reachable at {settings.ollama_host} — start it with `ollama serve`."],
        )
    health = Health(reachable=True, models=models, answers_need_embeddings=settings.retrieval_mode != "keyword")
    health.chat_ok = has_model(models, settings.chat_model)
    health.embed_ok = settings.embedding_backend != "ollama" or has_model(models, settings.embedding_model or "")
    if not health.chat_ok:
        health.problems.append(f"The chat model is not pulled — run `ollama pull {settings.chat_model}`.")
    if not health.embed_ok:
        health.problems.append(f"The embedding model is not pulled — run `ollama pull {settings.embedding_model}`.")
    return health


def has_model(models: list[str], name: str) -> bool:
    """Match a model name as Ollama does: ``nomic-embed-text`` means ``nomic-embed-text:latest``.

    >>> has_model(["nomic-embed-text:latest"], "nomic-embed-text"), has_model(["llama3.1:8b"], "llama3.1:70b")
    (True, False)
    """
    return name in models or (":" not in name and f"{name}:latest" in models)
