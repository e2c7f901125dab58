"""A fake Ollama server that speaks enough of the real HTTP API for ragchat's tests.

The real ``ChatOllama`` and ``OllamaEmbeddings`` classes talk to it over HTTP, so every
test exercises the same client code a user runs. It is deliberately small:

* ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``: model bookkeeping.
* ``POST /api/embed``: deterministic hashed bag-of-words vectors. Words shared between a
  query and a passage make them similar, so "the planted fact ranks first" is a real
  assertion. A leading nomic task prefix (``search_query:`` ...) is ignored when hashing,
  as the real model is trained to do, but it is recorded so tests can check it was sent.
* ``POST /api/chat``: streams a reply token by token as NDJSON, cut at the request's ``stop``
  strings as Ollama cuts it. Replies are scripted per test: a handler given to ``respond()``
  answers first (``None`` passes), then the queue filled by ``enqueue()``, in order. Unscripted,
  the reply reads only the request's structure, never the wording of ragchat's prompts: with
  fenced sources in a system message, the source sentence that best matches the last user
  message, cited; with a system message but no sources, the not-found sentence; with no
  system message at all (a bare task such as the follow-up rewrite), nothing (an empty reply).
* Unknown models get Ollama's real 404 body; ``fail()`` injects other error statuses and
  ``fault()`` the ways a real server misbehaves: a stall before answering, a connection
  dropped mid-stream, a malformed line. ``stop()`` / ``restart()`` make the port refuse
  connections and come back on the same port.

Every request is recorded in ``requests`` (path and parsed JSON body).
It is not a language model and does not try to be one. This module holds the server object
and its script; ``tests.fake_model`` what the models say, ``tests.fake_ollama_http`` the protocol.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fake_model import (  # re-exported: tests and benchmarks import them from here
    DIMENSION,
    NOT_FOUND,
    SOURCE_BLOCK,
    TASK_PREFIX,
    content_words,
    cut_at_stop,
    embed_text,
    reply_from_sources,
    rewrite_request,
)
from tests.fake_ollama_http import Server, handler_for

__all__ = [
    "DIMENSION",
    "NOT_FOUND",
    "SOURCE_BLOCK",
    "TASK_PREFIX",
    "FakeOllama",
    "Fault",
    "Recorded",
    "content_words",
    "embed_text",
    "rewrite_request",
    "reply_from_sources",
]


@dataclass
class Fault:
    """One injected misbehaviour for the next request to a path."""

    kind: str  # "status", "stall", "drop", "malformed" or "slow" (``seconds`` before each token)
    status: int = 500
    message: str = ""
    seconds: float = 0.0
    tokens: int = 0  # for "drop": how many tokens are sent before the connection is cut


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    body: dict[str, Any]


@dataclass
class FakeOllama:
    """A running fake server; use ``url`` as ``OLLAMA_HOST``."""

    models: list[str] = field(default_factory=lambda: ["llama3.1:8b", "nomic-embed-text:latest"])
    dimension: int = DIMENSION
    reply: Callable[[dict[str, Any]], str] = reply_from_sources
    embedder: Callable[[list[str]], list[list[float]]] | None = None
    """Replaces the hashed bag-of-words vectors (a benchmark plugs a real small model in here)."""
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: deque[str] = deque()
        self._handlers: list[Callable[[dict[str, Any]], str | None]] = []
        self._failures: dict[str, deque[Fault | None]] = {}
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._port = 0
        self._bind()

    def _bind(self) -> None:
        self._server = Server(("127.0.0.1", self._port), handler_for(self))
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    # -- lifecycle -------------------------------------------------------------------
    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:54321``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOllama:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port: connections are refused until :meth:`restart`."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:  # a stopped Ollama keeps no keep-alive connection open either
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._connections.clear()
        self._thread.join(timeout=5)

    def restart(self) -> FakeOllama:
        """Serve again on the same port (as Ollama does after a restart)."""
        self._bind()
        return self.start()

    # -- scripting -------------------------------------------------------------------
    def enqueue(self, *replies: str) -> None:
        """Make the next chat calls answer these texts, in order (after any ``respond`` handler passes)."""
        with self._lock:
            self._queue.extend(replies)

    def respond(self, handler: Callable[[dict[str, Any]], str | None]) -> None:
        """Let ``handler(body)`` answer every chat call it returns a text for; ``None`` passes to the queue.

        Handlers added later are asked first. Use it to script one kind of call (e.g. the
        rewrite, see :func:`rewrite_request`) while the others keep their replies.
        """
        with self._lock:
            self._handlers.insert(0, handler)

    def fail(self, path: str, status: int, message: str, times: int = 1, after: int = 0) -> None:
        """Answer ``times`` requests to ``path`` with an Ollama error body, after ``after`` good ones."""
        self.fault(path, Fault("status", status=status, message=message), times, after)

    def fault(self, path: str, fault: Fault, times: int = 1, after: int = 0) -> None:
        """Misbehave on ``times`` requests to ``path``, after ``after`` good ones."""
        with self._lock:
            self._failures.setdefault(path, deque()).extend([None] * after + [fault] * times)

    # -- inspection ------------------------------------------------------------------
    def calls(self, path: str) -> list[dict[str, Any]]:
        """Return the JSON bodies received on ``path``, oldest first."""
        with self._lock:
            return [r.body for r in self.requests if r.path == path]

    @property
    def chat_prompts(self) -> list[str]:
        """Every chat request flattened to one text (all message contents joined)."""
        return [
            "\n".join(str(m.get("content", "")) for m in body.get("messages", [])) for body in self.calls("/api/chat")
        ]

    @property
    def embedded_texts(self) -> list[str]:
        """Every text sent for embedding, exactly as received."""
        texts: list[str] = []
        for body in self.calls("/api/embed"):
            inputs = body.get("input", [])
            texts.extend([inputs] if isinstance(inputs, str) else inputs)
        return texts

    # -- behaviour -------------------------------------------------------------------
    def has_model(self, name: str) -> bool:
        """Match names as Ollama does: ``nomic-embed-text`` means ``...:latest``."""
        full = name if ":" in name else f"{name}:latest"
        return full in self.models or name in self.models

    def _record(self, method: str, path: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(Recorded(method, path, body))

    def _next_failure(self, path: str) -> Fault | None:
        with self._lock:
            pending = self._failures.get(path)
            return pending.popleft() if pending else None

    def _next_reply(self, body: dict[str, Any]) -> str:
        with self._lock:
            handlers = list(self._handlers)
        for handler in handlers:  # outside the lock: a handler may inspect the fake
            if (text := handler(body)) is not None:
                return cut_at_stop(text, body)
        with self._lock:
            if self._queue:
                return cut_at_stop(self._queue.popleft(), body)
        return cut_at_stop(self.reply(body), body)
