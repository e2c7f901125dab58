"""The shipped sample corpus is what the quick start promises: several files, articles, checkable facts."""

from pathlib import Path

from agent.assistant import Assistant
from agent.settings import load_settings
from knowledge.loader import load_file
from knowledge.scan import scan
from tests.fake_ollama import FakeOllama

SAMPLE = Path(__file__).parents[1] / "rag_data"


def test_sample_corpus_has_several_files_of_several_articles() -> None:
    found = scan([SAMPLE], SAMPLE)
    assert len(found.files) >= 3 and found.skipped == []
    documents = {source: load_file(path, source) for path, source in found.files}
    assert any("/" in name for name in documents)  # a subfolder, so finding is recursive
    articles = {name: len(docs) for name, docs in documents.items()}
    assert all(count >= 3 for count in articles.values()), articles
    words = sum(len(d.page_content.split()) for docs in documents.values() for d in docs)
    assert 3000 <= words <= 6000


def test_a_sample_fact_reaches_the_prompt(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    app = Assistant(load_settings(ollama_host=fake_ollama.url, docs_dir=SAMPLE, home=tmp_path))
    app.ensure_index()
    done = app.ask("Who skippered Brackwater?", "sample").run()
    assert any(s["source"] == "harbour_ledger_summer.md" for s in done.sources)
    assert "Jónas Thorvik" in fake_ollama.chat_prompts[-1]
