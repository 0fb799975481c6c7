"""Files to elements with unstructured, offline, with a clear reason for every file it cannot read."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

from ingest.containers import OLE_SIGNATURE, ole_reason, pdf_reason, zip_reason
from ingest.errors import ParseError, UnsupportedFormat
from ingest.limits import FileLimits
from ingest.object_store import is_object_uri, key_path, read_object
from ingest.offline_nlp import disable_analytics, install_offline_nlp
from ingest.tables import html_table_to_text
from ingest.textdecode import decode_text
from ingest.types import Element, ParsedDocument

log = logging.getLogger(__name__)

SUPPORTED_EXTENSIONS: frozenset[str] = frozenset(
    {".pdf", ".docx", ".pptx", ".xlsx", ".html", ".htm", ".md", ".markdown", ".txt", ".csv", ".eml"}
)
_TEXT_FORMATS = {".html", ".htm", ".md", ".markdown", ".txt", ".csv", ".eml"}
_ZIP_FORMATS = {".docx": "DOCX", ".pptx": "PPTX", ".xlsx": "XLSX"}
_TITLE_CATEGORIES = {"Title"}
_SKIP_CATEGORIES = {"PageBreak", "Header", "Footer", "PageNumber"}

# pdfminer writes glyphs it cannot map to Unicode (bullets, dingbats) as "(cid:N)".
_UNMAPPED_GLYPH = re.compile(r"\(cid:\d+\)\s?")

disable_analytics()


class _NoOcrLanguageNotice(logging.Filter):
    """unstructured warns on every PDF that it "defaults to English" when given no language; the
    language is used only for OCR, which the fast strategy never runs, so the notice is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No languages specified, defaulting to English")


logging.getLogger("unstructured").addFilter(_NoOcrLanguageNotice())

# Recorded per file in re-index manifests; a file parsed by an older version is parsed again.
UNSTRUCTURED_PARSER_VERSION = "unstructured-0.27/askdocs-1"
PLAIN_TEXT_PARSER_VERSION = "askdocs-plaintext-1"


def parser_version(path: str | Path) -> str:
    """The version of the parser that reads ``path``; it changes when its output would."""
    return PLAIN_TEXT_PARSER_VERSION if Path(path).suffix.lower() == ".txt" else UNSTRUCTURED_PARSER_VERSION


def document_id(kb: str, source: str) -> str:
    """Stable id of a document within a knowledge base: same source, same id."""
    return hashlib.sha256(f"{kb}\x00{source}".encode()).hexdigest()[:32]


def _check_bytes(path: PurePath, data: bytes, ext: str, limits: FileLimits) -> None:
    """Reject files whose bytes cannot be what their extension claims, or that unpack to more
    than ``limits`` allow, before a parser sees them."""
    if not data:
        raise ParseError(str(path), "empty file (0 bytes)")
    reason: str | None = None
    if ext == ".pdf":
        if not data.lstrip()[:5].startswith(b"%PDF-"):
            reason = "not a PDF (no %PDF- header)"
        elif b"%%EOF" not in data[-2048:]:
            reason = "truncated or damaged PDF (no end-of-file marker)"
        else:
            reason = pdf_reason(data, limits)
    elif ext in _ZIP_FORMATS:
        kind = _ZIP_FORMATS[ext]
        if data.startswith(OLE_SIGNATURE):
            reason = ole_reason(data, kind)
        elif not data.startswith(b"PK\x03\x04"):
            found = "plain text" if b"\x00" not in data[:4096] else "some other binary format"
            reason = f"not a valid {kind} file (expected a zip container, found {found})"
        else:
            reason = zip_reason(data, kind, limits)
    if reason is not None:
        raise ParseError(str(path), reason)


def _partitioner(ext: str) -> Callable[..., list[Any]]:
    if ext == ".pdf":
        from unstructured.partition.pdf import partition_pdf

        def pdf(**kw: Any) -> list[Any]:
            return list(partition_pdf(strategy="fast", infer_table_structure=False, **kw))

        return pdf
    if ext == ".docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx
    if ext == ".pptx":
        from unstructured.partition.pptx import partition_pptx

        return partition_pptx
    if ext == ".xlsx":
        from unstructured.partition.xlsx import partition_xlsx

        return partition_xlsx
    if ext in {".html", ".htm"}:
        from unstructured.partition.html import partition_html

        return partition_html
    if ext in {".md", ".markdown"}:
        from unstructured.partition.md import partition_md

        return partition_md
    if ext == ".csv":
        from unstructured.partition.csv import partition_csv

        return partition_csv
    if ext == ".eml":
        from unstructured.partition.email import partition_email

        return partition_email
    raise AssertionError(ext)


