"""The Settings page: the model and search settings saved across restarts, and the agent's graph.

``streamlit run ui/app.py`` runs this file as the Settings page (``st.navigation``). Bounds, choices
and help text come from the ``Settings`` model, as the CLI's flags do; saving writes the preferences
and hands them to the shared Assistant (``Assistant.configure``): the next question carries them as
its runtime context, with no index or thread store reopened.
"""

from __future__ import annotations

import streamlit as st

from agent.assistant import Assistant
from agent.chat_model import Health
from agent.formatting import default_rules
from agent.settings import PREFERENCE_FIELDS, Settings, bounds, choices, env_name, save_preferences
from knowledge.errors import RagchatError
from ui.page_common import get_assistant, health_now

# The rules as the agent formats them; {boundary} stays, as each question's fence gets its own random name.
DEFAULT_RULES = default_rules()
SAVED_NOTE = "Settings saved. They apply from the next question."


def show() -> None:
    """Draw the Settings page."""
    assistant = get_assistant()
    settings_view(assistant, health_now(assistant))


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
                saved = save_preferences(s, **{k: values[k] for k in PREFERENCE_FIELDS})
                assistant.configure(saved)  # the same graph and index; the next turn carries the new settings
            except RagchatError as exc:
                st.error(str(exc))
            else:
                st.cache_data.clear()  # recheck Ollama for a newly chosen model at once
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


if __name__ == "__main__":  # run as the Settings page by st.navigation in ui/app.py
    show()
