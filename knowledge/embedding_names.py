"""The embedding backends ragchat knows and the names it records with an index.

Apart from :mod:`knowledge.embeddings` because the settings need these names on every start,
while LangChain's ``Embeddings`` class (which that module subclasses) loads LangChain's
runnables, about 0.3 s that `ragchat sources` or a keyword search never use.
"""

from __future__ import annotations

BACKENDS = ("ollama", "nomic-local")
DEFAULT_MODELS = {"ollama": "nomic-embed-text", "nomic-local": "nomic-embed-text-v1.5"}


def embedding_name(backend: str, model: str | None = None) -> str:
    """Return the name recorded with an index, e.g. ``ollama/nomic-embed-text``.

    >>> embedding_name("nomic-local")
    'nomic-local/nomic-embed-text-v1.5'
    """
    return f"{backend}/{model or DEFAULT_MODELS[backend]}"
