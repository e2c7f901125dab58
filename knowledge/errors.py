"""The one exception type the user sees, and the translation of Ollama failures into it.

Every failure a user can cause or fix (Ollama not running, a model not pulled, a bad
folder, an empty question) becomes a :class:`RagchatError` whose message is one sentence
that says what to do. The CLI prints it, the web page shows it; neither shows tracebacks.
"""

from __future__ import annotations

import json

import httpx
from ollama import ResponseError


class RagchatError(Exception):
    """A failure with a one-line message written for the user."""


class EmbedderMismatch(RagchatError):
    """The index is readable but was built by another embedding model."""


def explain_ollama_error(exc: BaseException, *, base_url: str, model: str) -> RagchatError | None:
    """Return the user-facing error for an exception raised while talking to Ollama.

    Returns ``None`` when ``exc`` is not an Ollama/transport failure, so callers can
    re-raise genuine bugs unchanged.
    """
    if isinstance(exc, RagchatError):
        return exc
    if isinstance(exc, ConnectionError | httpx.ConnectError | httpx.ConnectTimeout):
        # ollama-python raises the builtin ConnectionError for plain requests but lets
        # httpx.ConnectError escape from streaming ones, so both land here.
        return RagchatError(
            f"Cannot reach Ollama at {base_url} — start it with `ollama serve` (or point OLLAMA_HOST at it)."
        )
    if isinstance(exc, httpx.TimeoutException):
        return RagchatError(
            f"Ollama did not answer in time (it may still be loading {model}) — try again, or allow longer with "
            "RAGCHAT_TIMEOUT."
        )
    if isinstance(exc, json.JSONDecodeError):
        return RagchatError(
            f"Ollama at {base_url} sent a reply ragchat could not read — check that OLLAMA_HOST points at Ollama, "
            "then try again."
        )
    if isinstance(exc, ResponseError):
        if exc.status_code == 404:
            return RagchatError(f"The model {model} is not available in Ollama — run `ollama pull {model}`.")
        return RagchatError(f"Ollama could not run {model}: {exc.error} (HTTP {exc.status_code}).")
    if isinstance(exc, httpx.TransportError):
        return RagchatError(
            f"Lost the connection to Ollama at {base_url} ({type(exc).__name__}) — "
            "check that `ollama serve` is still running and try again."
        )
    return None
