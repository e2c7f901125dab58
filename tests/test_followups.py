import pytest

from agent.followups import is_instruction

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
