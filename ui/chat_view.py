"""The Chat page: the conversation of the thread in the URL, its sources, and the question box.

``streamlit run ui/app.py`` runs this file as the Chat page (``st.navigation``, the default page).
``answer`` consumes a turn: it streams the answer, showing each step, then the sources. Without a
model, a question gets the best keyword matches instead (search-only mode). Answers keep their
Markdown structure but pass through ``agent.markup.safe_markdown``, so no answer or source can make
the browser load anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import streamlit as st

from agent.assistant import Assistant
from agent.chat_model import Health
from agent.markup import drafts, safe_markdown
from agent.prompts import ABSTAIN_ANSWER
from agent.sources import lines_label, passage, source_label
from agent.turns import Done, Event, Failed, Status, Token
from knowledge.errors import RagchatError, counted
from ui.page_common import (
    current_thread,
    get_assistant,
    health_now,
    highlight,
    inert,
    message_markdown,
    progress_callback,
)

STATUS_LABELS = {
    "waiting": "Waiting for this conversation's previous question to be answered…",
    "rewriting": "Understanding the follow-up…",
    "searching": "Searching your documents…",
    "writing": "Writing the answer…",
    "checking": "Checking the answer against its sources…",
}
UNSUPPORTED_NOTE = "The check found claims in this answer that its sources do not support."
# The not-found notice ends with a hint for the terminal; the page points to its own Documents view instead.
CLI_HINT = ABSTAIN_ANSWER.rsplit(". ", 1)[-1]
PAGE_HINT = "Try other words, or check the Documents view for what is indexed."


def show() -> None:
    """Draw the Chat page: the title, the intro, the conversation."""
    st.title("ragchat")
    st.caption("Ask questions about your own documents. Everything stays on this machine.")
    assistant = get_assistant()
    chat_view(assistant, current_thread(), health_now(assistant))


def chat_view(assistant: Assistant, thread_id: str, health: Health) -> None:
    """The conversation, its sources, and the question box."""
    if assistant.load_index() is None:
        if not health.ok:
            st.info("There is no index yet, and Ollama is needed to build one: " + " ".join(health.problems))
            return
        build_first_index(assistant)
    info = assistant.registry.get(thread_id)
    if info and info.scope:
        st.caption(f"This thread searches only: {inert(', '.join(info.scope))}")
    history = assistant.history(thread_id)
    for position, message in enumerate(history):
        following = history[position + 1] if position + 1 < len(history) else None
        if following is not None and following.additional_kwargs.get("search_only"):
            continue  # drawn with its reply, as when it was asked
        if message.additional_kwargs.get("search_only"):
            asked = history[position - 1] if position else message
            show_search_only(str(asked.content), message.additional_kwargs.get("sources", []))
        elif message.type == "human":
            with st.chat_message("user"):
                st.markdown(inert(str(message.content)))
        elif message.type == "ai":
            with st.chat_message("assistant"):
                show_answer(str(message.content), message.additional_kwargs)
    question = st.chat_input("Ask about your documents")
    if question is None:
        return
    if health.answers:
        answer(assistant, question, thread_id)
    else:
        search_only(assistant, question, thread_id)


def build_first_index(assistant: Assistant) -> None:
    """Index the documents folder on first start, with a progress bar."""
    bar = st.progress(0.0, text=f"Indexing {assistant.settings.docs_dir} for the first time…")
    try:
        index = assistant.ensure_index(progress=progress_callback(bar))
    except RagchatError as exc:
        bar.empty()
        st.error(str(exc))
        st.stop()
    bar.empty()
    st.toast(f"Indexed {counted(index.chunk_count, 'chunk')} from {counted(len(index.files), 'file')}.")


def answer(assistant: Assistant, question: str, thread_id: str) -> None:
    """Stream the answer to ``question`` from the turn's events: each step, the text, then its sources."""
    with st.chat_message("user"):
        st.markdown(inert(question))
    with st.chat_message("assistant"):
        status, placeholder = st.empty(), st.empty()
        try:
            turn = assistant.ask(question, thread_id)
        except RagchatError as exc:
            st.error(message_markdown(str(exc)))
            return
        status.caption(STATUS_LABELS["searching"])
        ending: list[Done | Failed] = []

        def text(events: Iterator[Event]) -> Iterator[str]:
            for event in events:
                if isinstance(event, Status):
                    status.caption(STATUS_LABELS[event.step])
                elif isinstance(event, Token):
                    yield event.text
                else:
                    ending.append(event)

        # Closed at once if this run is cut short (a new question, a closed tab): the turn then keeps
        # what was shown, marked interrupted, and frees the thread for the next question.
        with contextlib.closing(turn.events()) as events:
            for draft in drafts(text(events)):  # the whole text each time: a half-received `![x](http://` is text too
                placeholder.markdown(safe_markdown(draft))
        status.empty()
        outcome = ending[-1] if ending else Failed("The answer ended without a result — ask again.", False)
        if isinstance(outcome, Failed):
            if outcome.answer:  # show all that was kept, not only the last draft drawn
                placeholder.markdown(safe_markdown(outcome.answer))
            st.error(message_markdown(outcome.message))
            return
        if outcome.abstained:  # a not-found answer should not look like an answer
            placeholder.info(notice_markdown(outcome.answer), icon=":material/search_off:")
        elif outcome.verified is False:
            st.warning(UNSUPPORTED_NOTE, icon=":material/warning:")
        show_sources(outcome.sources, outcome.query or question)
    st.rerun()  # the sidebar lists the thread with its new title


