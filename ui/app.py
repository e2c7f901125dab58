"""The ragchat web page: chat, threads, documents, settings and health, over the CLI's Assistant.

Run with ``streamlit run ui/app.py``. Layout: the sidebar holds the health line, the view
switch, "New chat" (the entry of a thread not yet saved), the saved threads under a filter box
(the current one's id is in the URL, so a refresh or a server restart returns to it) and
"Manage threads" for deleting several at once; the main area shows the Chat, Documents or
Settings view. Everything that is not presentation lives in ``agent`` / ``knowledge``.
Document and user text is shown as text (markdown and HTML in it escaped); answers keep their
Markdown structure but pass through ``ui.markup.safe_markdown``, so no answer, source or title
can make the browser load anything.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from typing import Any

import streamlit as st

from agent.assistant import Assistant, check_thread_id
from agent.chat_model import Health
from agent.formatting import default_rules, lines_label, passage, source_label
from agent.prompts import ABSTAIN_ANSWER
from agent.settings import PREFERENCE_FIELDS, Settings, bounds, choices, env_name, load_settings, save_preferences
from agent.threads import ThreadInfo, display_titles, filter_threads
from knowledge.errors import RagchatError
from knowledge.formats import SUPPORTED_EXTENSIONS
from knowledge.ingest import IngestProgress
from knowledge.keyword import terms
from ui.markup import drafts, escape, safe_markdown

NEW_CHAT_TITLE = "New chat"
VIEWS = ("Chat", "Documents", "Settings")
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
# The rules as the agent formats them; {boundary} stays, as each question's fence gets its own random name.
DEFAULT_RULES = default_rules()
SAVED_NOTE = "Settings saved. They apply from the next question."
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


def notice_markdown(text: str) -> str:
    """Return a not-found notice as Markdown, its closing hint pointing to the Documents view."""
    if text.endswith(CLI_HINT):
        text = text.removesuffix(CLI_HINT) + PAGE_HINT
    return safe_markdown(text)


# -- threads ----------------------------------------------------------------------------------
def current_thread() -> str:
    """Return the thread shown: the one in the URL if valid, else a new one (then put in the URL)."""
    wanted = st.query_params.get("thread", "")
    try:
        thread_id = check_thread_id(wanted)
    except RagchatError:
        thread_id = uuid.uuid4().hex[:12]
    if st.query_params.get("thread") != thread_id:
        st.query_params["thread"] = thread_id
    return thread_id


def switch_thread(thread_id: str) -> None:
    """Show another thread (the URL follows)."""
    st.query_params["thread"] = thread_id
    st.session_state.pop("confirm_delete", None)


def new_thread() -> None:
    """Start an empty thread."""
    switch_thread(uuid.uuid4().hex[:12])


def sidebar(assistant: Assistant, thread_id: str, health: Health) -> str:
    """Health, view switch, threads; return the chosen view."""
    with st.sidebar:
        show_health(assistant, health)
        view = st.radio("View", VIEWS, horizontal=True, label_visibility="collapsed", key="view")
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
    return view


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
        count = f"{len(chosen)} thread{'s' if len(chosen) > 1 else ''}"
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


def ask_first(confirm_key: str, chosen_key: str) -> None:
    """Button callback: ask to confirm deleting what is chosen in ``chosen_key`` right now."""
    st.session_state[confirm_key] = list(st.session_state.get(chosen_key, []))


def confirm_deletion(question: str, key: str, confirm_key: str, on_yes: Any, args: tuple[Any, ...]) -> None:
    """Ask ``question`` with Delete (runs ``on_yes(*args)``) and Cancel (forgets the request) side by side."""
    st.warning(question)
    yes, no = st.columns(2)
    yes.button("Delete", type="primary", key=f"{key}-yes", on_click=on_yes, args=args)
    no.button("Cancel", key=f"{key}-no", on_click=st.session_state.pop, args=(confirm_key, None))


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
        st.session_state.threads_note = f"Deleted {len(deleted)} thread{'s' if len(deleted) > 1 else ''}."
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


# -- chat -------------------------------------------------------------------------------------
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
    st.toast(f"Indexed {index.chunk_count} chunks from {len(index.files)} files.")


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


def answer(assistant: Assistant, question: str, thread_id: str) -> None:
    """Stream the answer to ``question``, showing each step, then its sources."""
    with st.chat_message("user"):
        st.markdown(inert(question))
    with st.chat_message("assistant"):
        status, placeholder = st.empty(), st.empty()
        turn = None
        try:
            turn = assistant.ask(question, thread_id, on_status=lambda step: status.caption(STATUS_LABELS[step]))
            status.caption(STATUS_LABELS["searching"])
            # Closed at once if this run is cut short (a new question, a closed tab): the turn then keeps
            # what was shown, marked interrupted, and frees the thread for the next question.
            with contextlib.closing(iter(turn)) as pieces:
                for draft in drafts(pieces):  # the whole text each time: a half-received `![x](http://` is text too
                    placeholder.markdown(safe_markdown(draft))
        except RagchatError as exc:
            status.empty()
            if turn is not None and turn.answer:  # show all that was kept, not only the last draft drawn
                placeholder.markdown(safe_markdown(turn.answer))
            st.error(message_markdown(str(exc)))
            return
        status.empty()
        details = {"abstained": turn.abstained, "verified": turn.verified, "query": turn.query or question}
        if turn.abstained:  # a not-found answer should not look like an answer
            placeholder.info(notice_markdown(turn.answer), icon=":material/search_off:")
        elif turn.verified is False:
            st.warning(UNSUPPORTED_NOTE, icon=":material/warning:")
        show_sources(turn.sources, details["query"])
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


# -- documents --------------------------------------------------------------------------------
def documents_view(assistant: Assistant, health: Health) -> None:
    """Upload files, rescan the folder, list indexed documents, remove them from the index or delete them."""
    st.subheader("Documents")
    st.caption(f"Documents folder: {inert(str(assistant.settings.docs_dir))}")
    with st.form("upload", clear_on_submit=True):
        files = st.file_uploader(
            "Add files",
            type=[ext.lstrip(".") for ext in SUPPORTED_EXTENSIONS],
            accept_multiple_files=True,
            help="Saved into the documents folder and indexed.",
        )
        submitted = st.form_submit_button("Upload and index", icon=":material/upload:", disabled=not health.ok)
    if submitted and files:
        bar = st.progress(0.0, text="Saving…")
        try:
            result = assistant.upload([(f.name, f.getvalue()) for f in files], progress=progress_callback(bar))
        except RagchatError as exc:
            st.error(str(exc))
        else:
            bar.empty()
            report = result.ingest.report
            for item in result.saved:
                verb = {"saved": "Saved", "unchanged": "Already there:", "renamed": "Saved under a new name:"}
                st.success(f"{verb[item.status]} {inert(item.path.name)}", icon=":material/check:")
            for name, why in report.skipped:
                st.warning(f"Skipped {inert(name)}: {inert(why)}")
    if st.button("Rescan the documents folder", icon=":material/sync:", disabled=not health.ok):
        bar = st.progress(0.0, text="Checking for changes…")
        try:
            report = assistant.ingest(progress=progress_callback(bar)).report
            bar.empty()
            left_out = len(report.forgotten)
            st.success(
                f"{len(report.added)} added, {len(report.updated)} updated, {len(report.removed)} removed, "
                f"{report.unchanged} unchanged."
                + (f" {left_out} forgotten file{'s' if left_out > 1 else ''} left out (listed under “{LEFT_OUT}”)."
                   if left_out else "")
            )
        except RagchatError as exc:
            bar.empty()
            st.error(str(exc))
    index = assistant.load_index()
    if index is None or not index.files:
        st.info("Nothing is indexed yet.")
    else:
        rows = [
            {
                "file": r.source,
                "chunks": r.chunks,
                "size (kB)": round(r.size / 1000, 1),
                "indexed (UTC)": r.indexed_at[:16],
            }
            for r in sorted(index.files.values(), key=lambda r: r.source)
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
        st.caption(f"{len(rows)} files, {index.chunk_count} chunks, embeddings {inert(index.info.embedding)}")
    if note := st.session_state.pop("documents_note", None):  # what a button below did, before the page was drawn
        st.success(note)
    if error := st.session_state.pop("documents_error", None):
        st.error(error)
    if index is not None and index.files:
        choose_documents(assistant, sorted(index.files))
    if index is not None and index.forgotten:
        forgotten_documents(assistant, sorted(index.forgotten), health)


LEFT_OUT = "Left out of the index"


def choose_documents(assistant: Assistant, files: list[str]) -> None:
    """Offer two fates for the chosen documents: out of the index (the file stays), or deleted after a confirmation."""
    chosen = st.multiselect("Remove or delete documents", files, placeholder="Choose documents", key="documents-chosen")
    if not chosen:
        return
    many = len(chosen) > 1
    count = f"{len(chosen)} file{'s' if many else ''}"
    st.caption(
        "**Remove from index** keeps the files in the documents folder; rescans leave them out until you add them "
        "back or upload them again. **Delete** deletes them from the documents folder as well."
    )
    if st.session_state.get("confirm_documents") != chosen:  # a changed choice must be confirmed again
        keep, delete = st.columns(2)
        keep.button(
            f"Remove {count} from index",
            key="documents-forget",
            icon=":material/playlist_remove:",
            on_click=forget_documents,
            args=(assistant, False),
        )
        delete.button(
            f"Delete {count}…",
            key="documents-delete",
            icon=":material/delete:",
            on_click=ask_first,
            args=("confirm_documents", "documents-chosen"),
        )
        return
    doomed = "\n".join(f"- {inert(name)}" for name in chosen)
    gone = "They are" if many else "It is"
    question = f"Delete {count} from the documents folder? {gone} gone from the disk, not only from the index.\n\n"
    confirm_deletion(question + doomed, "documents", "confirm_documents", forget_documents, (assistant, True))


def forget_documents(assistant: Assistant, delete_files: bool) -> None:
    """Take the chosen documents out of the index, deleting their files if asked; a failure changes nothing.

    Runs as a button callback, before the page is drawn, so the choice box can be emptied.
    """
    from pathlib import Path

    chosen = list(st.session_state.get("documents-chosen", []))
    st.session_state.pop("confirm_documents", None)
    try:
        removed = assistant.forget(chosen, delete_files=delete_files)
    except RagchatError as exc:  # e.g. a read-only folder or another ingest running: nothing changed
        st.session_state.documents_error = str(exc)
        return
    st.session_state["documents-chosen"] = []
    if delete_files:  # a file outside the documents folder is never deleted: say so, not "deleted"
        outside = [name for name in removed if Path(name).is_absolute()]
        deleted = [name for name in removed if name not in outside]
        notes = [f"Deleted {inert(', '.join(deleted))} from the documents folder and the index."] if deleted else []
        if outside:
            them = "they were" if len(outside) > 1 else "it was"
            notes.append(
                f"{inert(', '.join(outside))} {'are' if len(outside) > 1 else 'is'} outside the documents folder: "
                f"{them} only removed from the index, and rescans leave {them.split()[0]} out."
            )
        st.session_state.documents_note = " ".join(notes)
        return
    them, stay = ("them", "The files stay") if len(removed) > 1 else ("it", "The file stays")
    st.session_state.documents_note = (
        f"Removed {inert(', '.join(removed))} from the index. {stay} in the documents folder; rescans leave {them} "
        f"out until you add {them} back below or upload {them} again."
    )


def forgotten_documents(assistant: Assistant, forgotten: list[str], health: Health) -> None:
    """List the forgotten documents and add chosen ones back to the index."""
    with st.expander(f"{LEFT_OUT} ({len(forgotten)})", icon=":material/visibility_off:"):
        st.caption("Forgotten files stay in the documents folder but out of rescans until you add them back.")
        st.multiselect(
            "Forgotten files", forgotten, placeholder="Choose files to index again", key="documents-forgotten"
        )
        st.button(
            "Add back to the index",
            key="documents-add-back",
            icon=":material/playlist_add:",
            disabled=not health.ok,
            on_click=add_back_documents,
            args=(assistant,),
        )


def add_back_documents(assistant: Assistant) -> None:
    """Index the chosen forgotten documents again (a button callback)."""
    from knowledge.ingest import source_path

    chosen = list(st.session_state.get("documents-forgotten", []))
    if not chosen:
        return
    try:
        result = assistant.ingest([source_path(name, assistant.settings.docs_dir) for name in chosen])
    except RagchatError as exc:  # e.g. the file is gone, or another ingest is running
        st.session_state.documents_error = str(exc)
        return
    st.session_state["documents-forgotten"] = []
    added = result.report.added + result.report.updated
    st.session_state.documents_note = f"Added {inert(', '.join(added))} back to the index."


# -- settings ---------------------------------------------------------------------------------
def settings_view(assistant: Assistant, health: Health) -> None:
    """Model, temperature, k, retrieval mode, keyword weight, system prompt (saved across restarts); the graph."""
    s = assistant.settings
    st.subheader("Settings")
    if st.session_state.pop("settings_saved", False):  # set before the rerun that picks the new settings up
        st.success(SAVED_NOTE, icon=":material/check:")
    with st.form("settings"):
        models = health.models or [s.chat_model]
        chat_models = [m for m in models if "embed" not in m] or models
        if s.chat_model not in chat_models:
            chat_models = [s.chat_model, *chat_models]
        modes = choices("retrieval_mode")
        values = {  # bounds, choices and help come from the settings model, as the CLI's flags do
            "chat_model": st.selectbox(
                "Chat model", chat_models, index=chat_models.index(s.chat_model), help=explain("chat_model")
            ),
            "temperature": st.slider(
                "Temperature", *bounds("temperature"), float(s.temperature), 0.1, help=explain("temperature")
            ),
            "k": st.number_input("Passages per question (k)", *bounds("k"), int(s.k), help=explain("k")),
            "retrieval_mode": st.radio(
                "Search", modes, index=modes.index(s.retrieval_mode), help=explain("retrieval_mode")
            ),
            "keyword_weight": st.slider(
                "Keyword weight in hybrid search (0: meaning only, 1: keywords only)",
                *bounds("keyword_weight"),
                float(s.keyword_weight),
                0.05,
                help=explain("keyword_weight"),
            ),
            "system_prompt": st.text_area(
                "System prompt (empty: ragchat's rules)",
                value=s.system_prompt or DEFAULT_RULES,
                height=300,
                help=explain("system_prompt") + " In ragchat's rules, "
                "{boundary} becomes the random name of each question's source fence.",
            ).strip(),
        }
        if values["system_prompt"] in ("", DEFAULT_RULES):  # ragchat's own rules, kept in step with new versions
            values["system_prompt"] = None
        if st.form_submit_button("Save settings"):
            try:
                save_preferences(s, **{k: values[k] for k in PREFERENCE_FIELDS})
            except RagchatError as exc:
                st.error(str(exc))
            else:
                st.cache_resource.clear()  # a new Assistant picks the saved settings up
                st.cache_data.clear()
                st.session_state.settings_saved = True
                st.rerun()
    st.subheader("How a question is answered")
    st.graphviz_chart(graph_dot(assistant))
    with st.expander("Mermaid source"):
        st.code(assistant.mermaid(), language="mermaid")


def explain(name: str) -> str:
    """Return a setting's description with its environment variable, as the page's help text."""
    return f"{Settings.model_fields[name].description} Environment variable: `{env_name(name)}`."


def graph_dot(assistant: Assistant) -> str:
    """Return the agent's graph in Graphviz DOT (rendered in the browser, no network needed)."""
    graph = assistant.graph_structure()
    lines = ["digraph { rankdir=TB; node [shape=box, style=rounded, fontname=sans];"]
    for edge in graph.edges:
        style = " [style=dashed]" if edge.conditional else ""
        lines.append(f'"{edge.source.strip("_")}" -> "{edge.target.strip("_")}"{style};')
    lines.append("}")
    return "\n".join(lines)


