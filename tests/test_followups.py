"""Follow-ups: telling an instruction about the answer from a new question, and surviving a bad rewrite."""

from __future__ import annotations

import pytest

from agent.assistant import Assistant
from agent.followups import is_instruction
from agent.settings import Settings, load_settings
from agent.turns import Done
from tests.fake_ollama import FakeOllama, Fault, rewrite_request

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
    fake_ollama.respond(lambda body: "" if rewrite_request(body) else None)
    system = weigh_the_bell_as_a_follow_up(assistant, fake_ollama)[0]["content"]
    assert "weighs 612 kilograms" in system  # "How heavy is it?" alone names no bell; the earlier question did


def test_a_stalled_rewrite_times_out_and_the_turn_still_answers(settings: Settings, fake_ollama: FakeOllama) -> None:
    app = Assistant(load_settings(**{**settings.model_dump(), "timeout": 0.5}))
    app.ensure_index()
    fake_ollama.fault("/api/chat", Fault("stall", seconds=2), after=1)  # the first answer is quick; the rewrite hangs
    system = weigh_the_bell_as_a_follow_up(app, fake_ollama)[0]["content"]
    assert "weighs 612 kilograms" in system


# -- a rewrite is checked before it is trusted (agent.queries) ---------------------------------
MISBEHAVING = {
    "refuses": "I couldn't find this in your documents.",
    "answers": "The Quillmarsh bell weighs 612 kilograms [1].",
    "chats": "Sure! I'd be glad to help with that.",
    "another language": "¿Cuánto pesa la campana?",
    "nothing": "",
    "rambles": "Well, " + "the harbour had many things to say about it and more " * 10,
}


def follow_up_rewritten_as(app: Assistant, fake: FakeOllama, reply: str) -> tuple[Done, list[str]]:
    """Ask who cast the bell, then "How heavy is it?" with the model rewriting it as ``reply``.

    Returns the follow-up's result and the texts it sent for embedding (what it searched).
    """
    fake.respond(lambda body: reply if rewrite_request(body) else None)
    fake.enqueue("Oriel Vantongeren cast it [1].")
    app.ask("Who cast the Quillmarsh bell?", "t").run()
    searched = len(fake.embedded_texts)
    done = app.ask("How heavy is it?", "t").run()
    return done, fake.embedded_texts[searched:]


@pytest.mark.parametrize("reply", MISBEHAVING.values(), ids=MISBEHAVING.keys())
def test_a_misbehaving_rewrite_is_not_searched_and_the_follow_up_still_finds_the_passage(
    assistant: Assistant, fake_ollama: FakeOllama, reply: str
) -> None:
    done, queries = follow_up_rewritten_as(assistant, fake_ollama, reply)
    assert queries == ["search_query: How heavy is it? cast Quillmarsh bell Vantongeren"]
    assert not done.abstained and "612 kilograms" in done.sources[0]["text"]


@pytest.mark.parametrize(
    "fault", [Fault("status", status=500, message="runner crashed"), Fault("drop"), Fault("malformed")]
)
def test_a_failed_rewrite_call_falls_back_to_the_query_made_without_the_model(
    assistant: Assistant, fake_ollama: FakeOllama, fault: Fault
) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assistant.ask("Who cast the Quillmarsh bell?", "t").run()
    fake_ollama.fault("/api/chat", fault)  # the rewrite call
    done = assistant.ask("How heavy is it?", "t").run()
    assert done.query == "How heavy is it? cast Quillmarsh bell Vantongeren"
    assert not done.abstained and "612 kilograms" in done.sources[0]["text"]


@pytest.mark.parametrize(
    "reply",
    [
        "Sure! Here is the standalone question:\n\nHow heavy is the Quillmarsh bell?",
        'Query: "How heavy is the Quillmarsh bell?"',
        "**How heavy is the Quillmarsh bell?** (I replaced 'it' with the bell.)",
        "How heavy is the Quillmarsh bell?\nThis names the bell the user asked about.",
    ],
)
def test_a_good_rewrite_in_a_chatty_wrapper_is_cleaned_and_searched_first(
    assistant: Assistant, fake_ollama: FakeOllama, reply: str
) -> None:
    done, queries = follow_up_rewritten_as(assistant, fake_ollama, reply)
    assert done.query == "How heavy is the Quillmarsh bell?"
    assert queries == [
        "search_query: How heavy is the Quillmarsh bell?",
        "search_query: How heavy is it? cast Quillmarsh bell Vantongeren",
    ]


def test_a_change_of_topic_is_searched_on_its_own(assistant: Assistant, fake_ollama: FakeOllama) -> None:
    fake_ollama.enqueue("Oriel Vantongeren cast it [1].")
    assistant.ask("Who cast the Quillmarsh bell?", "t").run()
    searched = len(fake_ollama.embedded_texts)
    done = assistant.ask("Now, something else: when does the morning ferry to Dunlow leave?", "t").run()
    assert fake_ollama.embedded_texts[searched:] == ["search_query: when does the morning ferry to Dunlow leave?"]
    assert "07:15" in done.sources[0]["text"]
