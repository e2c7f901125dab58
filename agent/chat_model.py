"""The chat model factory: the only place that imports ``ChatOllama``."""

from __future__ import annotations

from langchain_ollama import ChatOllama

from agent.settings import Settings


def make_chat_model(settings: Settings) -> ChatOllama:
    """Create the Ollama chat model with an explicit context window.

    ``num_ctx`` is always sent: Ollama's own default is small and would silently cut
    the retrieved sources out of the prompt.
    """
    return ChatOllama(
        model=settings.chat_model,
        base_url=settings.ollama_host,
        temperature=settings.temperature,
        num_ctx=settings.num_ctx,
        num_predict=settings.num_predict,
        top_k=settings.top_k,
        top_p=settings.top_p,
    )
