"""The chat model factory (the only place that imports ``ChatOllama``) and the Ollama health check.

The health check asks through the ``ollama`` client, the library ``langchain_ollama`` itself
talks through. Both are imported inside the functions, not at the top: the ``ollama`` library
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
    """Ask Ollama which models it has (``ollama.Client.list``) and compare with the settings."""
    # Imported here, not at the top: `ragchat sources` and keyword search never ask Ollama.
    import httpx
    import ollama

    try:
        with ollama.Client(host=settings.ollama_host, timeout=timeout) as client:
            models = sorted(m.model or "" for m in client.list().models)
    except (ollama.ResponseError, ConnectionError, httpx.HTTPError, ValueError, TypeError):
        # Refused or timed out, an error status, or a body that is not a model list.
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


HEALTH_TTL = 10.0
"""Seconds a probe of Ollama's models is trusted before asking again (the page uses the same)."""


class ModelCheck:
    """Refuses a question early when Ollama answers but lacks the chat model, probing at most every few seconds.

    A turn that abstains never calls the chat model, so without this a missing model showed as
    "I couldn't find this…" instead of what to pull. An unreachable Ollama is left to the turn's
    own message.
    """

    def __init__(self) -> None:
        self._last: tuple[float, Health] | None = None

    def require(self, settings: Settings) -> None:
        """Raise the one-line "pull the model" error if Ollama answers without ``settings.chat_model``."""
        import time

        from knowledge.errors import model_not_pulled

        stamp = time.monotonic()
        if self._last is None or stamp - self._last[0] > HEALTH_TTL:
            self._last = (stamp, check_ollama(settings))
        if self._last[1].reachable and not self._last[1].chat_ok:
            raise model_not_pulled(settings.chat_model)
