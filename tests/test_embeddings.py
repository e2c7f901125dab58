import pytest
from langchain_core.embeddings import Embeddings

from knowledge.embeddings import OllamaNomicEmbeddings, make_embeddings
from tests.fake_ollama import FakeOllama


class Recorder(Embeddings):
    """Records what it is asked to embed."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.seen.extend(texts)
        return [[1.0] for _ in texts]

    def embed_query(self, text: str) -> list[float]:
        self.seen.append(text)
        return [1.0]


def test_ollama_nomic_texts_carry_their_task_prefix_once(fake_ollama: FakeOllama) -> None:
    embeddings = make_embeddings("ollama", "nomic-embed-text", fake_ollama.url)
    embeddings.embed_documents(["tide tables", "search_document: already prefixed"])
    embeddings.embed_query("when is high tide?")
    embeddings.embed_query("search_query: prefixed question")
    assert fake_ollama.embedded_texts == [
        "search_document: tide tables",
        "search_document: already prefixed",
        "search_query: when is high tide?",
        "search_query: prefixed question",
    ]


def test_documents_are_embedded_in_one_request_per_call(fake_ollama: FakeOllama) -> None:
    make_embeddings("ollama", None, fake_ollama.url).embed_documents(["a", "b", "c"])
    assert len(fake_ollama.calls("/api/embed")) == 1


def test_non_nomic_ollama_models_get_no_prefix() -> None:
    inner = Recorder()
    wrapped = OllamaNomicEmbeddings(inner, model="mxbai-embed-large", base_url="x", prefixed=False)
    wrapped.embed_documents(["doc"])
    wrapped.embed_query("q")
    assert inner.seen == ["doc", "q"]


def test_only_nomic_models_served_by_ollama_get_the_prefix(fake_ollama: FakeOllama) -> None:
    fake_ollama.models += ["nomic-embed-text:v1.5", "mxbai-embed-large:latest"]
    make_embeddings("ollama", "nomic-embed-text:v1.5", fake_ollama.url).embed_documents(["tide tables"])
    make_embeddings("ollama", "mxbai-embed-large", fake_ollama.url).embed_documents(["tide tables"])
    assert fake_ollama.embedded_texts == ["search_document: tide tables", "tide tables"]


def test_nomic_local_backend_leaves_prefixes_to_langchain_nomic(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_nomic import embeddings as langchain_nomic

    asked: list[tuple[list[str], str, str]] = []

    def local_model(texts: list[str], task_type: str, inference_mode: str, **_: object) -> dict[str, object]:
        asked.append((texts, task_type, inference_mode))  # nomic's own call, which would load the weights
        return {"embeddings": [[1.0, 0.0] for _ in texts]}

    monkeypatch.setattr(langchain_nomic.embed, "text", local_model)
    embeddings = make_embeddings("nomic-local")
    embeddings.embed_documents(["tide tables"])
    embeddings.embed_query("when is high tide?")
    assert asked == [
        (["tide tables"], "search_document", "local"),  # no prefix of ours: nomic adds it from the task type
        (["when is high tide?"], "search_query", "local"),
    ]
