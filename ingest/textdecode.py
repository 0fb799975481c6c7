"""Decoding text files whose encoding nobody declared (UTF-8, UTF-16 with BOM, GBK/GB18030)."""

from __future__ import annotations

import codecs

from ingest.errors import ParseError

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    if b"\x00" in sample:
        return True
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13, 27))
    return control > len(sample) * 0.05


def _plausible(text: str) -> bool:
    """Reject decodes full of replacement or private-use characters (a wrong guess, not a text)."""
    if not text:
        return True
    odd = sum(1 for ch in text if ch == "\ufffd" or "\ue000" <= ch <= "\uf8ff")
    return odd <= len(text) * 0.01


def decode_text(path: str, data: bytes) -> str:
    """Decode bytes as UTF-8, a BOM-declared encoding, or GB18030 (a superset of GBK and GB2312).

    Raises ``ParseError`` for binary content or bytes that no candidate decodes cleanly.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if _looks_binary(data):
        raise ParseError(path, "binary content in a text file (NUL or control bytes)")
    for encoding in ("utf-8", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _plausible(text):
            return text
    raise ParseError(path, "text is neither UTF-8 nor GBK/GB18030; re-save it as UTF-8")