def _partition(path: PurePath, data: bytes, ext: str, on_disk: bool) -> list[Any]:
    install_offline_nlp()
    partition = _partitioner(ext)
    # languages=[""]: skip unstructured's per-file language detection (langdetect, ~25 ms a
    # file); nothing downstream reads element languages.
    if ext in {".md", ".markdown", ".html", ".htm"}:
        # Decode ourselves: GBK/GB18030 and UTF-16 files are common and unstructured guesses badly.
        return list(partition(text=decode_text(str(path), data), languages=[""]))
    if ext in _TEXT_FORMATS:
        decode_text(str(path), data)  # reject binary or undecodable files with a clear reason
    if on_disk:
        return list(partition(filename=str(path), languages=[""]))
    # an object's bytes: parsed from a private temporary copy, by the same code path as a file
    with tempfile.TemporaryDirectory(prefix="askdocs-object-") as folder:
        copy = Path(folder) / f"object{ext}"
        copy.write_bytes(data)
        return list(partition(filename=str(copy), languages=[""]))


def _elements(path: PurePath, data: bytes, ext: str, on_disk: bool = True) -> list[Element]:
    if ext == ".txt":
        from ingest.plaintext import plain_text_elements  # imports unstructured's cleaners (~0.4 s): only to parse

        return plain_text_elements(decode_text(str(path), data))
    return _to_elements(_partition(path, data, ext, on_disk))


def _to_elements(raw: list[Any]) -> list[Element]:
    elements: list[Element] = []
    section: str | None = None
    for item in raw:
        category = type(item).__name__ if not getattr(item, "category", None) else str(item.category)
        if category in _SKIP_CATEGORIES:
            continue
        text = _UNMAPPED_GLYPH.sub("", getattr(item, "text", "") or "").strip()
        meta = getattr(item, "metadata", None)
        page = getattr(meta, "page_number", None) if meta is not None else None
        html = getattr(meta, "text_as_html", None) if meta is not None else None
        if category == "Table" and html:
            text = html_table_to_text(html) or text
        if not text:
            continue
        if category in _TITLE_CATEGORIES:
            section = text
        elements.append(Element(text=text, category=category, page=page, section=section, text_as_html=html))
    return elements


def _title(path: PurePath, elements: list[Element]) -> str:
    for element in elements[:5]:
        if element.category in _TITLE_CATEGORIES and 2 <= len(element.text) <= 200:
            return element.text
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def _read(path: Path, limits: FileLimits) -> bytes:
    try:
        with path.open("rb") as handle:
            too_large = limits.file_too_large(os.fstat(handle.fileno()).st_size)
            if too_large:
                raise ParseError(str(path), too_large)
            data = handle.read(limits.max_file_bytes + 1)  # a file still growing is bounded too
    except FileNotFoundError as exc:
        gone = "cannot read file: it no longer exists (deleted or moved after it was listed)"
        raise ParseError(str(path), gone) from exc
    except OSError as exc:
        raise ParseError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    too_large = limits.file_too_large(len(data))
    if too_large:
        raise ParseError(str(path), too_large)
    return data


def load_file(path: str | Path, kb: str, limits: FileLimits | None = None) -> ParsedDocument:
    """Parse one file (a path, or an object-store URI) into a ``ParsedDocument``; raise
    ``ParseError`` with a reason a person can act on."""
    limits = limits or FileLimits()
    remote = is_object_uri(path)
    source = str(path) if remote else str(Path(path).resolve())
    name: PurePath = key_path(source) if remote else Path(source)  # names the file: its suffix and stem
    ext = name.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFormat(source, f"unsupported file type {ext or '(none)'!r}")
    data = read_object(source, limits) if remote else _read(Path(source), limits)
    _check_bytes(name, data, ext, limits)
    try:
        elements = _elements(name, data, ext, on_disk=not remote)
    except ParseError:
        raise
    except Exception as exc:  # parsers raise anything from KeyError to zipfile.BadZipFile
        raise ParseError(source, f"could not parse {ext[1:].upper()} file: {type(exc).__name__}: {exc}") from exc
    if not elements:
        hint = " (a scanned PDF needs OCR, which is not enabled)" if ext == ".pdf" else ""
        raise ParseError(source, f"no extractable text{hint}")
    return ParsedDocument(
        doc_id=document_id(kb, source),
        source=source,
        title=_title(name, elements),
        elements=elements,
        content_hash=hashlib.sha256(data).hexdigest(),
        file_type=ext[1:],
    )
