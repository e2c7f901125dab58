"""What the page's views share: the process-wide Assistant and health, text helpers, the thread in the URL.

Every view (``chat_view``, ``documents_view``, ``settings_view``) and the sidebar import from here;
nothing here draws a view of its own. Document and user text is shown as text (markdown and HTML
escaped by ``inert``); one-line messages keep their commands and addresses as code.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import streamlit as st

from agent.assistant import Assistant, check_thread_id
from agent.chat_model import Health
from agent.markup import escape, safe_markdown
from agent.settings import load_settings
from knowledge.errors import RagchatError
from knowledge.ingest import IngestProgress
from knowledge.keyword import terms

ADDRESS = re.compile(r"https?://[^\s`<>]+?(?=[.,;:)]*(?:\s|$))")


# -- shared objects ---------------------------------------------------------------------------
@st.cache_resource(show_spinner=False)
def get_assistant() -> Assistant:
    """Return the process-wide Assistant (one index and thread store for every browser session)."""
    return Assistant(load_settings())


@st.cache_data(ttl=10, show_spinner=False)
def get_health(host: str, chat_model: str, embedding: str) -> Health:
    """Return Ollama's health, rechecked at most every 10 seconds (arguments key the cache)."""
    return get_assistant().health()


def health_now(assistant: Assistant) -> Health:
    """Return the (cached) health for the current settings."""
    s = assistant.settings
    return get_health(s.ollama_host, s.chat_model, s.embedding)


# -- text helpers -----------------------------------------------------------------------------
def inert(text: str) -> str:
    """Escape markdown so document or user text is displayed literally."""
    return escape(text)


def highlight(text: str, query: str) -> str:
    """Escape ``text`` and bold the words that match the query's words (same stemming as search)."""
    wanted = terms(query)
    pieces = re.split(r"(\w+)", text)
    return "".join(
        f"**{inert(piece)}**" if piece and piece[0].isalnum() and terms(piece) & wanted else inert(piece)
        for piece in pieces
    )


def message_markdown(text: str) -> str:
    """Return a one-line message (commands in backticks) as Markdown: commands and addresses as code, the rest text.

    An address becomes code rather than a link: it names a server (Ollama) that may be down.
    """
    pieces = re.split(r"(`[^`]*`)", text)  # odd pieces are already code
    return safe_markdown("".join(p if n % 2 else ADDRESS.sub(r"`\g<0>`", p) for n, p in enumerate(pieces)))


# -- the thread shown -------------------------------------------------------------------------
def current_thread() -> str:
    """Return the thread shown: the one in the URL if valid, else this session's, else a new one (put in the URL).

    Moving to another view clears the URL's query, so the session remembers the thread for the way back.
    """
    wanted = st.query_params.get("thread") or st.session_state.get("thread", "")
    try:
        thread_id = check_thread_id(wanted)
    except RagchatError:
        thread_id = uuid.uuid4().hex[:12]
    if st.query_params.get("thread") != thread_id:
        st.query_params["thread"] = thread_id
    st.session_state.thread = thread_id
    return thread_id


def switch_thread(thread_id: str) -> None:
    """Show another thread (the URL follows)."""
    st.query_params["thread"] = thread_id
    st.session_state.thread = thread_id
    st.session_state.pop("confirm_delete", None)


def new_thread() -> None:
    """Start an empty thread."""
    switch_thread(uuid.uuid4().hex[:12])


# -- pieces more than one view uses -----------------------------------------------------------
def progress_callback(bar: Any) -> Any:
    """Return an ingest progress callback that moves a Streamlit progress bar and says what it is doing.

    The bar fills once per phase: over the files while reading, over one file's characters
    while splitting it, over the chunks while embedding.
    """

    def update(p: IngestProgress) -> None:
        if p.phase == "reading":
            share = p.files_done / p.files_total
            text = f"Reading {inert(p.file)} (file {p.files_done + 1} of {p.files_total})…"
        elif p.phase == "splitting":
            share = p.chars_done / p.chars_total if p.chars_total else 1.0
            text = f"Splitting {inert(p.file)}: {p.chunks_done} chunks so far…"
        else:
            share = p.chunks_done / p.chunks_total if p.chunks_total else 1.0
            text = f"Embedding: {p.chunks_done} of {p.chunks_total} chunks, {p.files_done} of {p.files_total} files"
        bar.progress(min(share, 1.0), text=text)

    return update


def ask_first(confirm_key: str, chosen_key: str) -> None:
    """Button callback: ask to confirm deleting what is chosen in ``chosen_key`` right now."""
    st.session_state[confirm_key] = list(st.session_state.get(chosen_key, []))


def confirm_deletion(question: str, key: str, confirm_key: str, on_yes: Any, args: tuple[Any, ...]) -> None:
    """Ask ``question`` with Delete (runs ``on_yes(*args)``) and Cancel (forgets the request) side by side."""
    st.warning(question)
    yes, no = st.columns(2)
    yes.button("Delete", type="primary", key=f"{key}-yes", on_click=on_yes, args=args)
    no.button("Cancel", key=f"{key}-no", on_click=st.session_state.pop, args=(confirm_key, None))
