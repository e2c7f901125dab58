"""Shape retrieved chunks for the prompt and for display, and keep the prompt inside the context window."""

from __future__ import annotations

import math
from typing import Any

from langchain_core.documents import Document
from langchain_core.messages import BaseMessage, trim_messages

from agent.prompts import NO_SOURCES, NOT_FOUND_ANSWER, RULES, SOURCE_BLOCK, SYSTEM_PROMPT

CHARS_PER_TOKEN = 3.0
"""Token estimate: English averages ~4 characters per Llama 3 token; 3 leaves headroom
for numbers, names and other languages, so an estimated prompt never overflows."""

SNIPPET_CHARS = 160


def estimate_tokens(text: str) -> int:
    """Estimate tokens in ``text`` (see :data:`CHARS_PER_TOKEN`)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def count_message_tokens(messages: list[BaseMessage]) -> int:
    """Estimate tokens for chat messages, with a few tokens of role framing each."""
    return sum(estimate_tokens(str(m.content)) + 4 for m in messages)


def format_docs(documents: list[Document]) -> str:
    """Number and fence chunks, so the model can cite them and not mistake them for instructions.

    >>> print(format_docs([Document("Tide at 06:40.", metadata={"source": "t.md", "article": 2})]))
    <source id="1" file="t.md" article="2">
    Tide at 06:40.
    </source>
    """
    if not documents:
        return NO_SOURCES
    return "\n\n".join(
        SOURCE_BLOCK.format(
            number=n,
            file=_attribute(doc.metadata.get("source", "?")),
            where=_where(doc.metadata),
            # A document cannot close its own fence and smuggle text outside it.
            text=doc.page_content.replace("</source", "<\\/source"),
        )
        for n, doc in enumerate(documents, start=1)
    )


def system_prompt(documents: list[Document], rules: str | None = None) -> str:
    """Return the system prompt: ``rules`` (default :data:`~agent.prompts.RULES`) then the fenced sources."""
    rules = rules if rules is not None else RULES.format(not_found=NOT_FOUND_ANSWER)
    return SYSTEM_PROMPT.format(rules=rules, sources=format_docs(documents))


def source_record(number: int, doc: Document) -> dict[str, Any]:
    """Return what the UI shows for one source: number, file, article, title, offset, score, snippet."""
    meta = doc.metadata
    return {
        "number": number,
        "source": meta.get("source", ""),
        "article": meta.get("article"),
        "page": meta.get("page"),
        "title": meta.get("title", ""),
        "start_index": meta.get("start_index"),
        "score": meta.get("score"),
        "snippet": snippet(doc.page_content),
    }


def source_label(source: dict[str, Any]) -> str:
    """Return ``file · article n “title” (score 0.83)`` for one source record.

    >>> source_label({"source": "a.md", "article": 2, "title": "Tides", "score": 0.5})
    'a.md · article 2 “Tides” (score 0.50)'
    """
    label = str(source.get("source", ""))
    if source.get("page") is not None:
        label += f" · page {source['page']}"
    if source.get("article") is not None:
        label += f" · article {source['article']}"
    if source.get("title"):
        label += f" “{source['title']}”"
    if source.get("score") is not None:
        label += f" (score {source['score']:.2f})"
    return label


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    r"""Collapse whitespace and cut at a word boundary near ``limit`` characters.

    >>> snippet("The   ferry\nleaves at nine.", 15)
    'The ferry…'
    """
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + "…"


def fit_history(
    history: list[BaseMessage],
    documents: list[Document],
    question: str,
    num_ctx: int,
    num_predict: int,
    rules: str | None = None,
) -> tuple[list[BaseMessage], list[Document]]:
    """Drop the weakest sources, then the oldest turns, until the prompt fits the context window.

    Room is kept for the answer (``num_predict``). The question itself is never cut.
    Sources come first because the answer must rest on them; history only explains
    what the question means.
    """
    budget = num_ctx - num_predict - estimate_tokens(question) - 8
    documents = list(documents)
    while documents and estimate_tokens(system_prompt(documents, rules)) > budget:
        documents.pop()  # retrieval order is best first, so the weakest goes
    remaining = budget - estimate_tokens(system_prompt(documents, rules))
    if remaining <= 0 or not history:
        return [], documents
    kept = trim_messages(
        history,
        max_tokens=remaining,
        token_counter=count_message_tokens,
        strategy="last",
        start_on="human",
        allow_partial=False,
    )
    return kept, documents


def _where(metadata: dict[str, Any]) -> str:
    if metadata.get("page") is not None:
        return f'page="{metadata["page"]}"'
    return f'article="{metadata.get("article", "?")}"'


def _attribute(value: Any) -> str:
    return str(value).replace('"', "'").replace("\n", " ")
