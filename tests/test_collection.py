"""Questions about the documents themselves are answered from what the index knows, with sources, not abstained."""

from __future__ import annotations

import pytest

from agent.assistant import Assistant
from agent.collection import about_documents
from tests.fake_ollama import FakeOllama

FILES = ["harbour.md", "notes/market.txt"]


def test_what_is_in_these_documents_is_answered_from_every_files_opening(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    done = assistant.ask("What is in these documents?", "t").run()
    assert not done.abstained
    assert [(s["source"], s["relevance"]) for s in done.sources] == [
        ("harbour.md", "the opening of the file"),
        ("notes/market.txt", "the opening of the file"),
    ]
    assert done.sources[0]["text"].startswith("# The Quillmarsh Bell")
    prompt = fake_ollama.chat_prompts[-1]
    assert "The Quillmarsh Bell" in prompt and "Market day" in prompt  # the model reads both openings


def test_summarise_a_named_file_reads_the_opening_of_each_of_its_articles(assistant: Assistant) -> None:
    done = assistant.ask("Summarise harbour.md", "t").run()
    assert not done.abstained
    assert [(s["source"], s["article"]) for s in done.sources] == [("harbour.md", 1), ("harbour.md", 2)]
    assert {s["relevance"] for s in done.sources} == {"the opening of an article"}


def test_what_a_named_file_says_about_something_is_searched_in_that_file_alone(assistant: Assistant) -> None:
    done = assistant.ask("What does the market file say about the bay?", "t").run()
    assert {s["source"] for s in done.sources} == {"notes/market.txt"}
    assert "Fog usually lifts from the bay" in done.sources[0]["text"]


def test_a_limited_thread_gets_an_overview_of_its_own_documents_only(assistant: Assistant) -> None:
    assistant.ask("Who cast the Quillmarsh bell?", "t").run()
    assistant.set_scope("t", ["notes/market.txt"])
    done = assistant.ask("What is in these documents?", "t").run()
    assert [s["source"] for s in done.sources] == ["notes/market.txt"]
    named_elsewhere = assistant.ask("Summarise harbour.md", "t").run()  # not this thread's: an ordinary search
    assert {s["source"] for s in named_elsewhere.sources} <= {"notes/market.txt"}


@pytest.mark.parametrize(
    "question",
    [
        "Who cast the Quillmarsh bell?",
        "When is market day?",
        "What is in the harbour tower?",
        "When was the harbour wall built?",
        "What about the ferry?",
        "How heavy is it?",
        "What is the Saturday market known for?",
        "Summarise that in one line",
    ],
)
def test_ordinary_questions_are_not_taken_for_questions_about_the_documents(question: str) -> None:
    assert about_documents(question, FILES) is None


@pytest.mark.parametrize(
    ("question", "files", "topic"),
    [
        ("What is in these documents?", (), ""),
        ("Which files do I have?", (), ""),
        ("What are my documents about?", (), ""),
        ("Give me an overview of harbour.md", ("harbour.md",), ""),
        ("What is notes/market.txt about?", ("notes/market.txt",), ""),
        ("What's in the notes folder?", ("notes/market.txt",), ""),
        ("What does harbour.md say about ferries?", ("harbour.md",), "ferries"),
    ],
)
def test_questions_about_the_documents_are_recognised(question: str, files: tuple[str, ...], topic: str) -> None:
    about = about_documents(question, FILES)
    assert about is not None and (about.files, about.topic) == (files, topic)
