import pytest

from agent.citations import CitationStream, clean_citations


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("Tall [1].", 2, "Tall [1]."),
        ("Tall [3].", 2, "Tall."),
        ("Tall [1][3] and old [2].", 2, "Tall [1] and old [2]."),
        ("See [1, 9, 2].", 2, "See [1, 2]."),
        ("No sources [1].", 0, "No sources."),
        ("A list [a] and [ ] stay.", 2, "A list [a] and [ ] stay."),
        ("Year [1871] is not a citation we keep.", 3, "Year is not a citation we keep."),
        ("Adjacent [9][2] groups.", 2, "Adjacent [2] groups."),
        ("Long [" + "1" * 50 + "] is not a citation.", 2, "Long [" + "1" * 50 + "] is not a citation."),
    ],
)
def test_clean_citations(text: str, count: int, expected: str) -> None:
    assert clean_citations(text, count) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Tall [1], built 1871 [4]. Both [1, 4].",
        "Odd [ tokens ] and arrays like [1,2,3] or [x] stay  put [2]",
        "Trailing spaces   ",
        "Open bracket at the end [",
        "[7] at the start, [1] later",
        "Long [123456789012345678901234567890 not closed",
        "Runs [9][1] [3] [2]\n[1]",
    ],
)
@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_streaming_gives_exactly_the_cleaned_text(text: str, size: int) -> None:
    stream = CitationStream(2)
    pieces = [stream.feed(text[i : i + size]) for i in range(0, len(text), size)] + [stream.flush()]
    assert "".join(pieces) == clean_citations(text, 2)


def test_valid_text_is_not_held_back_longer_than_needed() -> None:
    stream = CitationStream(2)
    assert stream.feed("The tower") == "The tower"
    assert stream.feed(" is ") == " is"
    assert stream.feed("34 m [") == " 34 m"
    assert stream.feed("1]") == ""  # a further "[" could still extend the run
    assert stream.feed(".") == " [1]."
