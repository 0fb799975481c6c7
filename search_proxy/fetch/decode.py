"""Bytes → text for fetched pages, whatever charset they use.

Order follows the HTML standard (BOM, then the HTTP header, then ``<meta>``), but each declared
charset must actually decode the bytes: Chinese sites often send ``charset=utf-8`` in the header
while the page is GBK. Detection (charset-normalizer) is the last resort before UTF-8 with
replacement characters.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer

_META = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)
_HEADER = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
# WHATWG treats these labels as their supersets; decoding with the label itself loses characters.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "sjis": "cp932",
    "euc-kr": "cp949",
}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
META_SCAN_BYTES = 4096


def normalise_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None if Python does not know it."""
    if not label:
        return None
    name = _SUPERSETS.get(label.strip().lower(), label.strip().lower())
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    match = _HEADER.search(content_type or "")
    return match.group(1) if match else None


def meta_charset(body: bytes) -> str | None:
    match = _META.search(body[:META_SCAN_BYTES])
    return match.group(1).decode("ascii", "ignore") if match else None


def _try(body: bytes, encoding: str | None) -> str | None:
    """Strict decode that tolerates a multi-byte character cut off by the byte limit."""
    if not encoding:
        return None
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        return decoder.decode(body, final=False)
    except UnicodeDecodeError:
        return None


def _detected(body: bytes) -> str | None:
    best = charset_normalizer.from_bytes(body[:65536]).best()
    return best.encoding if best is not None else None


def decode_body(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Return ``(text, codec)``; never raises on bad bytes."""
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body.decode(bom_codec, errors="replace"), bom_codec
    for label in (header_charset(content_type), meta_charset(body)):
        encoding = normalise_charset(label)
        text = _try(body, encoding)
        if text is not None and encoding is not None:
            return text, encoding
    # Detection is the slowest step, so it only runs when nothing declared works.
    encoding = normalise_charset(_detected(body))
    text = _try(body, encoding)
    if text is not None and encoding is not None:
        return text, encoding
    return body.decode("utf-8", errors="replace"), "utf-8"
