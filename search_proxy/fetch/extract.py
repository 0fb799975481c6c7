"""Main text of a fetched page: HTML through trafilatura, PDF through pypdf, plain text as is.

These functions are CPU-bound and synchronous; the fetcher runs them in a worker thread so one
heavy page cannot stall the event loop.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass

import trafilatura

from search_proxy.errors import PageTooLarge, UnsupportedContent
from search_proxy.fetch.decode import decode_body

log = logging.getLogger("search_proxy.fetch")

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PDF_TYPES = frozenset({"application/pdf", "application/x-pdf"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown"})
_BLANK_LINES = re.compile(r"\n\s*\n+")


@dataclass
class RawPage:
    """What the fetcher read: the final URL after redirects and at most ``max_bytes`` of body."""

    url: str
    content_type: str | None
    body: bytes
    truncated: bool


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def sniff_kind(page: RawPage) -> str:
    """``html``, ``pdf`` or ``text``; raises ``UnsupportedContent`` for anything else."""
    kind = media_type(page.content_type)
    if kind in HTML_TYPES:
        return "html"
    if kind in PDF_TYPES:
        return "pdf"
    if kind in TEXT_TYPES:
        return "text"
    if kind in ("", "application/octet-stream", "binary/octet-stream"):
        head = page.body[:1024].lstrip().lower()
        if head.startswith(b"%pdf-"):
            return "pdf"
        if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
            return "html"
    raise UnsupportedContent(f"content type {kind or 'unknown'} is not extracted")


def truncate(text: str, max_chars: int) -> str:
    """Cut at the last whitespace before the limit so words are not split (CJK cuts anywhere)."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:space].rstrip() if space > max_chars * 0.8 else cut


def _tidy(text: str) -> str:
    return _BLANK_LINES.sub("\n\n", text).strip()


def html_text(body: bytes, content_type: str | None, url: str) -> str:
    text, _codec = decode_body(body, content_type)
    extracted = trafilatura.extract(text, url=url, include_comments=False, include_tables=True)
    if not extracted:
        # Short or unusual pages defeat the main-content heuristics; plain text beats nothing.
        extracted = trafilatura.html2txt(text)
    return _tidy(extracted or "")


def pdf_text(body: bytes, max_chars: int) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(body))
        if reader.is_encrypted:
            raise UnsupportedContent("encrypted PDF")
        parts: list[str] = []
        size = 0
        for page in reader.pages:
            chunk = page.extract_text() or ""
            parts.append(chunk)
            size += len(chunk)
            if size >= max_chars:
                break
    except PdfReadError as exc:
        raise UnsupportedContent(f"unreadable PDF: {exc}") from exc
    return _tidy("\n\n".join(parts))


def extract_text(page: RawPage, *, max_chars: int, pdf: bool = True) -> str:
    """Main text truncated to ``max_chars``; raises ``FetchError`` subclasses when there is none."""
    kind = sniff_kind(page)
    if kind == "pdf":
        if not pdf:
            raise UnsupportedContent("PDF extraction is disabled")
        if page.truncated:
            raise PageTooLarge("PDF is larger than the byte limit")
        text = pdf_text(page.body, max_chars)
    elif kind == "text":
        text = _tidy(decode_body(page.body, page.content_type)[0])
    else:
        text = html_text(page.body, page.content_type, page.url)
    if not text:
        raise UnsupportedContent("no text could be extracted")
    return truncate(text, max_chars)
