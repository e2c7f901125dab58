from pathlib import Path

import pytest

from agent.settings import load_settings
from knowledge.errors import RagchatError


def test_defaults() -> None:
    s = load_settings()
    assert (s.ollama_host, s.chat_model, s.temperature) == ("http://localhost:11434", "llama3.1:8b", 0.0)
    assert (s.embedding_backend, s.embedding_model, s.embedding) == (
        "ollama",
        "nomic-embed-text",
        "ollama/nomic-embed-text",
    )
    assert (s.chunk_size, s.chunk_overlap, s.k, s.num_ctx) == (500, 50, 4, 8192)
    assert (s.retrieval_mode, s.keyword_weight, s.min_score) == ("hybrid", 0.5, 0.5)  # chosen in README's eval section
    assert (s.docs_dir, s.home) == (Path("rag_data"), Path(".ragchat"))


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box:11434")
    monkeypatch.setenv("RAGCHAT_K", "6")
    monkeypatch.setenv("RAGCHAT_CHAT_MODEL", "qwen3:8b")
    s = load_settings()
    assert (s.ollama_host, s.k, s.chat_model) == ("http://gpu-box:11434", 6, "qwen3:8b")


def test_explicit_arguments_override_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://gpu-box:11434")
    monkeypatch.setenv("RAGCHAT_K", "6")
    monkeypatch.setenv("RAGCHAT_KEYWORD_WEIGHT", "0.9")
    s = load_settings(ollama_host="http://other:1234", k=2, chat_model=None, keyword_weight=0.25)
    assert (s.ollama_host, s.k, s.chat_model, s.keyword_weight) == ("http://other:1234", 2, "llama3.1:8b", 0.25)


def test_local_backend_has_its_own_default_model() -> None:
    assert load_settings(embedding_backend="nomic-local").embedding == "nomic-local/nomic-embed-text-v1.5"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("http://localhost:11434/", "http://localhost:11434"),
        ("https://ollama.example", "https://ollama.example"),
        (":56789", "http://127.0.0.1:56789"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("example.com/ollama/", "http://example.com:11434/ollama"),
        ("gpu-box", "http://gpu-box:11434"),
    ],
)
def test_ollama_host_is_read_like_ollama_reads_it(given: str, expected: str) -> None:
    assert load_settings(ollama_host=given).ollama_host == expected


def test_invalid_environment_value_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGCHAT_K", "many")
    with pytest.raises(RagchatError, match=r"^Invalid setting k \(RAGCHAT_K\): Input should be a valid integer"):
        load_settings()


def test_overlap_must_be_smaller_than_chunk_size() -> None:
    with pytest.raises(RagchatError, match="chunk_overlap \\(500\\) must be below chunk_size \\(500\\)"):
        load_settings(chunk_size=500, chunk_overlap=500)
