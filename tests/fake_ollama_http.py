"""The fake Ollama's HTTP side: routes, NDJSON streaming, error bodies and injected faults.

It serves one :class:`tests.fake_ollama.FakeOllama`, which holds the models, the script and
the record of requests; this module only speaks the protocol.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tests.fake_model import embed_text

if TYPE_CHECKING:
    from tests.fake_ollama import FakeOllama, Fault


class Server(ThreadingHTTPServer):
    """The HTTP server, quiet when a client hangs up mid-reply (as a stopped turn does).

    socketserver prints such errors to ``sys.stderr``; that print lands in whichever test is
    capturing output at that moment, which is not the one whose client left.
    """

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            return  # the client left: normal for a server, and no test's business
        super().handle_error(request, client_address)


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2026-01-01T00:00:00Z",
        "size": 4_920_753_328,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {"format": "gguf", "family": "llama", "parameter_size": "8.0B"},
    }


def handler_for(fake: FakeOllama) -> type[BaseHTTPRequestHandler]:
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
