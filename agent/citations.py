"""Keep only citation numbers that point at a source the prompt really held.

A model sometimes cites ``[5]`` when it was given three sources. Such numbers are
removed (with the space before them) before the answer is stored, and — through
:class:`CitationStream` — before the user sees them streamed, so the streamed text and
the stored answer are the same string.
"""

from __future__ import annotations

import re

_GROUP = r"\[(?=[\d,\s]{1,40}\])\d+(?:\s*,\s*\d+)*\]"
CITATION_RUN = re.compile(rf"[ \t]*(?:{_GROUP})+")
"""Spaces, then one or more adjacent bracket groups of numbers: ``" [1][2, 3]"``."""
GROUP = re.compile(_GROUP)
# What could still grow into a citation run: spaces, complete groups, then maybe an open one.
PARTIAL_RUN = re.compile(rf"[ \t]*(?:{_GROUP})*(?:\[[\d,\s]{{0,40}})?")


def clean_citations(text: str, count: int) -> str:
    """Drop citation numbers outside ``1..count``; a run left empty disappears with its space.

    >>> clean_citations("Tall [1], built 1871 [4][2]. Both [1, 4].", 2)
    'Tall [1], built 1871 [2]. Both [1].'
    """

    def keep(run: re.Match[str]) -> str:
        text = run.group(0)
        lead = text[: text.index("[")]
        groups = []
        for group in GROUP.findall(text):
            valid = [n.strip() for n in group[1:-1].split(",") if 1 <= int(n) <= count]
            if valid:
                groups.append(f"[{', '.join(valid)}]")
        return lead + "".join(groups) if groups else ""

    return CITATION_RUN.sub(keep, text)


class CitationStream:
    """Clean citations in a token stream: ``feed`` tokens, then ``flush``; the pieces join to the cleaned text.

    Text that might still become (or extend) a citation run — trailing spaces, an open
    ``[``, a run that a further ``[`` could continue — is held back until decided.
    """

    def __init__(self, count: int) -> None:
        """Accept citation numbers ``1..count``."""
        self.count = count
        self._pending = ""

    def feed(self, token: str) -> str:
        """Return the part of the stream that is now safe to show."""
        self._pending += token
        hold = self._undecided_from(self._pending)
        ready, self._pending = self._pending[:hold], self._pending[hold:]
        return clean_citations(ready, self.count)

    def flush(self) -> str:
        """Return whatever is still held back, cleaned."""
        rest, self._pending = self._pending, ""
        return clean_citations(rest, self.count)

    @staticmethod
    def _undecided_from(text: str) -> int:
        for start in range(len(text)):
            if text[start] in " \t[" and PARTIAL_RUN.fullmatch(text, start):
                return start
        return len(text)
