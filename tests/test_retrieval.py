"""Retrieval through the real OllamaEmbeddings client and the fake server."""

from agent.assistant import Assistant
from knowledge.calibration import HELD_ASIDE
from tests.conftest import PLANTED
from tests.fake_ollama import FakeOllama


def test_planted_fact_is_ranked_first(assistant: Assistant) -> None:
    docs = assistant.search("Who cast the Quillmarsh tide bell?", k=3)
    assert PLANTED in docs[0].page_content
    assert docs[0].metadata["source"] == "harbour.md"
    assert docs[0].metadata["score"] > docs[1].metadata["score"]


def test_query_and_documents_reach_ollama_with_one_prefix_each(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    assistant.search("ferry to Dunlow", k=2)
    texts = fake_ollama.embedded_texts
    assert texts[-1] == "search_query: ferry to Dunlow"
    documents = [t for t in texts[:-1] if "search_query:" not in t]
    held_aside = texts[len(documents) : -1]  # embedded once with the index, as questions (knowledge.calibration)
    assert len(documents) == assistant.load_index().chunk_count
    assert all(t.startswith("search_document: ") and t.count("search_document:") == 1 for t in documents)
    assert held_aside == [f"search_query: {question}" for question in HELD_ASIDE]


def test_k_limits_the_number_of_chunks(assistant: Assistant) -> None:
    assert len(assistant.search("market", k=2)) == 2


def test_a_chunk_is_embedded_with_its_title_in_front_when_it_lacks_it() -> None:
    from langchain_core.documents import Document

    from knowledge.ingest import embedding_text

    inner = Document("It stands 34 metres tall.", metadata={"title": "Gannet Point Light"})
    first = Document("# Gannet Point Light\n\nBy a reporter", metadata={"title": "Gannet Point Light"})
    assert embedding_text(inner) == "Gannet Point Light\n\nIt stands 34 metres tall."
    assert embedding_text(first) == first.page_content
