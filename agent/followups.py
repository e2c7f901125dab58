"""Tell a request about the previous answer ("shorten that", "in Dutch please") from a new question.

An instruction about the previous answer must not trigger retrieval: searching the
documents for "make it a list" finds nothing useful and derails the answer. The rule is
deliberately conservative: after removing an editing verb, politeness, words that point
at the answer ("it", "that", "the answer") and formatting targets ("to 20 words", "in
Dutch", "as a table"), nothing may be left. "Summarise the ferry article" keeps "the
ferry article" and is a question; "summarise it" is an instruction. What this rule
misses, the rewrite model can still flag (``NO_SEARCH``).

It also decides which stored messages are the conversation the model reads
(:func:`conversation`): a search-only exchange is the user's record, not a turn the model took.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

LANGUAGES = (
    "english dutch flemish french german spanish italian portuguese polish swedish norwegian danish finnish "
    "icelandic czech slovak hungarian romanian greek turkish russian ukrainian chinese mandarin japanese korean "
    "arabic hebrew hindi welsh irish catalan basque estonian latvian lithuanian croatian serbian slovenian"
).split()
_LANG = "(?:" + "|".join(LANGUAGES) + ")"
_NUM = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a|a few|fewer|less than \d+|under \d+)"
_FORMS = (
    r"(?:bullet(?:ed)?\s+(?:list|points?)|numbered\s+list|list|table|summary|tl;?dr|paragraph|sentences?|"
    r"lines?|words?|points?|tweet|email|haiku|poem|json|markdown)"
)

VERBS = re.compile(
    r"\b(?:shorten|summari[sz]e|translate|rephrase|reword|rewrite|simplify|condense|paraphrase|"
    r"make|put|turn|format|say|write|explain|give\s+me|repeat|expand|elaborate(?:\s+on)?|try)\b",
    re.IGNORECASE,
)
POINTERS = re.compile(
    r"\b(?:it|that|this|those|these|them|the\s+(?:last\s+|previous\s+)?answer|your\s+(?:last\s+|previous\s+)?answer|"
    r"the\s+above|above|the\s+same|what\s+you\s+(?:just\s+)?said)\b",
    re.IGNORECASE,
)
MODIFIERS = re.compile(
    "|".join(
        [
            rf"\b(?:to|in|into)\s+(?:plain\s+|simple\s+)?{_LANG}\b",
            rf"\b(?:to|in|into|as|with|using|under|within|at\s+most)\s+(?:a\s+|an\s+)?{_NUM}?\s*{_FORMS}\b",
            rf"\b{_NUM}\s+{_FORMS}\b",
            rf"\b(?:as|into|in)\s+(?:a\s+|an\s+)?{_FORMS}\b",
            r"\btl;?dr\b",
            r"\b(?:shorter|longer|simpler|clearer|briefer|more\s+\w+|less\s+\w+|simply|briefly|again|differently|"
            r"in\s+(?:plain|simple)\s+(?:terms|words|english)|for\s+a\s+(?:child|kid|beginner)|"
            r"please|pls|for\s+me|now|then|instead|thanks|thank\s+you|can\s+you|could\s+you|would\s+you|"
            r"will\s+you|i\s+(?:want|would\s+like)\s+(?:you\s+to|it)|and|but|just|only|up|down|out|of|to|a|an)\b",
        ]
    ),
    re.IGNORECASE,
)
LEFTOVER = re.compile(r"[\s\W_]+")


def is_instruction(message: str) -> bool:
    """Return whether ``message`` only asks to change the previous answer.

    >>> is_instruction("Shorten that to 20 words"), is_instruction("and who built it?")
    (True, False)
    >>> is_instruction("Summarise the ferry article"), is_instruction("in Dutch please")
    (False, True)
    """
    text = message.strip()
    if not text or len(text) > 200:
        return False
    had_verb = bool(VERBS.search(text))
    rest = VERBS.sub(" ", text)
    had_pointer = bool(POINTERS.search(rest))
    rest = POINTERS.sub(" ", rest)
    before = rest
    rest = MODIFIERS.sub(" ", rest)
    had_modifier = rest != before
    if LEFTOVER.sub("", rest):
        return False  # something new is being asked about
    return had_modifier or (had_verb and had_pointer) or (had_verb and len(text.split()) <= 3)


def conversation(messages: list[BaseMessage]) -> list[BaseMessage]:
    """Return ``messages`` without search-only exchanges: what the model may read as the conversation.

    A search-only reply (``additional_kwargs["search_only"]``, stored when no chat model could
    answer) holds a label and passages, not an answer; shown to the model as one, it would be
    copied or built upon. Its question goes with it, so no question is left unanswered.

    >>> from langchain_core.messages import AIMessage, HumanMessage
    >>> found = AIMessage("Search-only.", additional_kwargs={"search_only": True})
    >>> kept = conversation([HumanMessage("a?"), AIMessage("A."), HumanMessage("b?"), found, HumanMessage("c?")])
    >>> [m.content for m in kept]
    ['a?', 'A.', 'c?']
    """
    kept: list[BaseMessage] = []
    for message in messages:
        if message.type == "ai" and message.additional_kwargs.get("search_only"):
            if kept and kept[-1].type == "human":
                kept.pop()
            continue
        kept.append(message)
    return kept
