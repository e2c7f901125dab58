"""What a turn searches for: the model's rewrite, checked before it is trusted, beside a query built without it.

A follow-up ("and who built it?") cannot be searched as typed. The rewrite step asks the chat
model for a standalone query, but a model does not always give one: it refuses, answers
the question, chats ("Sure! Here is the query:"), switches language or says nothing. So:

* :func:`check_rewrite` cleans the reply (labels, quotes, bullets, a trailing explanation)
  and rejects it, with a reason, when it is empty, too long, a refusal, an answer rather than
  a query, or about words the conversation never used.
* :func:`history_query` builds a query without any model: the message's own words, plus,
  only when the message leans on what came before (a pronoun, "what about…", two words),
  the previous search's words and the names in the previous answer, rarest first by the
  index's own IDF. A message that stands on its own ("Now, something else: when was the
  harbour wall built?") is searched alone, so a change of topic is not dragged back.
* :func:`search_queries` lists what to search: the checked rewrite (when accepted) and the
  history query, fused by the index (:meth:`knowledge.index.KnowledgeIndex.search`), so a
  good rewrite lifts recall and a bad one cannot sink it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from knowledge.keyword import terms

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

Rarity = Callable[[Sequence[str]], list[float]]
"""How rare each word is in the indexed documents (IDF); unknown words count as rarest."""

MAX_REWRITE_WORDS = 40
MAX_NEW_WORDS = 0.5
"""A rewrite whose content words are more than half new to the conversation is an answer or another topic."""
SALIENT_TERMS = 6
"""Words a follow-up borrows from the previous turn at most."""

_LABEL = re.compile(
    r"^(?:(?:sure|okay|ok|certainly|of course|got it|here(?:'s| is| you go)?|the|a|an|my|your|this|is|new|"
    r"standalone|rewritten|reformulated|search|query|question|version|follow-?up|would be|be)[\s,!.]*)+:\s*",
    re.IGNORECASE,
)
_CHATTER = re.compile(
    r"^(?:sure|okay|ok|certainly|of course|got it|here(?:'s| is| you go)|great question)\b[^:?]*?[.!:]?$",
    re.IGNORECASE,
)
_DECORATION = re.compile(r"^(?:[-*>#•]+|\d+[.)])\s*|\*\*|__|`")
_QUOTES = "\"'“”‘’«»`"
_AFTERWORD = re.compile(r"\s+(?:\([^()]*\)|\[[^\]]*\]|—.*|--.*|-\s+(?:this|i|the|here|it)\b.*)$", re.IGNORECASE)
_REFUSAL = re.compile(
    r"^(?:i\s*(?:could\s*not|couldn'?t|can\s*not|can'?t|cannot|am\s+(?:not|unable|sorry)|'?m\s+(?:not|unable|sorry)|"
    r"do\s*n[o']t|did\s*n[o']t|have\s+no|apologi[sz]e)|sorry|unfortunately|as\s+an\s+ai|there\s+(?:is|are)\s+no|"
    r"no\s+(?:information|relevant|answer)|(?:the\s+)?(?:documents?|sources?|context)\s+(?:do(?:es)?\s*n[o']t|"
    r"did\s*n[o']t))",
    re.IGNORECASE,
)
_CITATION = re.compile(r"\[\d+\]")
_LEANS = re.compile(
    r"\b(?:it|its|itself|he|him|his|she|her|hers|they|them|their|theirs|that|this|those|these|there|then|"
    r"one|ones|former|latter|same|else|other|another)\b|^\s*(?:and|but|also|so|or|what about|how about|"
    r"and what|what else)\b",
    re.IGNORECASE,
)
_SHIFT = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|now|right|also|next|anyway|and)[\s,]+)*(?:something\s+(?:else|different)|another\s+"
    r"(?:question|thing|topic)|a\s+different\s+(?:question|topic)|(?:a\s+)?new\s+(?:question|topic)|"
    r"change\s+of\s+(?:subject|topic)|unrelated|on\s+another\s+note|different\s+subject)\s*[:,.;!?—-]*\s*",
    re.IGNORECASE,
)


def clean_rewrite(reply: str) -> str:
    r"""Return the query in a rewrite reply: the first line that is not chatter, without labels and decoration.

    >>> clean_rewrite('Sure! Here is the standalone question:\n\n"Who designed Gannet Point Light?"')
    'Who designed Gannet Point Light?'
    >>> clean_rewrite("Query: ferry fare to Inchcaddon (I replaced 'it' with the ferry)")
    'ferry fare to Inchcaddon'
    """
    for line in reply.splitlines():
        text = _DECORATION.sub("", line.strip()).strip()
        text = _LABEL.sub("", text).strip().strip(_QUOTES).strip()
        if not text or _CHATTER.match(text):
            continue
        if "?" in text[:-1] and len(text[: text.index("?") + 1].split()) >= 3:
            text = text[: text.index("?") + 1]  # a question, then an explanation of it
        return _AFTERWORD.sub("", text).strip().strip(_QUOTES).strip()
    return ""


def check_rewrite(reply: str, message: str, recent: Sequence[str]) -> tuple[str | None, str]:
    """Return ``(query, "")`` for a usable rewrite, or ``(None, why)`` for one that must not be searched.

    ``recent`` holds the texts of the recent turns the rewrite may draw words from.

    >>> check_rewrite("Who designed Gannet Point Light?", "who built it?", ["How tall is Gannet Point Light?"])
    ('Who designed Gannet Point Light?', '')
    >>> check_rewrite("I couldn't find this in your documents.", "who built it?", ["How tall is the light?"])
    (None, 'a refusal')
    >>> check_rewrite("It was designed by Tobias Wrayburn-Hale in 1869 [1].", "who built it?", ["How tall is it?"])
    (None, 'an answer, not a query')
    """
    text = clean_rewrite(reply)
    if not text:
        return None, "empty"
    if _REFUSAL.match(text):
        return None, "a refusal"
    if len(text.split()) > MAX_REWRITE_WORDS or len(text) > max(300, 3 * len(message)):
        return None, "too long"
    if _CITATION.search(text) or len(re.findall(r"[.!?](?:\s|$)", text)) > 1:
        return None, "an answer, not a query"
    wanted = terms(text)
    known = terms(" ".join([message, *recent]))
    if not wanted:
        return None, "no content words"
    if not wanted & known:
        return None, "shares no word with the conversation"
    new = wanted - known
    if len(new) > MAX_NEW_WORDS * len(wanted):
        return None, "an answer, not a query" if text.rstrip().endswith(".") else "words the conversation never used"
    return text, ""


def stands_alone(message: str) -> bool:
    """Return whether ``message`` can be searched as typed: no pronoun, no "what about…", enough words.

    >>> stands_alone("When was the harbour wall built?"), stands_alone("and who built it?")
    (True, False)
    >>> stands_alone("Now, something else: when was the harbour wall built?"), stands_alone("And in winter?")
    (True, False)
    """
    rest = _SHIFT.sub("", message)
    if rest != message:
        return bool(terms(rest))
    return not _LEANS.search(message) and len(terms(message)) >= 2


def own_words(message: str) -> str:
    """Return ``message`` without a change-of-topic lead-in ("Now, something else:")."""
    return _SHIFT.sub("", message).strip() or message.strip()


def history_query(message: str, history: Sequence[BaseMessage], rarity: Rarity) -> str:
    """Return a query for ``message`` built without a model: its own words, plus the previous turn's when needed.

    The previous turn's words are its search query (already standalone) and the names in its
    answer (an abstention has none), rarest first by ``rarity``, at most :data:`SALIENT_TERMS`.
    """
    text = own_words(message)
    if stands_alone(message) or not history:
        return text
    previous_query, previous_answer = previous_turn(history)
    have = terms(text)
    candidates: list[str] = []
    for word in re.findall(r"[\w'’-]+", previous_query) + names(previous_answer):
        stem = terms(word)
        if stem and not stem <= have and word not in candidates:
            candidates.append(word)
            have |= stem
    if not candidates:
        return text
    scores = rarity(candidates)
    chosen = sorted(range(len(candidates)), key=lambda n: -scores[n])[:SALIENT_TERMS]
    return " ".join([text, *(candidates[n] for n in sorted(chosen))])


def previous_turn(history: Sequence[BaseMessage]) -> tuple[str, str]:
    """Return the previous turn's search query (else its question) and its answer (empty if it abstained)."""
    query = answer = ""
    for message in reversed(history):
        if message.type == "ai" and not answer and not query:
            kwargs = message.additional_kwargs
            query = str(kwargs.get("query") or "")
            answer = "" if kwargs.get("abstained") else str(message.content)
        elif message.type == "human":
            return query or str(message.content), answer
    return query, answer


def names(text: str) -> list[str]:
    """Return the capitalised words of ``text`` that do not start a sentence, and its numbers.

    >>> names("It was designed by Tobias Wrayburn-Hale in 1869. He lived in Fellock [1].")
    ['Tobias', 'Wrayburn-Hale', '1869', 'Fellock']
    """
    text = _CITATION.sub(" ", text)
    words: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        for n, word in enumerate(re.findall(r"[\w'’-]+", sentence)):
            if (n and word[0].isupper()) or any(c.isdigit() for c in word):
                words.append(word)
    return words


def search_queries(message: str, rewrite: str | None, deterministic: str) -> list[str]:
    """Return what to search, best guess first: the accepted rewrite, the history query, the message itself.

    The message is searched on its own only when it stands alone; duplicates are dropped.
    """
    queries = [rewrite] if rewrite else []
    queries.append(deterministic)
    if stands_alone(message):
        queries.append(own_words(message))
    return list(dict.fromkeys(q for q in queries if q.strip()))
