"""The page's sidebar below the navigation: health, "New chat", the saved threads and their tools.

"New chat" is the entry of a thread not yet saved; the saved threads are listed under a filter box,
the current one (its id in the URL) highlighted, with its own tools (rename, download, scope, delete)
in "This thread", and "Manage threads" deletes several at once after a confirmation.
"""

from __future__ import annotations

import streamlit as st

from agent.assistant import Assistant
from agent.chat_model import Health
from agent.threads import ThreadInfo, display_titles, filter_threads
from knowledge.errors import RagchatError, counted
from ui.page_common import ask_first, confirm_deletion, inert, message_markdown, new_thread, switch_thread

NEW_CHAT_TITLE = "New chat"


def sidebar(assistant: Assistant, thread_id: str, health: Health) -> None:
    """Health, "New chat", the threads and their tools."""
    with st.sidebar:
        show_health(assistant, health)
        threads = assistant.threads()
        saved = any(t.id == thread_id for t in threads)
        # A thread is listed once its first question is asked; until then "New chat" is its entry, highlighted.
        st.button(
            NEW_CHAT_TITLE,
            key="new-chat",
            on_click=new_thread,
            icon=":material/add:",
            type="secondary" if saved else "primary",
            width="stretch",
        )
        if note := st.session_state.pop("threads_note", None):
            st.toast(note, icon=":material/delete:")
        labels = display_titles(threads)
        listed = thread_list(threads, labels, thread_id)
        if saved:
            thread_tools(assistant, thread_id)
        if threads:
            manage_threads(assistant, threads, labels, listed, thread_id)


def thread_list(threads: list[ThreadInfo], labels: dict[str, str], thread_id: str) -> list[ThreadInfo]:
    """The filter box and the saved threads whose title contains its text; return those listed."""
    if not threads:
        return []
    wanted = st.text_input(
        "Filter threads", key="filter-threads", placeholder="Filter threads by title", label_visibility="collapsed"
    )
    listed = filter_threads(threads, wanted)
    if not listed:
        st.caption(f"No thread title contains “{inert(' '.join(wanted.split()))}”.")
    for info in listed:
        thread_button(info.id, labels[info.id], current=info.id == thread_id)
    return listed


def thread_button(thread_id: str, title: str, current: bool) -> None:
    """One thread in the list."""
    st.button(
        inert(title),
        key=f"thread-{thread_id}",
        on_click=switch_thread,
        args=(thread_id,),
        type="primary" if current else "tertiary",
        width="stretch",
    )


def thread_tools(assistant: Assistant, thread_id: str) -> None:
    """Rename, download, delete (with confirmation) and the document scope of the current thread."""
    info = assistant.registry.get(thread_id)
    with st.expander("This thread", icon=":material/tune:"):
        title = st.text_input("Title", value=info.title, key=f"title-{thread_id}")
        if st.button("Rename", key="rename") and title != info.title:
            try:
                assistant.rename_thread(thread_id, title)
                st.rerun()
            except RagchatError as exc:
                st.error(str(exc))
        st.download_button(
            "Download as Markdown",
            data=assistant.export_thread(thread_id),
            file_name=f"ragchat-{thread_id}.md",
            mime="text/markdown",
            icon=":material/download:",
        )
        scope_picker(assistant, thread_id, info.scope)
        if st.session_state.get("confirm_delete") == thread_id:
            st.warning("Delete this thread and its whole history?")
            yes, no = st.columns(2)
            if yes.button("Delete", type="primary", key="delete-yes"):
                assistant.delete_thread(thread_id)
                st.session_state.pop("confirm_delete", None)
                new_thread()
                st.rerun()
            if no.button("Cancel", key="delete-no"):
                st.session_state.pop("confirm_delete", None)
                st.rerun()
        elif st.button("Delete thread…", key="delete", icon=":material/delete:"):
            st.session_state.confirm_delete = thread_id
            st.rerun()


