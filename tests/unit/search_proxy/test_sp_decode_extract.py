"""Charset decoding and text extraction, without any network."""

from __future__ import annotations

import codecs

import pytest

from search_proxy.errors import PageTooLarge, UnsupportedContent
from search_proxy.fetch.decode import decode_body, meta_charset, normalise_charset
from search_proxy.fetch.extract import RawPage, extract_text, sniff_kind, truncate

pytestmark = pytest.mark.unit

ZH = "港口起重机检查清单涵盖液压系统、制动器和钢丝绳。镕"  # 镕 is outside GB2312, inside GBK


def page(charset_meta: str = "") -> str:
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset_meta}">' if charset_meta else ""
    return f"<html><head>{meta}<title>t</title></head><body><p>{ZH}</p></body></html>"


def test_header_charset_wins_when_it_decodes() -> None:
    text, codec = decode_body(page().encode("gbk"), "text/html; charset=GBK")
    assert ZH in text and codec == "gb18030"


def test_gb2312_label_decodes_gbk_only_characters() -> None:
    text, _codec = decode_body(page("gb2312").encode("gbk"), "text/html")
    assert ZH in text  # decoding with the gb2312 codec itself would fail on 镕


def test_lying_header_falls_back_to_meta() -> None:
    text, codec = decode_body(page("gbk").encode("gbk"), "text/html; charset=utf-8")
    assert ZH in text and codec == "gb18030"


def test_undeclared_charset_is_detected() -> None:
    body = f"<html><body><p>{ZH * 5}</p></body></html>".encode("gb18030")
    text, _codec = decode_body(body, None)
    assert ZH in text


def test_multibyte_character_cut_by_byte_limit_is_tolerated() -> None:
    body = page("utf-8").encode("utf-8")
    cut = body[: body.index("镕".encode()) + 1]  # one byte into a three-byte character
    text, codec = decode_body(cut, "text/html; charset=utf-8")
    assert codec == "utf-8" and ZH[:-1] in text


def test_bom_overrides_everything() -> None:
    text, codec = decode_body(codecs.BOM_UTF8 + "héllo".encode(), "text/html; charset=gbk")
    assert text == "héllo" and codec == "utf-8-sig"


def test_latin1_label_means_windows_1252() -> None:
    assert normalise_charset("ISO-8859-1") == "cp1252"
    assert normalise_charset("no-such-charset") is None
    assert meta_charset(b'<head><meta charset="Shift_JIS">') == "Shift_JIS"


def test_truncate_prefers_word_boundaries() -> None:
    assert truncate("alpha beta gamma delta", 12) == "alpha beta"
    assert truncate(ZH * 10, 7) == ZH[:7]
    assert truncate("short", 100) == "short"


@pytest.mark.parametrize(
    ("content_type", "body", "kind"),
    [
        ("text/html; charset=utf-8", b"<p>x</p>", "html"),
        ("application/xhtml+xml", b"<p>x</p>", "html"),
        ("application/pdf", b"%PDF-1.4", "pdf"),
        (None, b"  %PDF-1.7 ...", "pdf"),
        ("application/octet-stream", b"<!DOCTYPE html><html>", "html"),
        ("text/plain", b"hello", "text"),
    ],
)
def test_sniff_kind(content_type: str | None, body: bytes, kind: str) -> None:
    assert sniff_kind(RawPage("https://x/", content_type, body, False)) == kind


@pytest.mark.parametrize("content_type", ["image/png", "application/zip", "application/json"])
def test_other_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedContent, match=content_type):
        extract_text(RawPage("https://x/", content_type, b"\x89PNG", False), max_chars=100)


def test_truncated_pdf_is_too_large_and_broken_pdf_is_unsupported() -> None:
    with pytest.raises(PageTooLarge):
        extract_text(RawPage("https://x/", "application/pdf", b"%PDF-1.4 partial", True), max_chars=100)
    with pytest.raises(UnsupportedContent):
        extract_text(RawPage("https://x/", "application/pdf", b"%PDF-1.4 not really", False), max_chars=100)


def test_plain_text_is_kept_and_truncated() -> None:
    body = ("word " * 100).encode()
    assert extract_text(RawPage("https://x/", "text/plain", body, False), max_chars=20) == "word word word word"


def test_html_main_text_is_extracted() -> None:
    html = (
        "<html><body><nav>Menu Login Register</nav><article><h1>Report</h1>"
        + "<p>The terminal handled a record number of containers this quarter.</p>" * 5
        + "</article></body></html>"
    )
    text = extract_text(RawPage("https://x/", "text/html", html.encode(), False), max_chars=1000)
    assert "record number of containers" in text and "Menu Login" not in text


def test_page_without_text_is_unsupported() -> None:
    with pytest.raises(UnsupportedContent, match="no text"):
        extract_text(RawPage("https://x/", "text/html", b"<html><body></body></html>", False), max_chars=100)
