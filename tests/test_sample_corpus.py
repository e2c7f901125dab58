"""The shipped sample corpus is what the quick start promises: several files, articles, checkable facts."""

from pathlib import Path

from agent.assistant import Assistant
from agent.settings import load_settings
from knowledge.loader import load_folder
from tests.fake_ollama import FakeOllama

SAMPLE = Path(__file__).parents[1] / "rag_data"


def test_sample_corpus_has_several_files_of_several_articles() -> None:
    report = load_folder(SAMPLE)
    assert len(report.files) >= 3 and report.skipped == []
    assert any("/" in name for name in report.files)  # a subfolder, so loading is recursive
    articles = {name: sum(d.metadata["source"] == name for d in report.documents) for name in report.files}
    assert all(count >= 3 for count in articles.values()), articles
    words = sum(len(d.page_content.split()) for d in report.documents)
    assert 3000 <= words <= 6000


def test_a_sample_fact_reaches_the_prompt(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    app = Assistant(load_settings(ollama_host=fake_ollama.url, docs_dir=SAMPLE, home=tmp_path))
    app.ensure_index()
    turn = app.ask("Who skippered Brackwater?", "sample")
    turn.run()
    assert any(s["source"] == "harbour_ledger_summer.md" for s in turn.sources)
    assert "Jónas Thorvik" in fake_ollama.chat_prompts[-1]
