"""Search modes: hybrid fusion, keyword without a model, source restriction, and the CLI commands."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from agent.assistant import Assistant
from agent.settings import Settings, load_settings
from knowledge.errors import RagchatError
from knowledge.index import IndexInfo, KnowledgeIndex
from tests.indexes import add_texts, open_index
from ui.cli import main

CONCEPTS = [{"car", "automobile", "vehicle"}, {"boat", "ship", "vessel"}, {"bread", "loaf", "bakery"}]


class ConceptEmbeddings(Embeddings):
    """Knows synonyms and nothing else: words outside CONCEPTS do not move the vector."""

    def _vector(self, text: str) -> list[float]:
        words = set(re.findall(r"\w+", text.lower()))
        vector = [0.01] + [float(len(words & concept)) for concept in CONCEPTS]
        return vector

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


TEXTS = {
    "garage.txt": "The automobile is serviced every spring at the garage.",
    "invoice.txt": "Invoice XK4471 for the bakery order was paid in full on Friday.",
    "harbour.txt": "The old vessel sails at dawn with the tide.",
    "bakery.txt": "A fresh loaf comes out of the oven at six.",
}


@pytest.fixture
def crafted(tmp_path: Path) -> KnowledgeIndex:
    index = open_index(tmp_path, ConceptEmbeddings(), IndexInfo("concepts"))
    add_texts(index, ConceptEmbeddings(), list(TEXTS.values()), [{"source": name} for name in TEXTS])
    return index


def top_source(index: KnowledgeIndex, query: str, mode: str) -> str | None:
    hits = index.search(query, k=1, mode=mode)
    return hits[0].metadata["source"] if hits else None


def test_hybrid_finds_what_only_keywords_find_and_what_only_vectors_find(crafted: KnowledgeIndex) -> None:
    keyword_only, vector_only = "invoice XK4471", "when is my car looked at"
    assert top_source(crafted, keyword_only, "keyword") == "invoice.txt"
    assert top_source(crafted, keyword_only, "vector") != "invoice.txt"
    assert top_source(crafted, vector_only, "vector") == "garage.txt"
    assert top_source(crafted, vector_only, "keyword") != "garage.txt"
    assert top_source(crafted, keyword_only, "hybrid") == "invoice.txt"
    assert top_source(crafted, vector_only, "hybrid") == "garage.txt"


def test_hybrid_scores_carry_both_evidences(crafted: KnowledgeIndex) -> None:
    (hit,) = crafted.search("automobile garage", k=1, mode="hybrid")
    assert hit.metadata["score"] == 1.0  # first in both lists
    assert hit.metadata["vector_score"] > 0.9 and hit.metadata["keyword_score"] > 0


@pytest.mark.parametrize("query", ["invoice XK4471", "when is my car looked at", "automobile vessel loaf"])
def test_keyword_weight_moves_hybrid_between_the_two_rankings(crafted: KnowledgeIndex, query: str) -> None:
    def order(mode: str, weight: float = 0.5) -> list[str]:
        return [d.metadata["source"] for d in crafted.search(query, k=4, mode=mode, keyword_weight=weight)]

    keyword = order("keyword")
    assert order("hybrid", 1.0)[: len(keyword)] == keyword
    assert order("hybrid", 0.0) == order("vector")


def test_keyword_weight_outside_zero_to_one_is_refused(crafted: KnowledgeIndex) -> None:
    with pytest.raises(RagchatError, match="between 0 and 1"):
        crafted.search("vessel", k=2, keyword_weight=1.5)


def test_keyword_mode_returns_only_chunks_sharing_a_word(crafted: KnowledgeIndex) -> None:
    assert [d.metadata["source"] for d in crafted.search("oven", k=4, mode="keyword")] == ["bakery.txt"]


def test_search_can_be_restricted_to_sources(crafted: KnowledgeIndex) -> None:
    for mode in ("vector", "keyword", "hybrid"):
        hits = crafted.search("automobile vessel loaf", k=4, mode=mode, sources={"harbour.txt", "bakery.txt"})
        assert {h.metadata["source"] for h in hits} <= {"harbour.txt", "bakery.txt"}, mode
        assert hits, mode
    assert crafted.search("vessel", k=4, sources=set()) == []


def test_vector_search_matches_in_memory_vector_store(crafted: KnowledgeIndex) -> None:
    from langchain_core.vectorstores import InMemoryVectorStore

    reference = InMemoryVectorStore(ConceptEmbeddings())
    reference.add_texts(list(TEXTS.values()))
    query = "ship vessel and bread"
    ours = [d.page_content for d in crafted.search(query, k=4, mode="vector")]
    theirs = [d.page_content for d in reference.similarity_search(query, k=4)]
    assert ours[0] == theirs[0] == TEXTS["harbour.txt"]
    np.testing.assert_allclose(
        sorted(d.metadata["vector_score"] for d in crafted.search(query, k=4, mode="vector")),
        sorted(s for _, s in reference.similarity_search_with_score(query, k=4)),
        atol=1e-4,  # our scores are rounded to 4 places for display
    )


def test_keyword_search_works_with_ollama_down(
    assistant: Assistant, unreachable_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s = assistant.settings
    down = ["--ollama-host", unreachable_url, "--home", str(s.home), "--docs", str(s.docs_dir)]
    assert main(["search", "Quillmarsh", "bell", "--mode", "keyword", *down]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Top 1 (keyword search):\n  [1] harbour.md · article 1 “The Quillmarsh Bell” · lines 1–4")
    assert main(["search", "Quillmarsh", "--mode", "vector", *down]) == 1
    assert "Cannot reach Ollama" in capsys.readouterr().err


def test_cli_sources_lists_files(assistant: Assistant, capsys: pytest.CaptureFixture[str]) -> None:
    s = assistant.settings
    assert main(["sources", "--home", str(s.home), "--docs", str(s.docs_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.match(r"file\s+chunks\s+size\s+indexed \(UTC\)$", lines[0])
    assert re.match(r"harbour\.md\s+2\s+\d+ B\s+\d{4}-\d\d-\d\d \d\d:\d\d$", lines[1])
    assert lines[-1] == "2 files, 4 chunks, embeddings ollama/nomic-embed-text"


def test_cli_forget_then_sources(assistant: Assistant, capsys: pytest.CaptureFixture[str]) -> None:
    s = assistant.settings
    flags = ["--home", str(s.home), "--docs", str(s.docs_dir)]
    assert main(["forget", "notes/market.txt", *flags]) == 0
    assert capsys.readouterr().out == (
        "Removed 1 file from the index: notes/market.txt\n"
        "`ragchat ingest` leaves it out from now on; `ragchat ingest notes/market.txt` adds it back.\n"
    )
    assert main(["forget", "notes/market.txt", *flags]) == 1
    assert "is not in the index" in capsys.readouterr().err


def test_cli_ingest_twice_reports_unchanged(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest"]) == 0
    capsys.readouterr()
    assert main(["ingest"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("0 added, 0 updated, 0 removed, 2 unchanged (0 chunks embedded).")
    assert "Embedding" not in err


def test_cli_ingest_lists_skipped_files(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    (env.docs_dir / "scan.pdf").write_bytes(b"%PDF-1.7 garbage")
    assert main(["ingest"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["  skipped scan.pdf: damaged PDF"]


def test_keyword_mode_answers_need_no_embedding(env: Settings, fake_ollama, monkeypatch) -> None:  # noqa: ANN001
    Assistant(load_settings()).ingest()
    fake_ollama.models.remove("nomic-embed-text:latest")
    monkeypatch.setenv("RAGCHAT_RETRIEVAL_MODE", "keyword")
    done = Assistant(load_settings()).ask("Who cast the Quillmarsh bell?", "t").run()
    assert done.sources[0]["source"] == "harbour.md"


def test_page_files_keep_their_page_number(settings: Settings, tmp_path: Path) -> None:
    from tests.test_formats import write_pdf  # the hand-made PDF helper

    write_pdf(
        settings.docs_dir / "report.pdf", ["Page one talks about gulls.", "Page two mentions the Quillmarsh bell."]
    )
    app = Assistant(settings)
    app.ingest()
    (hit,) = app.search("gulls", k=1, mode="keyword")
    assert (hit.metadata["source"], hit.metadata["page"]) == ("report.pdf", 1)
