"""The ragchat web page: a Streamlit chat over the same Assistant the CLI uses.

Run with ``streamlit run ui/app.py``. The sidebar starts and switches threads (each keeps
its own history in the checkpointer); answers stream in; each answer lists its sources.
Document text and user text are shown as text: markdown and HTML in them are escaped.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import streamlit as st

from agent.assistant import Assistant
from agent.formatting import snippet, source_label
from agent.settings import load_settings
from knowledge.errors import RagchatError
from knowledge.ingest import IngestProgress

NEW_CHAT_TITLE = "New chat"
TITLE_CHARS = 48
UNSUPPORTED_NOTE = "The check found claims in this answer that its sources do not support."
MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


@st.cache_resource(show_spinner=False)
def get_assistant() -> Assistant:
    """Return the process-wide Assistant (one index and checkpointer for every session)."""
    return Assistant(load_settings())


def inert(text: str) -> str:
    """Escape markdown so document or user text is displayed literally."""
    return MARKDOWN_SPECIALS.sub(r"\\\1", text)


def new_thread() -> None:
    """Start an empty thread and make it the current one."""
    thread_id = uuid.uuid4().hex[:12]
    st.session_state.threads[thread_id] = NEW_CHAT_TITLE
    st.session_state.thread_id = thread_id


def switch_thread(thread_id: str) -> None:
    """Show another thread of this session."""
    st.session_state.thread_id = thread_id


def show_sources(sources: list[dict[str, Any]]) -> None:
    """List an answer's sources in a collapsed section under it."""
    if not sources:
        return
    with st.expander(f"Sources ({len(sources)})"):
        for source in sources:
            st.markdown(f"**[{source['number']}]** {inert(source_label(source))}")
            st.caption(inert(source["snippet"]))


def sidebar(assistant: Assistant) -> None:
    """Threads of this session, newest first, and what the index holds."""
    state = st.session_state
    with st.sidebar:
        st.button("New chat", on_click=new_thread, icon=":material/add:", width="stretch")
        st.caption("Threads")
        for thread_id in reversed(state.threads):
            current = thread_id == state.thread_id
            st.button(
                inert(state.threads[thread_id]),
                key=f"thread-{thread_id}",
                on_click=switch_thread,
                args=(thread_id,),
                type="primary" if current else "tertiary",
                width="stretch",
            )
        st.divider()
        s = assistant.settings
        index = assistant.load_index()
        if index is not None:
            st.caption(f"{index.chunk_count} chunks from {len(index.files)} files · {s.retrieval_mode} search")
        st.caption(f"Model {inert(s.chat_model)} · embeddings {inert(s.embedding)} · Ollama {inert(s.ollama_host)}")


def ensure_index(assistant: Assistant) -> None:
    """Build the index from the documents folder on first start, with a progress bar."""
    if assistant.load_index() is not None:
        return
    bar = st.progress(0.0, text=f"Indexing {assistant.settings.docs_dir} for the first time…")

    def progress(p: IngestProgress) -> None:
        share = p.chunks_done / p.chunks_total if p.chunks_total else 1.0
        bar.progress(
            share,
            text=f"Embedding: {p.chunks_done} of {p.chunks_total} chunks, {p.files_done} of {p.files_total} files",
        )

    index = assistant.ensure_index(progress=progress)
    bar.empty()
    st.toast(f"Indexed {index.chunk_count} chunks from {len(index.files)} files.")


def show_history(assistant: Assistant, thread_id: str) -> None:
    """Render the thread's messages, each answer with its sources."""
    for message in assistant.history(thread_id):
        if message.type == "human":
            with st.chat_message("user"):
                st.markdown(inert(str(message.content)))
        elif message.type == "ai":
            with st.chat_message("assistant"):
                show_answer(str(message.content), message.additional_kwargs)


def answer(assistant: Assistant, question: str, thread_id: str) -> None:
    """Stream the answer to ``question`` under it, then its sources."""
    with st.chat_message("user"):
        st.markdown(inert(question))
    with st.chat_message("assistant"):
        try:
            turn = assistant.ask(question, thread_id)
            with st.spinner("Searching your documents…"):
                tokens = iter(turn)
                first = next(tokens, "")  # retrieval runs before the first token arrives
            placeholder = st.empty()
            with placeholder.container():
                st.write_stream(_chain(first, tokens))
            if turn.abstained:  # restyle: a not-found answer should not look like an answer
                placeholder.info(turn.answer, icon=":material/search_off:")
            elif turn.verified is False:
                st.warning(UNSUPPORTED_NOTE, icon=":material/warning:")
            show_sources(turn.sources)
        except RagchatError as exc:
            st.error(str(exc))
            return
    if st.session_state.threads.get(thread_id) == NEW_CHAT_TITLE:
        st.session_state.threads[thread_id] = snippet(question, TITLE_CHARS)
        st.rerun()  # so the sidebar shows the new title


def show_answer(text: str, details: dict[str, Any]) -> None:
    """Render a stored answer: abstentions as a notice, unsupported answers with a warning, then sources."""
    if details.get("abstained"):
        st.info(text, icon=":material/search_off:")
    else:
        st.markdown(text)
        if details.get("verified") is False:
            st.warning(UNSUPPORTED_NOTE, icon=":material/warning:")
    show_sources(details.get("sources", []))


def _chain(first: str, rest: Any) -> Any:
    if first:
        yield first
    yield from rest


def main() -> None:
    """Lay out the page."""
    st.set_page_config(page_title="ragchat", page_icon=":material/forum:")
    state = st.session_state
    state.setdefault("threads", {})
    if not state.get("thread_id") or state.thread_id not in state.threads:
        new_thread()

    st.title("ragchat")
    st.caption("Ask questions about your own documents. Everything stays on this machine.")
    try:
        assistant = get_assistant()
        ensure_index(assistant)
    except RagchatError as exc:
        st.error(str(exc))
        st.stop()
    sidebar(assistant)

    thread_id = state.thread_id
    show_history(assistant, thread_id)
    question = st.chat_input("Ask about your documents")
    if question is not None:
        answer(assistant, question, thread_id)


main()