# -- page -------------------------------------------------------------------------------------
def main() -> None:
    """Lay out the page."""
    # an emoji icon is drawn in the browser; a :material/…: page icon is fetched from Google's font server
    st.set_page_config(page_title="ragchat", page_icon="💬")
    try:
        assistant = get_assistant()
    except RagchatError as exc:
        st.error(str(exc))
        st.stop()
    try:
        assistant.load_index()
    except RagchatError as exc:  # damaged or from another embedder: offer the way out
        st.error(str(exc))
        if st.button("Rebuild the index", type="primary", icon=":material/build:"):
            bar = st.progress(0.0, text="Rebuilding…")
            try:
                assistant.ingest(rebuild=True, progress=progress_callback(bar))
            except RagchatError as error:
                st.error(str(error))
                st.stop()
            st.rerun()
        st.stop()
    thread_id = current_thread()
    health = health_now(assistant)
    # opening the thread store may set a damaged file aside; assigned, as Streamlit draws a bare expression
    _ = assistant.checkpointer
    while assistant.warnings:  # each notice is shown once
        st.warning(assistant.warnings.pop(0), icon=":material/info:")
    view = sidebar(assistant, thread_id, health)
    if view == "Documents":
        documents_view(assistant, health)
    elif view == "Settings":
        settings_view(assistant, health)
    else:
        st.title("ragchat")
        st.caption("Ask questions about your own documents. Everything stays on this machine.")
        chat_view(assistant, thread_id, health)


main()