def show_answer(text: str, details: dict[str, Any]) -> None:
    """Render a stored answer: abstentions as a notice, unsupported answers with a warning, then sources."""
    if details.get("abstained"):
        st.info(notice_markdown(text), icon=":material/search_off:")
    elif not text and details.get("interrupted"):  # a question whose turn was stopped before any answer
        st.caption("No answer: " + message_markdown(details.get("error", "the turn was stopped before it finished")))
    else:
        st.markdown(safe_markdown(text))
        if details.get("interrupted"):
            st.caption("Interrupted: " + message_markdown(details.get("error", "the connection to Ollama was lost")))
        if details.get("verified") is False:
            st.warning(UNSUPPORTED_NOTE, icon=":material/warning:")
    show_sources(details.get("sources", []), details.get("query", ""))


def show_sources(sources: list[dict[str, Any]], query: str) -> None:
    """List sources under an answer: where each is, why it was found, its snippet, and its whole passage."""
    if not sources:
        return
    with st.expander(f"Sources ({len(sources)})"):
        for source in sources:
            show_source(source, query)


def show_source(source: dict[str, Any], query: str) -> None:
    """One source: its number and label, its snippet with the query's words in bold, and its whole passage.

    The passage opens in a popover (sources already sit in an expander, and expanders do not
    nest); it is escaped and highlighted like the snippet, its line breaks kept. A record
    stored by an older version has only its snippet, so it has nothing more to open.
    """
    st.markdown(f"**[{source['number']}]** {inert(source_label(source))}")
    st.caption(highlight(source["snippet"], query))
    if "text" in source:
        with st.popover("Read the whole passage", icon=":material/article:"):
            page = f"page {source['page']}" if source.get("page") is not None else ""
            st.markdown(inert(" · ".join(filter(None, [str(source.get("source", "")), page, lines_label(source)]))))
            st.markdown(highlight(passage(source), query).replace("\n", "  \n"))  # each line stays a line


def search_only(assistant: Assistant, question: str, thread_id: str) -> None:
    """Without a model: show the best keyword matches, clearly labelled, kept in the thread."""
    try:
        records = assistant.search_only(question, thread_id)
    except RagchatError as exc:
        st.error(message_markdown(str(exc)))
        return
    show_search_only(question, records)
    st.rerun()  # the sidebar lists the thread with its new title


def show_search_only(question: str, records: list[dict[str, Any]]) -> None:
    """Render one search-only exchange."""
    with st.chat_message("user"):
        st.markdown(inert(question))
    with st.chat_message("assistant", avatar=":material/manage_search:"):
        st.warning("Search-only mode: no answer was generated. These are the passages that best match your question.")
        if not records:
            st.info("No passage contains these words.")
        for record in records:
            show_source(record, question)


def notice_markdown(text: str) -> str:
    """Return a not-found notice as Markdown, its closing hint pointing to the Documents view."""
    if text.endswith(CLI_HINT):
        text = text.removesuffix(CLI_HINT) + PAGE_HINT
    return safe_markdown(text)


if __name__ == "__main__":  # run as the Chat page by st.navigation in ui/app.py
    show()
