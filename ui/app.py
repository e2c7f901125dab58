"""The ragchat web page: the frame around its three pages (Chat, Documents, Settings), over the CLI's Assistant.

Run with ``streamlit run ui/app.py`` (``ragchat web`` does). Each run opens the shared Assistant
(offering to rebuild a damaged index), shows each stored-data notice once, draws the sidebar
(``ui.sidebar``: health, "New chat", the threads) under Streamlit's page navigation, then runs the
page chosen: ``ui/chat_view.py`` (the default, at ``/``), ``ui/documents_view.py``
(``/documents``) or ``ui/settings_view.py`` (``/settings``). The thread shown is in the URL, so a
refresh or a server restart returns to it. Everything that is not presentation lives in ``agent``
/ ``knowledge``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from agent.assistant import Assistant
from knowledge.errors import RagchatError
from ui.page_common import current_thread, get_assistant, health_now, progress_callback
from ui.sidebar import sidebar

HERE = Path(__file__).parent
PAGES = (  # (file, title, URL path, icon); the first is the default page, at the site's root
    ("chat_view.py", "Chat", "chat", ":material/chat:"),
    ("documents_view.py", "Documents", "documents", ":material/folder:"),
    ("settings_view.py", "Settings", "settings", ":material/settings:"),
)


def open_assistant() -> Assistant:
    """Return the shared Assistant with a readable index; otherwise say why (offering a rebuild) and stop."""
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
    return assistant


def navigation() -> StreamlitPage:
    """Declare the pages (drawn at the top of the sidebar) and return the one to run."""
    pages = [
        st.Page(HERE / file, title=title, url_path=path, icon=icon, default=n == 0)
        for n, (file, title, path, icon) in enumerate(PAGES)
    ]
    return st.navigation(pages)


def main() -> None:
    """Lay out the frame, then run the chosen page."""
    # an emoji icon is drawn in the browser; a :material/…: page icon is fetched from Google's font server
    st.set_page_config(page_title="ragchat", page_icon="💬")
    assistant = open_assistant()
    page = navigation()
    thread_id = current_thread()
    health = health_now(assistant)
    # opening the thread store may have set a damaged file aside: each browser session is told once
    shown = st.session_state.setdefault("notices_shown", set())
    for notice in assistant.conversations.open():
        if notice not in shown:
            shown.add(notice)
            st.warning(notice, icon=":material/info:")
    sidebar(assistant, thread_id, health)
    page.run()


if __name__ == "__main__":  # run by Streamlit; importing this module draws nothing
    main()
