"""Ollama misbehaving: each fault gives one clear message, and nothing already stored is lost."""

from __future__ import annotations

import re

import pytest

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from agent.turns import Failed, Token
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama, Fault

QUESTION = "Who cast the Quillmarsh tide bell?"


def test_down_between_turns_then_back(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren [1].")
    assistant.ask(QUESTION, "t").run()
    fake_ollama.stop()
    with pytest.raises(
        RagchatError, match=r"^Cannot reach Ollama at http://127\.0\.0\.1:\d+ — start it with `ollama serve`"
    ):
        assistant.ask("How heavy is the Quillmarsh bell?", "t").run()
    fake_ollama.restart()
    fake_ollama.enqueue("How heavy is the Quillmarsh bell", "612 kilograms [1].")
    assert assistant.ask("How heavy is the Quillmarsh bell?", "t").run().answer == "612 kilograms [1]."
    contents = [m.content for m in assistant.history("t")]
    assert contents[:2] == [QUESTION, "Oriel Vantongeren [1]."]  # the first turn was never lost
    assert contents[-1] == "612 kilograms [1]."


def test_down_mid_stream_keeps_the_partial_answer_marked(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("The bell was cast by Oriel Vantongeren in 1743 [1].")
    fake_ollama.fault("/api/chat", Fault("drop", tokens=4))
    *pieces, failed = assistant.ask(QUESTION, "t").events()
    assert isinstance(failed, Failed) and failed.partial_kept and failed.answer == "The bell was cast"
    assert re.match(r"Lost the connection to Ollama .* The answer so far was kept", failed.message)
    assert "".join(p.text for p in pieces if isinstance(p, Token)) == "The bell was cast"
    question, partial = assistant.history("t")
    assert (question.content, partial.content) == (QUESTION, "The bell was cast")
    assert partial.additional_kwargs["interrupted"] is True
    assert partial.additional_kwargs["sources"][0]["source"] == "harbour.md"
    assert [t.id for t in assistant.threads()] == ["t"]
    fake_ollama.enqueue("Who cast the Quillmarsh tide bell", "Oriel Vantongeren [1].")
    assert assistant.ask("Please finish: who cast it?", "t").run().answer == "Oriel Vantongeren [1]."  # still usable


def test_failure_before_any_token_stores_the_question(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.fail("/api/chat", 500, "out of memory")
    with pytest.raises(RagchatError, match=r"^Ollama could not run llama3\.1:8b: out of memory \(HTTP 500\)\.$"):
        assistant.ask(QUESTION, "t").run()
    history = assistant.history("t")
    assert [m.content for m in history] == [QUESTION, ""]  # the question, marked as left without an answer
    assert history[1].additional_kwargs["interrupted"] is True
    assert assistant.threads()[0].title == QUESTION


def test_model_not_pulled(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.models.remove("llama3.1:8b")
    with pytest.raises(
        RagchatError, match=r"^The model llama3\.1:8b is not available in Ollama — run `ollama pull llama3\.1:8b`\.$"
    ):
        assistant.ask(QUESTION, "t").run()


def test_a_missing_chat_model_is_named_even_when_the_turn_would_abstain(
    env: Settings, assistant: Assistant, fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    from ui.cli import main

    fake_ollama.models.remove("llama3.1:8b")  # only the embedding model is pulled
    capsys.readouterr()
    assert main(["ask", "What is the capital of Mongolia?"]) == 1  # nothing relevant: no chat call would be made
    assert capsys.readouterr().err == (
        "Error: The model llama3.1:8b is not available in Ollama — run `ollama pull llama3.1:8b`.\n"
    )
    assert fake_ollama.calls("/api/chat") == []


def test_stalled_first_token_times_out_with_a_message(settings: Settings, fake_ollama: FakeOllama) -> None:
    app = Assistant(load_settings(**{**settings.model_dump(), "timeout": 0.5, "memory": True}))
    app.ensure_index()
    fake_ollama.fault("/api/chat", Fault("stall", seconds=2))
    with pytest.raises(RagchatError, match=r"^Ollama did not answer in time \(it may still be loading llama3\.1:8b\)"):
        app.ask(QUESTION, "t").run()


def test_malformed_stream_is_a_clear_message(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.fault("/api/chat", Fault("malformed", tokens=2))
    with pytest.raises(RagchatError, match="sent a reply ragchat could not read"):
        assistant.ask(QUESTION, "t").run()
    assert assistant.history("t")[-1].additional_kwargs["interrupted"] is True


def test_malformed_embedding_reply_keeps_the_index(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    (assistant.settings.docs_dir / "tides.md").write_text("# Tides\n\nHigh tide is at 06:40.\n")
    fake_ollama.fault("/api/embed", Fault("malformed"))
    with pytest.raises(RagchatError, match="sent a reply ragchat could not read"):
        assistant.ingest()
    assert sorted(Assistant(assistant.settings).load_index().files) == ["harbour.md", "notes/market.txt"]
    assert assistant.ingest().report.added == ["tides.md"]


def test_ollama_down_during_ingest_keeps_the_index(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    (assistant.settings.docs_dir / "tides.md").write_text("# Tides\n\nHigh tide is at 06:40.\n")
    fake_ollama.stop()
    with pytest.raises(RagchatError, match="Cannot reach Ollama"):
        assistant.ingest()
    assert Assistant(assistant.settings).load_index().chunk_count == 4
    fake_ollama.restart()
    assert assistant.ingest().report.added == ["tides.md"]


def test_the_fake_server_says_nothing_when_a_client_hangs_up_mid_reply(
    fake_ollama: FakeOllama, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stopped turn hangs up on the server; the server's own complaint must not land in another test's output."""
    import socket
    import struct
    import time
    from urllib.parse import urlsplit

    fake_ollama.enqueue("tide " * 50_000)  # far more than the socket buffers hold
    url = urlsplit(fake_ollama.url)
    body = b'{"model": "llama3.1:8b", "messages": [{"role": "user", "content": "hi"}], "stream": true}'
    with socket.create_connection((url.hostname, url.port)) as client:
        client.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        client.recv(100)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # hang up with a reset
    time.sleep(1.0)  # the server notices on its next write
    assert capsys.readouterr().err == ""
