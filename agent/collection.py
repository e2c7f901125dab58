"""Questions about the documents themselves: "What is in these documents?", "Summarise town_guide.txt".

Such a question names no fact, so a search for its words finds nothing close and the turn
would abstain. :func:`about_documents` recognises them, by rules that only read the message
and the indexed file names:

* a file is **named** by its path, its file name, its name without extension (``town_guide``,
  "town guide"; a one-word name only before "file" or "document": "the market file"), or two
  or more words of its name that together fit no other file ("the spring ledger" →
  ``harbour_ledger_spring.md``); a folder by its name and the word "folder";
* an **overview** is asked by phrasings such as "what is in these documents", "which files do
  I have", "summarise …", "overview of …", "what is … about", "what topics does … cover".

The retrieve step then answers from what the index knows: the opening passage of each file
(an overview of everything), the opening passage of each article of the named files (an
overview of them), or a search limited to the named files ("What does the spring ledger say
about the regatta?").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from knowledge.keyword import terms

_COLLECTION = r"(?:documents?|docs|files?|folders?|collection|library|articles?|sources?|papers?|texts?)"
OVERVIEW = re.compile(
    "|".join(
        [
            rf"\bwhat(?:'s| is| are)?\s+(?:is\s+)?(?:in|inside)\s+(?:these|those|the|my|this|all)\s+(?:\w+\s+)?"
            rf"{_COLLECTION}\b",
            rf"\bwhich\s+{_COLLECTION}\s+(?:do\s+i\s+have|are\s+(?:there|here|indexed|loaded))\b",
            rf"\bwhat\s+{_COLLECTION}\s+(?:do\s+i\s+have|are\s+(?:there|here|indexed|loaded))\b",
            rf"\b(?:list|show)\s+(?:me\s+)?(?:the|my|all)\s+(?:\w+\s+)?{_COLLECTION}\b",
            rf"\b(?:these|those|my|the)\s+{_COLLECTION}\s+(?:are\s+)?(?:about|from)\b",
            rf"\bwhat\s+(?:are|is)\s+(?:these|those|my|the)\s+{_COLLECTION}\s+about\b",
            r"\bsummari[sz]e\b|\bsummary\s+of\b|\boverview\b|\bgist\s+of\b",
            r"\bwhat(?:'s| is| are)\s+.+\s+about\s*\??\s*$",
            r"\bwhat(?:'s| is)\s+in\s+",
            r"\bwhat\s+(?:topics|subjects|stories|articles)\b",
            r"\btell\s+me\s+about\s+(?:these|those|my|the)\s+",
        ]
    ),
    re.IGNORECASE,
)
"""Phrasings that ask what documents hold rather than a fact in them."""
SAYS_ABOUT = re.compile(r"\b(?:say|says|said|write|writes|tell\s+(?:me|us)|mention|mentions)\s+(?:about|of|on)\b(.*)$",
                        re.IGNORECASE)  # fmt: skip
"""What a named file is asked about: "What does the spring ledger say about *the regatta*?"."""
GENERIC = frozenset({"file", "files", "document", "documents", "doc", "txt", "md", "pdf", "html", "htm", "docx"})
"""Words of a file name that name no file in particular."""


@dataclass(frozen=True)
class AboutDocuments:
    """A question about the documents: which files it names (none: all of them) and what it asks of them."""

    files: tuple[str, ...]
    """Indexed source names the question names; empty for the whole collection."""
    topic: str
    """What is asked about the named files ("" for an overview): searched within them."""


def about_documents(message: str, sources: Sequence[str]) -> AboutDocuments | None:
    """Return what ``message`` asks about the documents, or ``None`` for an ordinary question.

    >>> files = ["town_guide.txt", "harbour_ledger_spring.md", "harbour_ledger_summer.md"]
    >>> about_documents("What is in these documents?", files)
    AboutDocuments(files=(), topic='')
    >>> about_documents("Summarise town_guide.txt", files)
    AboutDocuments(files=('town_guide.txt',), topic='')
    >>> about_documents("What does the spring ledger say about the regatta?", files)
    AboutDocuments(files=('harbour_ledger_spring.md',), topic='the regatta')
    >>> about_documents("When was the harbour wall built?", files) is None
    True
    """
    named = named_files(message, sources)
    says = SAYS_ABOUT.search(message)
    if named and says and terms(says.group(1)):
        return AboutDocuments(tuple(named), says.group(1).strip(" ?.!"))
    if OVERVIEW.search(message):
        if named:
            return AboutDocuments(tuple(named), "")
        if re.search(rf"\b{_COLLECTION}\b", message, re.IGNORECASE) and not _asks_a_fact(message):
            return AboutDocuments((), "")
    return None


def named_files(message: str, sources: Sequence[str]) -> list[str]:
    """Return the indexed sources ``message`` names (see the module's rules), in index order."""
    text = message.lower()
    said = set(re.findall(r"\w+", text))
    named: list[str] = []
    for source in sources:
        path = PurePosixPath(source.lower())
        stem_words = [w for w in re.split(r"[\W_]+", path.stem) if w]
        spelled = [re.escape(form) for form in (source.lower(), path.name)]
        stems = [re.escape(path.stem), r"[\s_-]+".join(map(re.escape, stem_words))]
        # a one-word name ("market") is an ordinary word too: only "the market file" names the file
        spelled += stems if len(stem_words) > 1 else [rf"{stem}\s+{_COLLECTION}" for stem in stems]
        if any(re.search(rf"(?<![\w/]){form}(?![\w])", text) for form in spelled):
            named.append(source)
            continue
        folders = path.parts[:-1]
        if folders and "folder" in said and any(folder in said for folder in folders):
            named.append(source)
    if named:
        return named
    # two or more words of a name, which together fit that file alone
    words = {source: {w for w in re.split(r"[\W_]+", PurePosixPath(source.lower()).stem) if w} - GENERIC
             for source in sources}  # fmt: skip
    fits = {source: name & said for source, name in words.items() if len(name & said) >= 2}
    return [s for s, hit in fits.items() if not any(hit <= words[o] for o in sources if o != s)]


def _asks_a_fact(message: str) -> bool:
    """Return whether an overview-like message still asks a fact ("what is in the files about the ferry fare")."""
    rest = re.sub(rf"{OVERVIEW.pattern}|\b{_COLLECTION}\b", " ", message, flags=re.IGNORECASE)
    return len(terms(rest)) >= 2
