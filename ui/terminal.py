"""Terminal output: every line the CLI prints, with nothing from a document able to act on the terminal.

Text from documents, file names, titles and questions may carry sequences that retitle the terminal (OSC),
clear it or move the cursor (CSI), hide text with a lone carriage return, or reverse it with a bidi override;
8-bit C1 controls (0x80–0x9f) do the same on terminals that honour them. Running text loses them
(:func:`clean`, :func:`say`, :class:`TerminalText` for a streamed answer); names and other one-line fields
show them escaped (:func:`one_line`). Tables are laid out by ``tabulate`` and sizes by ``humanize`` after
their cells are made one line; the ingest progress bar is tqdm's. Imported by every command, so only the
standard library is imported at the top.
"""

from __future__ import annotations

import re
import sys
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from knowledge.ingest import IngestProgress

_BIDI = r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(rf"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI}]")  # all but tab and newline
_ESCAPED = re.compile(rf"[\x00-\x1f\x7f-\x9f{_BIDI}\u2028\u2029]")  # also tab and line breaks
_STRING = r"(?:\x1b[\]P^_X]|[\x90\x98\x9d-\x9f])[^\x07\x1b\x9c]*"  # OSC, DCS, SOS, PM, APC: text up to BEL or ST
_CSI = r"(?:\x1b\[|\x9b)[0-?]*[ -/]*"
_SEQUENCE = re.compile(rf"{_STRING}(?:\x07|\x1b\\|\x9c)|{_CSI}[@-~]|\x1b[ -/]*[0-~]")
_UNFINISHED = re.compile(rf"{_STRING}\x1b?|{_CSI}|\x1b[ -/]*")  # a sequence still missing its end
_INTRODUCER = re.compile(r"[\x1b\x90\x98\x9b\x9d-\x9f]")
_HELD_AT_MOST = 512  # characters of an unfinished sequence held back before giving up on it


def clean(text: str) -> str:
    r"""Return running text without escape sequences or control characters (tabs and newlines stay).

    A carriage return becomes a newline, so the text it would have overwritten stays visible.

    >>> clean("\x1b]0;pwned\x07Tide \x1b[31mred\x1b[0m at 06:40\rfake\u202e")
    'Tide red at 06:40\nfake'
    """
    text = _SEQUENCE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text)


