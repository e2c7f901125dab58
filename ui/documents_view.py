"""The Documents page: upload files, rescan the folder, list what is indexed, take documents out or delete them.

``streamlit run ui/app.py`` runs this file as the Documents page (``st.navigation``). "Remove from
index" keeps a file in the documents folder but out of rescans until it is added back (listed under
"Left out of the index"); "Delete" removes the file as well, after a confirmation. Those buttons and
"Add back" run as callbacks, before the page is drawn, and leave a note (or an error) for it to show.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from agent.assistant import Assistant
from agent.chat_model import Health
from knowledge.errors import RagchatError, counted
from knowledge.formats import SUPPORTED_EXTENSIONS
from knowledge.ingest import source_path
from ui.page_common import ask_first, confirm_deletion, get_assistant, health_now, inert, progress_callback

LEFT_OUT = "Left out of the index"


def show() -> None:
    """Draw the Documents page."""
    assistant = get_assistant()
    documents_view(assistant, health_now(assistant))


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
                + (f" {counted(left_out, 'forgotten file')} left out (listed under “{LEFT_OUT}”)." if left_out else "")
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
        held = f"{counted(len(rows), 'file')}, {counted(index.chunk_count, 'chunk')}"
        st.caption(f"{held}, embeddings {inert(index.info.embedding)}")
    if note := st.session_state.pop("documents_note", None):  # what a button below did, before the page was drawn
        st.success(note)
    if error := st.session_state.pop("documents_error", None):
        st.error(error)
    if index is not None and index.files:
        choose_documents(assistant, sorted(index.files))
    if index is not None and index.forgotten:
        forgotten_documents(assistant, sorted(index.forgotten), health)


def choose_documents(assistant: Assistant, files: list[str]) -> None:
    """Offer two fates for the chosen documents: out of the index (the file stays), or deleted after a confirmation."""
    chosen = st.multiselect("Remove or delete documents", files, placeholder="Choose documents", key="documents-chosen")
    if not chosen:
        return
    many = len(chosen) > 1
    count = counted(len(chosen), "file")
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


if __name__ == "__main__":  # run as the Documents page by st.navigation in ui/app.py
    show()
