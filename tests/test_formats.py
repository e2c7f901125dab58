from __future__ import annotations

import codecs
import logging
import random
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.errors import DependencyError

from knowledge import formats, readers
from knowledge.formats import Section, UnreadableFile, read_sections


def write_pdf(path: Path, pages: list[str | None]) -> Path:
    """Write a minimal PDF by hand: one page per entry, with that text in Helvetica (``None``: no content)."""
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"", b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for text in pages:
        page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >>"
        if text is not None:
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")
            stream = b"BT /F1 12 Tf 72 720 Td (" + escaped + b") Tj ET"
            objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
            page += b" /Contents %d 0 R" % len(objects)
        objects.append(page + b" >>")
        kids.append(b"%d 0 R" % len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def write_encrypted_pdf(path: Path, user_password: str) -> Path:
    writer = PdfWriter(clone_from=write_pdf(path, ["Locked text"]))
    writer.encrypt(user_password, owner_password="owner")
    writer.write(path)
    return path


def reason(path: Path) -> str:
    with pytest.raises(UnreadableFile) as info:
        read_sections(path)
    return str(info.value)


def test_handwritten_pdf_helper_is_valid_for_pypdf(tmp_path: Path) -> None:
    reader = PdfReader(write_pdf(tmp_path / "a.pdf", ["First (page)", None, "Third"]), strict=True)
    assert [page.extract_text() for page in reader.pages] == ["First (page)", "", "Third"]


def test_pdf_gives_one_section_per_page_with_its_number(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "a.pdf", ["Alpha page", "Beta page"])
    assert read_sections(path) == [Section("Alpha page", page=1), Section("Beta page", page=2)]


def test_pdf_page_without_text_is_left_out(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "a.pdf", ["Alpha", None, "Gamma"])
    assert [(s.page, s.text) for s in read_sections(path)] == [(1, "Alpha"), (3, "Gamma")]


def test_pdf_with_a_password_is_reported_as_encrypted(tmp_path: Path) -> None:
    path = write_encrypted_pdf(tmp_path / "locked.pdf", "secret")
    assert reason(path) == "encrypted PDF (needs a password)"


def test_pdf_encrypted_with_an_empty_user_password_is_read(tmp_path: Path) -> None:
    path = write_encrypted_pdf(tmp_path / "open.pdf", "")
    assert read_sections(path) == [Section("Locked text", page=1)]


@pytest.mark.parametrize("cut", [20, 200])
def test_truncated_pdf_is_damaged(tmp_path: Path, cut: int) -> None:
    data = write_pdf(tmp_path / "whole.pdf", ["Alpha", "Beta"]).read_bytes()
    (tmp_path / "cut.pdf").write_bytes(data[:cut])
    assert reason(tmp_path / "cut.pdf") == "damaged PDF"


def test_garbage_with_a_pdf_name_is_damaged(tmp_path: Path) -> None:
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    assert reason(tmp_path / "junk.pdf") == "damaged PDF"


def test_pdf_without_any_text_is_probably_scanned(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "scan.pdf", [None, None])
    assert reason(path) == "no extractable text (scanned PDF?)"


def test_aes_pdf_without_cryptography_says_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def needs_cryptography(*args: object, **kwargs: object) -> None:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(readers, "PdfReader", needs_cryptography)
    assert reason(write_pdf(tmp_path / "aes.pdf", ["x"])) == "encrypted PDF (AES needs the cryptography package)"


def test_pypdf_warnings_are_silenced_and_its_log_level_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    (tmp_path / "cut.pdf").write_bytes(write_pdf(tmp_path / "a.pdf", ["Alpha"]).read_bytes()[:200])
    assert reason(tmp_path / "cut.pdf") == "damaged PDF"
    assert [r for r in caplog.records if r.name.startswith("pypdf")] == []
    assert logging.getLogger("pypdf").level == logging.NOTSET


HTML = """<!DOCTYPE html>
<html><head><title>  The   Harbour </title><style>p { color: red }</style>
<script>var hidden = "do not show";</script></head>
<body><!-- a comment --><h1>Tides</h1><p>Fish  &amp;
chips</p><p>Second <b>bold</b> paragraph</p><noscript>enable js</noscript>
<svg><title>icon</title><text>vector</text></svg><ul><li>one</li><li>two</li></ul>
<table><tr><th>Day</th><th>Ferry</th></tr><tr><td>Mon</td><td>07:15</td></tr></table></body></html>"""


def test_html_keeps_title_and_visible_text_only(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text(HTML, encoding="utf-8")
    [section] = read_sections(tmp_path / "page.html")
    assert section.text == (
        "The Harbour\n\nTides\n\nFish & chips\n\nSecond bold paragraph\n\none\ntwo\n\nDay | Ferry\nMon | 07:15"
    )
    assert section.page is None


def test_html_without_visible_text_is_empty(tmp_path: Path) -> None:
    (tmp_path / "stub.htm").write_text("<title>Redirecting</title><script>go()</script>", encoding="utf-8")
    assert reason(tmp_path / "stub.htm") == "empty"


def test_html_line_breaks_and_preformatted_text_keep_their_lines(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("<div>one<br>two</div><pre>x  = 1\ny = 2</pre>", encoding="utf-8")
    assert read_sections(tmp_path / "a.html")[0].text == "one\ntwo\n\nx = 1\ny = 2"


def test_html_in_a_declared_legacy_charset_is_decoded(tmp_path: Path) -> None:
    html = '<meta charset="windows-1252"><p>Café – naïve</p>'
    (tmp_path / "old.html").write_bytes(html.encode("windows-1252"))
    assert read_sections(tmp_path / "old.html")[0].text == "Café – naïve"


def test_deeply_nested_html_does_not_hit_the_recursion_limit(tmp_path: Path) -> None:
    (tmp_path / "deep.html").write_text("<span>" * 5000 + "deep" + "</span>" * 5000, encoding="utf-8")
    assert read_sections(tmp_path / "deep.html")[0].text == "deep"


def test_docx_paragraphs_and_tables_are_read_in_document_order(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Timetable")
    table = document.add_table(rows=2, cols=2)
    for cell, text in zip(table._cells, ["Day", "Ferry", "Mon", "07:15"], strict=True):
        cell.text = text
    document.add_paragraph("Subject to weather.")
    document.save(tmp_path / "t.docx")
    assert read_sections(tmp_path / "t.docx") == [Section("Timetable\nDay | Ferry\nMon | 07:15\nSubject to weather.")]


def test_docx_merged_cells_are_not_repeated(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    table.cell(0, 0).merge(table.cell(0, 1)).text = "wide"
    table.cell(0, 2).text = "narrow"
    document.save(tmp_path / "m.docx")
    assert read_sections(tmp_path / "m.docx")[0].text == "wide | narrow"


def test_docx_that_is_really_plain_text_is_damaged(tmp_path: Path) -> None:
    (tmp_path / "fake.docx").write_text("just some text", encoding="utf-8")
    assert reason(tmp_path / "fake.docx") == "damaged DOCX"


def test_empty_docx_is_empty(tmp_path: Path) -> None:
    docx.Document().save(tmp_path / "blank.docx")
    assert reason(tmp_path / "blank.docx") == "empty"


def test_text_is_returned_verbatim(tmp_path: Path) -> None:
    text = "\n  # Notes \r\n\tindented line  \n\n"
    (tmp_path / "n.md").write_bytes(text.encode("utf-8"))
    assert read_sections(tmp_path / "n.md") == [Section(text)]


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_bytes(codecs.BOM_UTF8 + "café".encode())
    assert read_sections(tmp_path / "b.txt")[0].text == "café"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_text_with_a_utf16_or_utf32_bom_is_read(tmp_path: Path, encoding: str) -> None:
    bom = codecs.BOM_UTF16_BE if encoding == "utf-16-be" else b""
    (tmp_path / "w.txt").write_bytes(bom + "Grüße aus Kiel".encode(encoding))
    assert read_sections(tmp_path / "w.txt")[0].text == "Grüße aus Kiel"


def test_nul_bytes_mean_binary(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    assert reason(tmp_path / "x.txt") == "binary content, not text"


def test_windows_1252_text_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "menu.txt").write_bytes("café crème brûlée — €5, “served” warm".encode("cp1252"))
    assert read_sections(tmp_path / "menu.txt") == [Section("café crème brûlée — €5, “served” warm")]


def test_latin_1_text_is_decoded(tmp_path: Path) -> None:
    (tmp_path / "brief.md").write_bytes("Grüße aus Kiel: schöne Straße, Bäcker à côté.".encode("latin-1"))
    assert read_sections(tmp_path / "brief.md") == [Section("Grüße aus Kiel: schöne Straße, Bäcker à côté.")]


def test_latin_1_text_with_one_accent_is_decoded_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "quay.txt").write_bytes("The café on the quay opens at seven every morning.".encode("latin-1"))
    assert read_sections(tmp_path / "quay.txt")[0].text == "The café on the quay opens at seven every morning."


def test_binary_without_nul_bytes_is_not_text(tmp_path: Path) -> None:
    rng = random.Random(13)
    noise = bytes(rng.randrange(1, 256) for _ in range(4000))  # no NUL byte: the quick check misses it
    (tmp_path / "photo.txt").write_bytes(noise)
    assert reason(tmp_path / "photo.txt") == "binary content, not text"


@pytest.mark.parametrize("content", [b"\xe9", b"a\xe9b", b"\x81\x8d", b"\xff\xfe\xfd", b"\x80"])
def test_short_ambiguous_bytes_are_read_or_skipped_never_an_error(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "short.txt").write_bytes(content)
    try:
        sections = read_sections(tmp_path / "short.txt")
    except UnreadableFile as exc:
        assert str(exc) in {"binary content, not text", "not UTF-16 text"}  # b"\xff\xfe" is a UTF-16 BOM
    else:
        assert [type(s.text) for s in sections] == [str] and sections[0].text.strip()


def test_one_bad_byte_in_long_utf8_text_is_kept_leniently(tmp_path: Path) -> None:
    (tmp_path / "log.txt").write_bytes("Grüße ".encode() + b"x" * 200 + b"\xff" + b"y" * 200)
    assert read_sections(tmp_path / "log.txt")[0].text == "Grüße " + "x" * 200 + "\ufffd" + "y" * 200


def test_utf8_text_is_never_sent_to_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(formats, "_detect", lambda data: pytest.fail("UTF-8 text went to detection"))
    (tmp_path / "u.txt").write_bytes("café crème brûlée — €5".encode())
    assert read_sections(tmp_path / "u.txt")[0].text == "café crème brûlée — €5"


@pytest.mark.parametrize("content", [b"", b"  \n\t\r\n"])
def test_empty_or_blank_text_file_is_empty(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "e.txt").write_bytes(content)
    assert reason(tmp_path / "e.txt") == "empty"


def test_suffix_is_matched_case_insensitively(tmp_path: Path) -> None:
    (tmp_path / "LOUD.TXT").write_text("hello", encoding="utf-8")
    assert read_sections(tmp_path / "LOUD.TXT") == [Section("hello")]


def test_unsupported_suffix_is_refused_without_reading(tmp_path: Path) -> None:
    assert reason(tmp_path / "missing.csv") == "unsupported file type"


def test_missing_file_reports_the_os_reason(tmp_path: Path) -> None:
    assert reason(tmp_path / "missing.txt") == "No such file or directory"
