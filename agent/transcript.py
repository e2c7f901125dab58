"""A thread's messages as they are shown and exported: unanswered questions marked, Markdown, stop reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.sources import source_label

if TYPE_CHECKING:
    from agent.threads import ThreadInfo

NO_ANSWER = "the turn was stopped before it finished"


def mark_unanswered(messages: list[BaseMessage], answering: bool = False) -> list[BaseMessage]:
    """Return ``messages`` with an empty answer marked interrupted after each question left without one.

    A turn killed before its answer was stored (kill -9, a power cut) leaves a question
    followed by another question, or by nothing. ``answering`` says a turn is running
    now, so the last question is being answered rather than abandoned.

    >>> marked = mark_unanswered([HumanMessage("a?"), HumanMessage("b?"), AIMessage("B.")])
    >>> [(m.type, m.content, m.additional_kwargs.get("interrupted")) for m in marked]
    [('human', 'a?', None), ('ai', '', True), ('human', 'b?', None), ('ai', 'B.', None)]
    """
    marked: list[BaseMessage] = []
    for position, message in enumerate(messages):
        marked.append(message)
        following = messages[position + 1] if position + 1 < len(messages) else None
        if not isinstance(message, HumanMessage) or isinstance(following, AIMessage):
            continue
        if following is None and answering:
            continue
        marked.append(AIMessage("", additional_kwargs={"interrupted": True, "error": NO_ANSWER}))
    return marked


def export_markdown(info: ThreadInfo, messages: list[BaseMessage]) -> str:
    """Return a conversation as Markdown: each question, each answer, and the answer's sources.

    Text that would make a viewer load an image or render HTML is written as :mod:`agent.markup`
    shows it in the page; other text stays as it was written.
    """
    from agent.markup import escape, inert_markdown  # markdown-it only when a thread is exported

    title = info.title if inert_markdown(info.title) == info.title else escape(info.title)
    started, updated = info.created_at[:16].replace("T", " "), info.updated_at[:16].replace("T", " ")
    lines = [f"# {title}", "", f"Thread `{info.id}` · started {started} UTC · updated {updated} UTC", ""]
    for message in messages:
        if isinstance(message, HumanMessage):
            lines += ["## Question", "", inert_markdown(str(message.content)), ""]
        elif isinstance(message, AIMessage):
            details = message.additional_kwargs
            lines += ["## Passages found (search only)" if details.get("search_only") else "## Answer", ""]
            if not message.content and details.get("interrupted"):
                lines += [f"*No answer: {stop_reason(details)}.*", ""]
                continue
            lines += [inert_markdown(str(message.content)), ""]
            if details.get("interrupted"):
                lines += [f"*Interrupted: {stop_reason(details)}.*", ""]
            sources: list[dict[str, Any]] = details.get("sources", [])
            if sources:
                listed = "\n".join(f"{s['number']}. {source_label(s)} — {s['snippet']}" for s in sources)
                lines += ["Sources:", "", inert_markdown(listed), ""]
    return "\n".join(lines)


def stop_reason(details: dict[str, Any]) -> str:
    """Return why a stored answer stopped short (its ``error``, else :data:`NO_ANSWER`), without a final full stop."""
    return str(details.get("error") or NO_ANSWER).rstrip(".")
