"""Follow-ups: telling an instruction about the answer from a new question, and surviving a bad rewrite."""

from __future__ import annotations

import pytest

from agent.assistant import Assistant
from agent.followups import is_instruction
from agent.settings import Settings, load_settings
from tests.fake_ollama import FakeOllama, Fault, one_line_request

INSTRUCTIONS = [
    "shorten that to 20 words",
    "Shorten it",
    "translate the answer to Dutch",
    "Translate to German, please",
    "summarise it",
    "make it a list",
    "Can you rephrase that?",
    "put that in a table",
    "shorter please",
    "in one sentence",
    "Now in French",
    "Say that again more simply",
    "rewrite your answer as bullet points",
    "explain it more simply",
    "tl;dr",
    "as a numbered list",
]
QUESTIONS = [
    "and who built it?",
    "who built it",
    "What about the ferry?",
    "Summarise the lighthouse article",
    "Translate 'Gannet Point' into Gaelic place names from the guide",
    "How tall is it?",
    "When was that?",
    "Make a list of all the boats in the regatta",
    "Explain the council vote",
    "What does the guide say about bread?",
    "",
]


@pytest.mark.parametrize("message", INSTRUCTIONS)
def test_instructions_about_the_answer(message: str) -> None:
    assert is_instruction(message)


@pytest.mark.parametrize("message", QUESTIONS)
def test_new_questions(message: str) -> None:
    assert not is_instruction(message)


def weigh_the_bell_as_a_follow_up(app: Assistant, fake: FakeOllama) -> list[dict]:
    """Ask who cast the bell, then "How heavy is it?"; return the messages of the follow-up's answer call."""
    fake.enqueue("Oriel Vantongeren cast it [1].")
    app.ask("Who cast the Quillmarsh bell?", "t").run()
    fake.enqueue("It weighs 612 kilograms [1].")
    assert app.ask("How heavy is it?", "t").run().answer == "It weighs 612 kilograms [1]."
    return fake.calls("/api/chat")[-1]["messages"]


def test_an_empty_rewrite_falls_back_to_the_conversation_and_still_finds_the_passage(
    assistant: Assistant, fake_ollama: FakeOllama
) -> None:
    fake_ollama.respond(lambda body: "" if one_line_request(body) else None)
    system = weigh_the_bell_as_a_follow_up(assistant, fake_ollama)[0]["content"]
    assert "weighs 612 kilograms" in system  # "How heavy is it?" alone names no bell; the earlier question did


def test_a_stalled_rewrite_times_out_and_the_turn_still_answers(settings: Settings, fake_ollama: FakeOllama) -> None:
    app = Assistant(load_settings(**{**settings.model_dump(), "timeout": 0.5}))
    app.ensure_index()
    fake_ollama.fault("/api/chat", Fault("stall", seconds=2), after=1)  # the first answer is quick; the rewrite hangs
    system = weigh_the_bell_as_a_follow_up(app, fake_ollama)[0]["content"]
    assert "weighs 612 kilograms" in system