def manage_threads(
    assistant: Assistant, threads: list[ThreadInfo], labels: dict[str, str], listed: list[ThreadInfo], thread_id: str
) -> None:
    """Choose several threads (by the titles that tell them apart) and delete them after a confirmation."""
    if error := st.session_state.pop("threads_error", None):
        st.error(error)
    # keyed, with its open state kept, so a filter that shortens the list above does not close it
    with st.expander("Manage threads", icon=":material/checklist:", key="manage-expander", on_change="rerun"):
        chosen = st.multiselect(
            "Threads to delete",
            [t.id for t in threads],
            format_func=lambda chosen_id: labels.get(chosen_id, chosen_id),
            placeholder="Choose threads",
            key="manage-threads",
        )
        if len(listed) > 1:
            st.button(
                f"Select the {len(listed)} listed",
                key="manage-all",
                on_click=st.session_state.__setitem__,
                args=("manage-threads", [t.id for t in listed]),
            )
        if not chosen:
            return
        count = counted(len(chosen), "thread")
        if st.session_state.get("confirm_bulk") != chosen:  # a changed choice must be confirmed again
            st.button(
                f"Delete {count}…",
                key="manage-delete",
                icon=":material/delete:",
                on_click=ask_first,
                args=("confirm_bulk", "manage-threads"),
            )
            return
        # the chips above are cut short in a narrow sidebar: name in full what is about to go
        doomed = "\n".join(f"- {inert(labels.get(chosen_id, chosen_id))}" for chosen_id in chosen)
        question = f"Delete {count} and {'their' if len(chosen) > 1 else 'its'} whole history?\n\n{doomed}"
        confirm_deletion(question, "manage", "confirm_bulk", delete_threads, (assistant, thread_id))


def delete_threads(assistant: Assistant, thread_id: str) -> None:
    """Delete the confirmed threads with their checkpoints; show a new chat if the one shown went too.

    Runs as a button callback, before the page is drawn, so the choice box can be emptied.
    A thread already gone (deleted in another tab) counts as deleted; on a failure the rest are kept.
    """
    doomed = st.session_state.pop("confirm_bulk", [])
    present = {t.id for t in assistant.threads()}
    deleted: list[str] = []
    try:
        for doomed_id in doomed:
            if doomed_id in present:
                assistant.delete_thread(doomed_id)
            deleted.append(doomed_id)
    except RagchatError as exc:
        st.session_state.threads_error = str(exc)
    st.session_state["manage-threads"] = [t for t in doomed if t not in deleted]
    if deleted:
        st.session_state.threads_note = f"Deleted {counted(len(deleted), 'thread')}."
    if thread_id in deleted:
        new_thread()


def scope_picker(assistant: Assistant, thread_id: str, scope: list[str] | None) -> None:
    """Let the thread search only some documents."""
    index = assistant.load_index()
    if index is None or not index.files:
        return
    everything = sorted(index.files)
    chosen = st.multiselect(
        "Search only these documents",
        everything,
        default=[s for s in (scope or []) if s in index.files],
        placeholder="All documents",
        key=f"scope-{thread_id}",
    )
    wanted = chosen or None
    if (sorted(wanted) if wanted else None) != (sorted(scope) if scope else None):
        assistant.set_scope(thread_id, wanted)


def show_health(assistant: Assistant, health: Health) -> None:
    """One line saying whether answers can be generated and documents indexed, and what to run when not."""
    s = assistant.settings
    if health.ok:
        st.caption(f":green[●] Ollama ready · {inert(s.chat_model)} · {inert(s.embedding_model or '')}")
        return
    if health.answers:  # keyword search needs no embeddings; indexing does
        needs = f"indexing needs `ollama pull {s.embedding_model}`"
        st.caption(":orange[●] " + message_markdown(f"Answers ready · {s.retrieval_mode} search · {needs}"))
        return
    st.caption(":red[●] Search-only mode")
    for problem in health.problems:
        st.error(problem, icon=":material/error:")
