"""What the fake Ollama's models say: meaningful embeddings and a grounded-looking default reply.

Embeddings are hashed bags of words, so shared words make texts similar. The default chat
reply reads only the request's structure (roles, fenced sources, ``stop``), never the wording
of ragchat's prompts; tests script anything else (see ``FakeOllama.respond`` and ``enqueue``).
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

DIMENSION = 768
TASK_PREFIX = re.compile(r"^\s*(search_document|search_query|clustering|classification):\s*")
WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    "a an and are as at be by did do does for from had has have how in is it its of on or "
    "the that this to was were what when where which who whom why will with".split()
)
SOURCE_BLOCK = re.compile(r"<source-(\w+) id=\"(\d+)\"[^>\n]*>\n(.*?)\n</source-\1>", re.DOTALL)
"""A fenced source as ragchat sends it: ``<source-BOUNDARY id="n" …>``, the text, ``</source-BOUNDARY>``.
Only the fence's format is known here, never the boundary or the wording around it."""
NOT_FOUND = "I couldn't find this in your documents."


def embed_text(text: str, dimension: int = DIMENSION) -> list[float]:
    """Return a unit vector for ``text``: a signed hash of its content words."""
    vector = [0.0] * dimension
    for word in WORD.findall(TASK_PREFIX.sub("", text).lower()):
        if word in STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s"):
            word = word[:-1]  # crude plural folding: "lighthouses" meets "lighthouse"
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        slot = int.from_bytes(digest[:4], "little") % dimension
        vector[slot] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0  # real models never return a zero vector
    return [v / norm for v in vector]


def content_words(text: str) -> set[str]:
    """Lower-cased words of ``text`` without stopwords (what the fake treats as meaning)."""
    return {w for w in WORD.findall(text.lower()) if w not in STOPWORDS}


def reply_from_sources(body: dict[str, Any]) -> str:
    """Answer like a grounded model would, from the request's structure alone.

    With fenced sources in a system message: the source sentence sharing most words with the
    last user message, quoted with its citation, e.g. ``"It cost £1,860,000 in total. [2]"``.
    With a system message but no sources: the not-found sentence. With no system message (a
    bare task, such as rewriting a follow-up or checking an answer): an empty reply, so a test
    that cares what such a step answers scripts it.
    """
    messages = body.get("messages", [])
    systems = [str(m.get("content", "")) for m in messages if m.get("role") == "system"]
    if not systems:
        return ""
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    question = content_words(users[-1]) if users else set()
    best: tuple[int, int, str] | None = None
    for _, number, text in SOURCE_BLOCK.findall("\n".join(systems)):
        lines = " ".join(line for line in text.splitlines() if not line.startswith("#"))
        for sentence in re.split(r"(?<=[.!?])\s+", lines.strip()):
            overlap = len(question & content_words(sentence))
            if sentence and (best is None or overlap > best[0]):
                best = (overlap, int(number), sentence)
    if best is None:
        return NOT_FOUND
    return f"{best[2]} [{best[1]}]"


def rewrite_request(body: dict[str, Any]) -> bool:
    """Return whether a chat request is ragchat's follow-up rewrite: it is capped at ``REWRITE_TOKENS``.

    A structural test, so a handler can script the rewrite call alone without reading its prompt.
    """
    from agent.graph import REWRITE_TOKENS

    return (body.get("options") or {}).get("num_predict") == REWRITE_TOKENS


def cut_at_stop(text: str, body: dict[str, Any]) -> str:
    r"""Return ``text`` up to the first of the request's ``stop`` strings, as Ollama ends a reply there.

    >>> cut_at_stop("Sure! Here it is:\nQuillmarsh bell", {"options": {"stop": ["\n"]}})
    'Sure! Here it is:'
    """
    for stop in (body.get("options") or {}).get("stop", []):
        if stop:
            text = text.split(stop, 1)[0]
    return text
