"""No wasted places among the k passages: neighbouring or overlapping chunks of one passage are one source."""

from __future__ import annotations

from pathlib import Path

from agent.assistant import Assistant
from agent.settings import load_settings
from tests.fake_ollama import FakeOllama

PARAGRAPHS = [
    "The tide mill at Quillmarsh grinds oats on every spring tide.",
    "The tide mill wheel was replaced in 1911 after the great flood.",
    "The tide mill keeper rings a bell before the sluice opens.",
]
NOTES = (
    "# Mill notes\n\n" + "\n\n".join(PARAGRAPHS) + "\n\n---\n\n# Other notes\n\nThe tide mill shop sells oatcakes.\n"
)
LONG = (
    "Herring boats leave the harbour at dawn. Herring boats return by noon with the catch. "
    "Herring boats are painted blue and white. Herring boats carry a crew of four. "
    "Herring boats once numbered forty. Herring boats now number six."
)


def build(fake: FakeOllama, tmp_path: Path, files: dict[str, str], chunk_size: int, overlap: int = 0) -> Assistant:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in files.items():
        (docs / name).write_text(text, encoding="utf-8")
    settings = load_settings(
        ollama_host=fake.url, docs_dir=docs, home=tmp_path / "home", chunk_size=chunk_size, chunk_overlap=overlap
    )
    app = Assistant(settings)
    app.ensure_index()
    return app


def test_neighbouring_chunks_of_one_article_take_one_place_and_read_as_the_file_does(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    app = build(fake_ollama, tmp_path, {"mill.md": NOTES}, chunk_size=80)
    assert app.load_index().chunk_count >= 4  # each paragraph a chunk of its own
    found = app.search("tide mill", k=2, mode="keyword")
    assert len(found) == 2
    text = NOTES
    for doc in found:  # a joined passage is still the file's own text, lines and all
        start = doc.metadata["start_index"]
        assert text[start : start + len(doc.page_content)] == doc.page_content
        first, last = doc.metadata["line_start"], doc.metadata["line_end"]
        assert "\n".join(text.splitlines()[first - 1 : last]) == doc.page_content
    joined = found[0] if found[0].metadata.get("chunks", 1) > 1 else found[1]
    assert joined.metadata["chunks"] >= 2
    assert "\n\n".join(PARAGRAPHS[:2]) in joined.page_content or "\n\n".join(PARAGRAPHS[1:]) in joined.page_content
    other = [doc for doc in found if doc is not joined][0]
    assert (
        other.metadata.get("article") != joined.metadata.get("article") or other.page_content not in joined.page_content
    )


def test_another_articles_next_chunk_is_not_joined(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    app = build(fake_ollama, tmp_path, {"mill.md": NOTES}, chunk_size=80)
    for doc in app.search("tide mill", k=5, mode="keyword"):
        assert not ("Mill notes" in doc.page_content and "Other notes" in doc.page_content)


def test_overlapping_chunks_are_one_passage_with_no_sentence_twice(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    app = build(fake_ollama, tmp_path, {"boats.txt": LONG}, chunk_size=90, overlap=45)
    assert app.load_index().chunk_count >= 3
    [passage] = app.search("herring boats", k=1, mode="keyword")
    assert passage.metadata["chunks"] >= 2
    for sentence in LONG.split(". "):
        assert passage.page_content.count(sentence.rstrip(".")) <= 1
    start = passage.metadata["start_index"]
    assert LONG[start : start + len(passage.page_content)] == passage.page_content


def test_k_places_hold_k_different_passages(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    app = build(fake_ollama, tmp_path, {"mill.md": NOTES, "boats.txt": LONG}, chunk_size=80)
    found = app.search("tide mill herring boats", k=3, mode="hybrid")
    spans = [(d.metadata["source"], d.metadata["start_index"], len(d.page_content)) for d in found]
    for n, (source, start, length) in enumerate(spans):
        for other_source, other_start, other_length in spans[n + 1 :]:
            if source == other_source:  # two places of one file: apart, or too long together (2 × 80)
                apart = other_start > start + length + 2 or start > other_start + other_length + 2
                assert apart or max(start + length, other_start + other_length) - min(start, other_start) > 160
