"""A fake Ollama server that speaks enough of the real HTTP API for ragchat's tests.

The real ``ChatOllama`` and ``OllamaEmbeddings`` classes talk to it over HTTP, so every
test exercises the same client code a user runs. It is deliberately small:

* ``GET /api/version``, ``GET /api/tags``, ``POST /api/show``: model bookkeeping.
* ``POST /api/embed``: deterministic hashed bag-of-words vectors. Words shared between a
  query and a passage make them similar, so "the planted fact ranks first" is a real
  assertion. A leading nomic task prefix (``search_query:`` ...) is ignored when hashing,
  as the real model is trained to do, but it is recorded so tests can check it was sent.
* ``POST /api/chat``: streams the next enqueued reply token by token as NDJSON (or, when
  nothing is enqueued, the fenced source sentence that best matches the question, cited;
  for a follow-up rewrite prompt, the latest message unchanged).
* Unknown models get Ollama's real 404 body; ``fail()`` injects other error statuses and
  ``fault()`` the ways a real server misbehaves: a stall before answering, a connection
  dropped mid-stream, a malformed line. ``stop()`` / ``restart()`` make the port refuse
  connections and come back on the same port.

Every request is recorded in ``requests`` (path and parsed JSON body).
It is not a language model and does not try to be one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIMENSION = 768
TASK_PREFIX = re.compile(r"^\s*(search_document|search_query|clustering|classification):\s*")
WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how in is it its of on or "
    "the that this to was were what when where which who whom why will with".split()
)
SOURCE_BLOCK = re.compile(r"<source-(\w+) id=\"(\d+)\"[^>\n]*>\n(.*?)\n</source-\1>", re.DOTALL)
"""A fenced source as ragchat sends it: ``<source-BOUNDARY id="n" …>``, the text, ``</source-BOUNDARY>``.
Only the fence's format is known here, never the boundary or the wording around it."""
NOT_FOUND = "I couldn't find this in your documents."


