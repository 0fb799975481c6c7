"""Checks of a file's container before a parser opens it: what it really is, and what it unpacks to.

Office documents are zip files whose parsers (python-docx, python-pptx, openpyxl) read every
member whole, so a member that inflates to gigabytes takes that much memory. Python's
``zipfile`` never returns more than a member's declared size, so summing the declared sizes
bounds what any parser can be handed. PDF streams are inflated whole by pdfminer; here each
FlateDecode stream is inflated a megabyte at a time, keeping nothing, and counting stops once
the budget is spent. A DOCX, XLSX or PPTX that is an OLE compound file instead of a zip is
either password-protected (Office encrypts the zip inside an OLE file) or a pre-2007 binary
document under a new name; both are said as such.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib

from ingest.limits import FileLimits

OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_LEGACY_STREAMS = {
    "WordDocument": "a Word 97-2003 document (.doc)",
    "Workbook": "an Excel 97-2003 workbook (.xls)",
    "Book": "an Excel 5.0/95 workbook (.xls)",
    "PowerPoint Document": "a PowerPoint 97-2003 presentation (.ppt)",
}
_STREAM_START = re.compile(rb"(?<!end)stream\r?\n")
_INFLATE_STEP = 1 << 20


def ole_reason(data: bytes, kind: str) -> str:
    """Why an OLE compound file named as a ``kind`` (DOCX, XLSX, PPTX) cannot be indexed."""
    import olefile

    try:
        ole = olefile.OleFileIO(data)
    except (OSError, ValueError) as exc:  # olefile raises OSError for a damaged header
        return f"not a valid {kind} file: a damaged OLE compound file ({exc})"
    try:
        if ole.exists("EncryptionInfo") and ole.exists("EncryptedPackage"):
            return f"password-protected {kind} file: save a copy without a password to index it"
        for stream, what in _LEGACY_STREAMS.items():
            if ole.exists(stream):
                return f"not a {kind} file but {what} with a .{kind.lower()} name: save it as {kind} to index it"
    finally:
        ole.close()
    return f"not a valid {kind} file: an OLE compound file, not the zip container {kind} uses"


def zip_reason(data: bytes, kind: str, limits: FileLimits) -> str | None:
    """Why a zip-based ``kind`` file cannot be indexed (damaged, or unpacking too large), or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        return f"damaged {kind} file: its zip container cannot be read ({exc})"
    return limits.unpacks_too_large(f"its {kind} parts", unpacked)


def _flate_size(raw: bytes | memoryview, budget: int) -> int:
    """Bytes ``raw`` inflates to, counted up to just past ``budget``; 0 when it is not zlib data."""
    inflater = zlib.decompressobj()
    total = 0
    try:
        chunk = inflater.decompress(raw, _INFLATE_STEP)
        while chunk:
            total += len(chunk)
            if total > budget:
                break
            chunk = inflater.decompress(inflater.unconsumed_tail, _INFLATE_STEP)
    except zlib.error:
        pass  # not zlib (another filter, or encrypted): pdfminer handles it, or fails with a reason
    return total


def pdf_reason(data: bytes, limits: FileLimits) -> str | None:
    """Why a PDF cannot be indexed because its streams unpack too large, or None.

    Images are left out: the text parser does not decode them.
    """
    view = memoryview(data)
    budget = limits.max_unpacked_bytes
    total = 0
    for match in _STREAM_START.finditer(data):
        head = data[max(0, match.start() - 1024) : match.start()]
        head = head[head.rfind(b"obj") + 1 :]
        if b"/FlateDecode" not in head or b"/Image" in head:
            continue
        end = data.find(b"endstream", match.end())
        total += _flate_size(view[match.end() : end if end >= 0 else len(data)], budget - total)
        if total > budget:
            return limits.unpacks_too_large("its compressed streams", total)
    return None
