"""Durable threads: SQLite checkpoints and the registry, across processes; rename, delete, export."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.assistant import Assistant
from agent.settings import Settings
from knowledge.errors import RagchatError
from tests.fake_ollama import FakeOllama
from tests.test_markup import R, active, hostile_markdown
from tests.test_ui import visible
from ui.cli import main

ROOT = Path(__file__).parents[1]


def test_threads_survive_a_new_assistant(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assistant.ask("Who cast the Quillmarsh bell?", "bells").run()
    restarted = Assistant(assistant.settings)
    assert [m.content for m in restarted.history("bells")] == [
        "Who cast the Quillmarsh bell?",
        "Oriel Vantongeren cast it [1].",
    ]
    assert restarted.history("bells")[-1].additional_kwargs["sources"][0]["source"] == "harbour.md"
    fake_ollama.enqueue("When was the Quillmarsh bell cast", "In 1743 [1].")
    restarted.ask("When was that?", "bells").run()
    answer = fake_ollama.calls("/api/chat")[-1]["messages"]
    assert [m["content"] for m in answer[1:3]] == ["Who cast the Quillmarsh bell?", "Oriel Vantongeren cast it [1]."]


def test_registry_lists_threads_newest_first_with_titles_and_counts(assistant: Assistant) -> None:
    assistant.ask("Who cast the Quillmarsh bell?", "a").run()
    assistant.ask("When does the ferry to Dunlow leave?", "b").run()
    assistant.ask("How heavy is the Quillmarsh bell?", "a").run()
    threads = Assistant(assistant.settings).threads()
    assert [(t.id, t.title, t.messages) for t in threads] == [
        ("a", "Who cast the Quillmarsh bell?", 4),
        ("b", "When does the ferry to Dunlow leave?", 2),
    ]
    assert threads[0].created_at <= threads[0].updated_at


def test_rename_keeps_the_history(assistant: Assistant) -> None:
    assistant.ask("Who cast the Quillmarsh bell?", "a").run()
    assistant.rename_thread("a", "  Bell   research ")
    reopened = Assistant(assistant.settings)
    assert reopened.threads()[0].title == "Bell research"
    assert len(reopened.history("a")) == 2


def test_delete_removes_the_thread_and_its_checkpoints(assistant: Assistant) -> None:
    assistant.ask("Who cast the Quillmarsh bell?", "a").run()
    assistant.ask("Which ferry goes to Dunlow?", "b").run()
    assistant.delete_thread("a")
    reopened = Assistant(assistant.settings)
    assert reopened.history("a") == [] and [t.id for t in reopened.threads()] == ["b"]
    assert len(reopened.history("b")) == 2


def test_unknown_thread_is_a_clear_error(assistant: Assistant) -> None:
    for action in (lambda: assistant.delete_thread("nope"), lambda: assistant.export_thread("nope")):
        with pytest.raises(RagchatError, match="There is no thread 'nope' — `ragchat threads` lists them."):
            action()
    with pytest.raises(RagchatError, match="no thread 'nope'"):
        assistant.rename_thread("nope", "x")


def test_export_is_markdown_with_sources(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assistant.ask("Who cast the Quillmarsh bell?", "a").run()
    markdown = assistant.export_thread("a")
    assert markdown.startswith("# Who cast the Quillmarsh bell?\n\nThread `a` · started ")
    assert (
        "## Question\n\nWho cast the Quillmarsh bell?\n\n## Answer\n\nOriel Vantongeren cast it [1].\n\n"
        "Sources:\n\n1. harbour.md · article 1 “The Quillmarsh Bell”"
    ) in markdown


def test_an_export_of_hostile_text_makes_a_markdown_viewer_load_nothing(
    settings: Settings, fake_ollama: FakeOllama
) -> None:
    (settings.docs_dir / "lanterns.txt").write_text("Quillmarsh lantern festival.\n\n" + hostile_markdown(R))
    app = Assistant(settings)
    app.ensure_index()
    fake_ollama.enqueue(hostile_markdown(R))
    question = f"![asked]({R}/question.png) <img src={R}/q.png> When is the Quillmarsh lantern festival?"
    app.ask(question, "t").run()
    markdown = app.export_thread("t")
    assert active(markdown) == []  # a viewer that renders images and HTML (VS Code, Obsidian) fetches nothing
    shown = visible(markdown)
    assert "lanterns.txt" in shown  # a hostile document's snippet is among the sources
    assert shown.startswith(f"![asked]({R}/question.png) <img src={R}/q.png>")  # the title, as the sidebar shows it
    assert f"asked (image: {R}/question.png) <img src={R}/q.png> When is the Quillmarsh" in shown
    assert f"inline alt (image: {R}/inline.png?data=secret)" in shown
    assert f'<img src="{R}/raw-img.png" alt="raw">' in shown


def test_memory_setting_keeps_nothing_on_disk(settings: Settings) -> None:
    app = Assistant(Settings(**{**settings.model_dump(), "memory": True}))
    app.ensure_index()
    app.ask("Who cast the Quillmarsh bell?", "a").run()
    assert not (settings.home / "threads.sqlite").exists()
    assert Assistant(Settings(**{**settings.model_dump(), "memory": True})).history("a") == []


def test_cli_threads_commands(env: Settings, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["ask", "--thread", "t1", "Who cast the Quillmarsh bell?"]) == 0
    assert main(["threads", "rename", "t1", "Bells"]) == 0
    capsys.readouterr()
    assert main(["threads"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "title", "messages", "updated", "(UTC)"]
    assert lines[1].split()[:3] == ["t1", "Bells", "2"]
    assert main(["threads", "export", "t1", "-o", str(tmp_path / "t1.md")]) == 0
    assert (tmp_path / "t1.md").read_text().startswith("# Bells\n")
    assert main(["threads", "delete", "t1"]) == 0
    assert main(["threads", "delete", "t1"]) == 1
    assert "There is no thread 't1'" in capsys.readouterr().err


def test_ask_without_thread_says_how_to_continue(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "Who cast the Quillmarsh bell?"]) == 0
    hint = capsys.readouterr().err.splitlines()[-1]
    assert hint.startswith("(thread ask-") and "continue it with: ragchat ask --thread ask-" in hint


def test_two_processes_continue_the_same_thread(env: Settings, fake_ollama: FakeOllama) -> None:
    environment = {**os.environ, "OLLAMA_HOST": fake_ollama.url}

    def ask(question: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "ui.cli", "ask", "--thread", "shared", question]
        return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=120)

    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assert ask("Who cast the Quillmarsh bell?").returncode == 0
    fake_ollama.enqueue("When was the Quillmarsh bell cast", "In 1743 [1].")
    second = ask("When was that?")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("In 1743 [1].")
    answer = fake_ollama.calls("/api/chat")[-1]["messages"]
    assert [m["content"] for m in answer[1:]] == [
        "Who cast the Quillmarsh bell?",
        "Oriel Vantongeren cast it [1].",
        "When was that?",
    ]