def one_line(value: object) -> str:
    r"""Return ``value`` as one line with every control character shown escaped, for names and table cells.

    >>> print(one_line("two\nlines\t\x1b[2J\u202e.md"))
    two\nlines\t\x1b[2J\u202e.md
    """
    return _ESCAPED.sub(_escape, str(value))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if char in named:
        return named[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def say(text: str = "", file: IO[str] | None = None, end: str = "\n") -> None:
    """Print ``text`` (to stdout unless ``file`` is given) as :func:`clean` leaves it: every CLI line goes here."""
    (file or sys.stdout).write(clean(text) + end)


class TerminalText:
    """:func:`clean` for text that arrives in pieces: a sequence split across pieces is held until complete."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        """Return what can be shown of ``piece`` now, holding back an unfinished sequence or a final carriage return."""
        text = self._held + piece
        cut = self._ready(text)
        self._held = text[cut:]
        return clean(text[:cut])

    def flush(self) -> str:
        """Return whatever is still held: the text has ended, so a sequence cut short by its end is dropped."""
        text, self._held = self._held, ""
        return "" if _UNFINISHED.fullmatch(text) else clean(text)

    @staticmethod
    def _ready(text: str) -> int:
        position = 0
        while found := _INTRODUCER.search(text, position):
            start = found.start()
            if _UNFINISHED.fullmatch(text, start) and len(text) - start <= _HELD_AT_MOST:
                return start  # checked first: "\x1b]" alone is also a complete (short) sequence
            if complete := _SEQUENCE.match(text, start):
                position = complete.end()
            else:
                position = start + 1  # not a sequence: clean() drops the lone introducer
        return len(text) - 1 if text.endswith("\r") else len(text)  # "\r\n" may be split too


class ProgressBar:
    """A tqdm bar on stderr fed by ingest progress: the phase and file in front, files in the postfix.

    While files are read and split it counts the chunks found (``Splitting big.txt: 640
    chunks found, files 0/1``); while they are embedded, the chunks embedded of the total,
    with rate and time left (``Embedding:  45%|…| 128/290 […, files 0/1]``).
    """

    FOUND = "{desc}{n_fmt} chunks found{postfix}"

    def __init__(self, label: str = "") -> None:
        """Create the bar lazily, on the first callback; ``label`` goes before the phase (a sweep's build)."""
        self.label = label
        self._bar: Any = None

    def update(self, progress: IngestProgress) -> None:
        """Show the phase and file, and move the bar to the chunks found or embedded and the files done."""
        from tqdm import tqdm

        embedding = progress.phase == "embedding"
        phase = progress.phase if embedding else f"{progress.phase} {one_line(progress.file)}"
        description = f"{self.label} · {phase}" if self.label else phase[0].upper() + phase[1:]
        files = f"files {progress.files_done}/{progress.files_total}"
        if self._bar is None:
            self._bar = tqdm(
                desc=f"{description}: ", postfix=files, unit="chunk", file=sys.stderr, bar_format=self.FOUND
            )
        bar = self._bar
        bar.set_postfix_str(files, refresh=False)
        if embedding and bar.total is None:  # from chunks found to chunks embedded of their total
            bar.set_description(description, refresh=False)
            bar.bar_format = None
            bar.reset(total=progress.chunks_total)
        bar.update(progress.chunks_done - bar.n)
        if bar.desc != f"{description}: ":
            bar.set_description(description)  # drawn at once: a phase may be shorter than tqdm's refresh interval
        if embedding and progress.chunks_done >= progress.chunks_total:
            bar.close()  # done: callers that never exit a `with` (a sweep's builds) still end the line

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()


def human_size(size: int) -> str:
    """Return a byte count as ``12.3 kB``-style text (decimal units, as file managers show them).

    >>> human_size(512), human_size(2048), human_size(5_300_000), human_size(999_999)
    ('512 B', '2.0 kB', '5.3 MB', '1.0 MB')
    """
    from humanize import naturalsize

    return f"{size} B" if size < 1000 else naturalsize(size)  # "B" beside "kB", not humanize's "Bytes"


_NUMBER = re.compile(r"-?\d[\d.,]*[%*]?( \S+)?")
"""A cell a reader compares by magnitude: ``4``, ``0.50*``, ``75%``, ``2.0 kB``."""


def print_table(header: tuple[str, ...], rows: list[tuple[str, ...]], out: IO[str] | None = None) -> None:
    """Print columns sized to their widest cell, one line per row, each cell on one line (:func:`one_line`).

    A column whose cells are mostly numbers is right-aligned, header included; the others are left-aligned.
    """
    from tabulate import tabulate

    table = [tuple(one_line(cell) for cell in row) for row in (header, *rows)]
    align = ["right" if _mostly_numbers(column[1:]) else "left" for column in zip(*table, strict=True)]
    # The header goes in as a row: tabulate would widen every column by two spaces around a header of its own.
    say(tabulate(table, tablefmt="plain", disable_numparse=True, colalign=align), file=out)


def _mostly_numbers(cells: tuple[str, ...]) -> bool:
    return sum(1 for cell in cells if _NUMBER.fullmatch(cell)) * 2 > len(cells)


def print_history(messages: list[Any], out: IO[str] | None = None) -> None:
    """Print a thread's questions and answers (without control sequences), each answer with its sources.

    A search-only reply shows its label (its text) and the passages it found; an answer cut short says so.
    """
    from agent.transcript import stop_reason

    if not messages:
        say("Nothing in this thread yet — ask a question.", file=sys.stderr)
        return
    out = out or sys.stdout
    for position, message in enumerate(messages):
        if message.type == "human":
            say(("\n" if position else "") + f"You: {clean(str(message.content))}", file=out)
            continue
        details = message.additional_kwargs
        if message.content:
            say(clean(str(message.content)), file=out)
        if details.get("interrupted"):
            note = stop_reason(details)
            say(f"({'Interrupted' if message.content else 'No answer'}: {clean(note)}.)", file=out)
        print_sources(details.get("sources", []), out)


def print_sources(sources: list[dict[str, Any]], out: IO[str] | None = None, heading: str = "\nSources:") -> None:
    """List sources as ``[n] file · article n “title” · lines a–b — relevance`` with a snippet underneath.

    A record that carries raw ``scores`` (``ragchat search`` adds them, for tuning) shows them in brackets.
    """
    from agent.sources import source_label

    out = out or sys.stdout
    if not sources:
        return
    say(heading, file=out)
    for s in sources:
        scores = f" ({s['scores']})" if s.get("scores") else ""
        say(f"  [{s['number']}] {one_line(source_label(s))}{scores}\n      {one_line(clean(s['snippet']))}", file=out)
    out.flush()


def raw_scores(metadata: dict[str, Any]) -> str:
    """Return the search's numbers for one chunk: its ranking score, then the cosine and BM25 behind it.

    >>> raw_scores({"score": 0.9302, "vector_score": 0.71, "keyword_score": 3.2})
    'score 0.93 · cosine 0.71 · BM25 3.20'
    """
    names = (("score", "score"), ("vector_score", "cosine"), ("keyword_score", "BM25"))
    return " · ".join(f"{name} {metadata[key]:.2f}" for key, name in names if metadata.get(key) is not None)