def embed_text(text: str, dimension: int = DIMENSION) -> list[float]:
    """Return a unit vector for ``text``: a signed hash of its content words."""
    vector = [0.0] * dimension
    for word in WORD.findall(TASK_PREFIX.sub("", text).lower()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s"):
            word = word[:-1]  # crude plural folding: "lighthouses" meets "lighthouse"
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dimension
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0  # real models never return a zero vector
    return [v / norm for v in vector]


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` without stopwords (what the fake treats as meaning)."""
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def reply_from_sources(body: dict[str, Any]) -> str:
    """Answer like a grounded model would: the source sentence sharing most words with the question.

    The sentence is quoted with its citation, e.g. ``"It cost £1,860,000 in total. [2]"``.
    With no sources in the prompt, it gives the not-found sentence.
    """
    messages = body.get("messages", [])
    rewrite = re.search(r"^Latest message: (.*)$", str(messages[-1].get("content", "")) if messages else "", re.M)
    if rewrite:  # the rewrite step: a plausible standalone query is the message itself
        return rewrite.group(1)
    prompt = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")
    question = content_words(str(messages[-1].get("content", ""))) if messages else set()
    best: tuple[int, int, str] | None = None
    for _, number, text in SOURCE_BLOCK.findall(prompt):
        lines = " ".join(line for line in text.splitlines() if not line.startswith("#"))
        for sentence in re.split(r"(?<=[.!?])\s+", lines.strip()):
            overlap = len(question & content_words(sentence))
            if sentence and (best is None or overlap > best[0]):
                best = (overlap, int(number), sentence)
    if best is None:
        return NOT_FOUND
    return f"{best[2]} [{best[1]}]"


class _Server(ThreadingHTTPServer):
    """The HTTP server, quiet when a client hangs up mid-reply (as a stopped turn does).

    socketserver prints such errors to ``sys.stderr``; that print lands in whichever test is
    capturing output at that moment, which is not the one whose client left.
    """

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return  # the client left: normal for a server, and no test's business
        super().handle_error(request, client_address)


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
        self._failures: dict[str, deque[Fault | None]] = {}
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._port = 0
        self._bind()

    def _bind(self) -> None:
        self._server = _Server(("127.0.0.1", self._port), _handler_for(self))
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
        """Make the next chat calls answer these texts, in order."""
        with self._lock:
            self._queue.extend(replies)

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
            if self._queue:
                return self._queue.popleft()
        return self.reply(body)


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-01-01T00:00:00Z",
        "size": 4_920_753_328,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B"},
    }


def _handler_for(fake: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        fault: Fault | None = None

        def setup(self) -> None:
            super().setup()
            # Go's net/http (Ollama) disables Nagle; without this, small writes meet delayed
            # ACKs and every request waits ~40 ms, which would swamp the turn benchmark.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with fake._lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            with fake._lock:
                fake._connections.discard(self.connection)
            super().finish()

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        # -- plumbing ----------------------------------------------------------------
        def _body(self) -> dict[str, Any]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw) if raw else {}

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _missing(self, model: str) -> None:
            self._send_json(404, {"error": f'model "{model}" not found, try pulling it first'})

        def _dispatch(self, method: str) -> None:
            body = self._body() if method == "POST" else {}
            fake._record(method, self.path, body)
            failure = fake._next_failure(self.path)
            if failure and failure.kind == "status":
                self._send_json(failure.status, {"error": failure.message})
                return
            if failure and failure.kind == "stall":
                time.sleep(failure.seconds)
            self.fault = failure
            route = {
                ("GET", "/api/version"): self._version,
                ("GET", "/api/tags"): self._tags,
                ("POST", "/api/show"): self._show,
                ("POST", "/api/embed"): self._embed,
                ("POST", "/api/chat"): self._chat,
            }.get((method, self.path))
            if self.fault and self.fault.kind == "malformed" and self.path == "/api/embed":
                data = b'{"embeddings": [[0.1, 0.2'
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if route is None:
                self._send_json(404, {"error": "404 page not found"})
            else:
                route(body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._dispatch("GET")

        def do_HEAD(self) -> None:  # noqa: N802
            self._send_json(200, {})

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        # -- endpoints ---------------------------------------------------------------
        def _version(self, _: dict[str, Any]) -> None:
            self._send_json(200, {"version": "0.12.6"})

        def _tags(self, _: dict[str, Any]) -> None:
            self._send_json(200, {"models": [_model_entry(m) for m in fake.models]})

        def _show(self, body: dict[str, Any]) -> None:
            name = body.get("model") or body.get("name") or ""
            if not fake.has_model(name):
                self._missing(name)
                return
            self._send_json(
                200,
                {
                    "modelfile": f"FROM {name}",
                    "parameters": "",
                    "template": "{{ .Prompt }}",
                    "details": _model_entry(name)["details"],
                    "model_info": {"general.architecture": "llama"},
                    "capabilities": ["completion"],
                },
            )

        def _embed(self, body: dict[str, Any]) -> None:
            model = body.get("model", "")
            if not fake.has_model(model):
                self._missing(model)
                return
            inputs = body.get("input", [])
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            self._send_json(
                200,
                {
                    "model": model,
                    "embeddings": (
                        fake.embedder(texts) if fake.embedder else [embed_text(t, fake.dimension) for t in texts]
                    ),
                    "total_duration": 1000,
                    "load_duration": 10,
                    "prompt_eval_count": sum(len(t.split()) for t in texts),
                },
            )

        def _chat(self, body: dict[str, Any]) -> None:
            model = body.get("model", "")
            if not fake.has_model(model):
                self._missing(model)
                return
            text = fake._next_reply(body)
            done = {
                "model": model,
                "created_at": "2026-01-01T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "total_duration": 1000,
                "prompt_eval_count": len(json.dumps(body.get("messages", []))) // 4,
                "eval_count": len(text.split()),
            }
            if body.get("stream", True) is False:
                done["message"]["content"] = text
                self._send_json(200, done)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for sent, token in enumerate(re.findall(r"\s*\S+", text) or [""]):
                if self.fault and self.fault.kind == "drop" and sent == self.fault.tokens:
                    self.connection.shutdown(socket.SHUT_RDWR)  # cut mid-stream, no final chunk
                    self.close_connection = True
                    return
                if self.fault and self.fault.kind == "slow":
                    time.sleep(self.fault.seconds)
                if self.fault and self.fault.kind == "malformed" and sent == self.fault.tokens:
                    data = b"this is not json\n"
                    self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self._chunk(
                    {
                        "model": model,
                        "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": token},
                        "done": False,
                    }
                )
            self._chunk(done)
            self.wfile.write(b"0\r\n\r\n")

        def _chunk(self, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode() + b"\n"
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    return Handler
