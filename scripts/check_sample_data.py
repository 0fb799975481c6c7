#!/usr/bin/env python3
"""Self-check for the sample knowledge base in ``data/`` and the fixtures in ``tests/fixtures/``.

Usage, from the repository root::

    .venv/bin/python scripts/check_sample_data.py [--root PATH]

Checks:

* every document in ``data/`` yields text (pypdf for PDF, python-docx for DOCX including tables,
  python-pptx for PPTX, tags stripped for HTML, plain UTF-8 read for the rest);
* ``tests/e2e/sample_questions.jsonl`` is well formed, half Chinese and half English, and every
  ``answer_contains`` string occurs literally in the extracted text of ``expected_source`` and in no
  other document (also not after removing whitespace, which catches facts split across PDF lines);
  for PDFs the answer must also be found by pdfminer, the extractor used by unstructured;
* the PDFs have the expected page counts, the Chinese documents are really Chinese, the whole
  ``data/`` folder stays well under 1 MB;
* the bad-file fixtures fail (or are empty / undecodable) in the way they are meant to, and the
  mixed batch holds two readable files and one corrupt PDF.

Exits 0 when everything passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import re
import sys
import zipfile
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC_SUFFIXES = {".md", ".html", ".pdf", ".docx", ".pptx", ".txt", ".csv"}
MAX_DATA_BYTES = 1_000_000
MIN_PDF_PAGES = {"warranty_policy.pdf": 2}


class _TextOnly(HTMLParser):
    """Collects text nodes, skipping <script>, <style> and <head> content."""

    _SKIP = {"script", "style", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_text(raw: str) -> str:
    parser = _TextOnly()
    parser.feed(raw)
    parser.close()
    return html.unescape("".join(parser.parts))


def pdf_text_pypdf(path: Path) -> str:
    import pypdf

    reader = pypdf.PdfReader(str(path))
    return "\n".join(page.extract_text() or "" for page in reader.pages)


def pdf_text_pdfminer(path: Path) -> str | None:
    try:
        from pdfminer.high_level import extract_text
    except ImportError:
        return None
    return str(extract_text(str(path)))


def docx_text(path: Path) -> str:
    import docx

    doc = docx.Document(str(path))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def pptx_text(path: Path) -> str:
    from pptx import Presentation

    parts: list[str] = []
    for slide in Presentation(str(path)).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                parts.append(shape.text_frame.text)
    return "\n".join(parts)


def extract_text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return pdf_text_pypdf(path)
    if suffix == ".docx":
        return docx_text(path)
    if suffix == ".pptx":
        return pptx_text(path)
    raw = path.read_text(encoding="utf-8")
    if suffix in {".html", ".htm"}:
        return html_text(raw)
    return raw


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _cjk_ratio(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if "\u4e00" <= ch <= "\u9fff") / len(letters)


def check_data(data_dir: Path, errors: list[str], report: list[str]) -> None:
    docs = sorted(p for p in data_dir.iterdir() if p.is_file() and p.suffix.lower() in DOC_SUFFIXES)
    if not docs:
        errors.append(f"no documents in {data_dir}")
        return
    texts: dict[str, str] = {}
    for path in docs:
        try:
            text = extract_text(path)
        except Exception as exc:  # noqa: BLE001 - report any extraction failure
            errors.append(f"{path.name}: extraction failed: {type(exc).__name__}: {exc}")
            continue
        if len(text.strip()) < 200:
            errors.append(f"{path.name}: only {len(text.strip())} characters extracted")
        texts[path.name] = text
        units = len(text.split()) if _cjk_ratio(text) < 0.3 else sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
        unit = "words" if _cjk_ratio(text) < 0.3 else "汉字"
        report.append(f"  {path.name:<40} {path.stat().st_size:>7} bytes  {units:>5} {unit}")

    for name, minimum in MIN_PDF_PAGES.items():
        import pypdf

        pages = len(pypdf.PdfReader(str(data_dir / name)).pages)
        if pages < minimum:
            errors.append(f"{name}: {pages} page(s), expected at least {minimum}")

    total = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    report.append(f"  data/ total: {total} bytes")
    if total >= MAX_DATA_BYTES:
        errors.append(f"data/ is {total} bytes, expected under {MAX_DATA_BYTES}")

    questions_path = data_dir.parent / "tests" / "e2e" / "sample_questions.jsonl"
    if not questions_path.is_file():
        errors.append("tests/e2e/sample_questions.jsonl is missing")
        return
    questions = [json.loads(line) for line in questions_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    langs = [q.get("lang") for q in questions]
    if langs.count("zh") != langs.count("en") or set(langs) - {"zh", "en"}:
        errors.append(f"questions: expected equal zh/en counts, got {langs}")
    zh_sources = {q["expected_source"] for q in questions if q.get("lang") == "zh"}
    for name in sorted(zh_sources):
        if name in texts and _cjk_ratio(texts[name]) < 0.5:
            errors.append(f"{name}: expected a Chinese document (CJK ratio {_cjk_ratio(texts[name]):.2f})")

    pdfminer_cache: dict[str, str | None] = {}
    report.append(f"  questions: {len(questions)} ({langs.count('en')} en, {langs.count('zh')} zh)")
    for number, q in enumerate(questions, 1):
        keys = {"question", "lang", "expected_source", "answer_contains"}
        if set(q) != keys:
            errors.append(f"question {number}: keys {sorted(q)} != {sorted(keys)}")
            continue
        source = q["expected_source"]
        if source not in texts:
            errors.append(f"question {number}: expected_source {source!r} is not a readable document in data/")
            continue
        for answer in q["answer_contains"]:
            found_in = [name for name, text in texts.items() if answer in text]
            squashed_in = [name for name, text in texts.items() if _squash(answer) in _squash(text)]
            status = "ok"
            if answer not in texts[source]:
                errors.append(f"question {number}: {answer!r} not in extracted text of {source}")
                status = "MISSING"
            others = sorted(set(found_in + squashed_in) - {source})
            if others:
                errors.append(f"question {number}: {answer!r} also occurs in {others}")
                status = "NOT UNIQUE"
            if source.endswith(".pdf"):
                if source not in pdfminer_cache:
                    pdfminer_cache[source] = pdf_text_pdfminer(data_dir / source)
                miner = pdfminer_cache[source]
                if miner is not None and answer not in miner:
                    errors.append(f"question {number}: {answer!r} not in pdfminer text of {source}")
                    status = "MISSING (pdfminer)"
            report.append(f"  [{status}] Q{number:<2} {q['lang']} {answer!r:<18} -> {source}")


def _fails(func: object, path: Path) -> str | None:
    """Returns the exception name when ``func(path)`` raises, else None."""
    try:
        func(path)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001
        return type(exc).__name__
    return None


def check_fixtures(fixtures_dir: Path, errors: list[str], report: list[str]) -> None:
    bad = fixtures_dir / "bad_files"
    mixed = fixtures_dir / "mixed_batch"
    expected_bad = {"truncated.pdf", "not_really.docx", "empty.txt", "gbk_notes.txt", "binary.md", "unknown.xyz"}
    present = {p.name for p in bad.iterdir()} if bad.is_dir() else set()
    if present != expected_bad:
        errors.append(f"bad_files: expected {sorted(expected_bad)}, found {sorted(present)}")
        return

    truncated = bad / "truncated.pdf"
    if not truncated.read_bytes().startswith(b"%PDF-"):
        errors.append("truncated.pdf: does not start with a PDF header")
    for logger in ("pypdf", "pdfminer"):  # the expected parse warnings would only clutter the report
        logging.getLogger(logger).setLevel(logging.CRITICAL)
    pypdf_err = _fails(pdf_text_pypdf, truncated)
    miner_err = _fails(pdf_text_pdfminer, truncated)
    if pypdf_err is None:
        errors.append("truncated.pdf: pypdf read it without error")
    report.append(f"  truncated.pdf    pypdf -> {pypdf_err}, pdfminer -> {miner_err}")

    docx_err = _fails(docx_text, bad / "not_really.docx")
    if docx_err is None or zipfile.is_zipfile(bad / "not_really.docx"):
        errors.append("not_really.docx: parsed as a DOCX")
    report.append(f"  not_really.docx  python-docx -> {docx_err}")

    if (bad / "empty.txt").stat().st_size != 0:
        errors.append("empty.txt: not empty")
    report.append("  empty.txt        0 bytes")

    gbk_raw = (bad / "gbk_notes.txt").read_bytes()
    try:
        gbk_raw.decode("utf-8")
        errors.append("gbk_notes.txt: decodes as UTF-8")
    except UnicodeDecodeError:
        pass
    gbk_lines = gbk_raw.decode("gb18030").splitlines()
    if len(gbk_lines) < 2 or gbk_lines[0] != "北风机器人仓库管理规定":
        errors.append(f"gbk_notes.txt: unexpected content {gbk_lines[:2]}")
    report.append(f"  gbk_notes.txt    not UTF-8; GB18030 line 1 = {gbk_lines[0] if gbk_lines else ''!r}")

    binary = (bad / "binary.md").read_bytes()
    if b"\x00" not in binary:
        errors.append("binary.md: has no NUL bytes")
    report.append(f"  binary.md        {len(binary)} bytes, {binary.count(0)} NULs")
    report.append("  unknown.xyz      unsupported extension")

    mixed_names = {p.name for p in mixed.iterdir()} if mixed.is_dir() else set()
    expected_mixed = {"dock_checklist.md", "shift_handover.txt", "truncated.pdf"}
    if mixed_names != expected_mixed:
        errors.append(f"mixed_batch: expected {sorted(expected_mixed)}, found {sorted(mixed_names)}")
        return
    if (mixed / "truncated.pdf").read_bytes() != truncated.read_bytes():
        errors.append("mixed_batch/truncated.pdf differs from bad_files/truncated.pdf")
    for name in ("dock_checklist.md", "shift_handover.txt"):
        if not (mixed / name).read_text(encoding="utf-8").strip():
            errors.append(f"mixed_batch/{name}: empty")
    report.append("  mixed_batch      dock_checklist.md, shift_handover.txt readable; truncated.pdf corrupt")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check data/ and tests/fixtures/.")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this repo)")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()

    errors: list[str] = []
    report: list[str] = ["data/:"]
    check_data(root / "data", errors, report)
    report.append("tests/fixtures/:")
    check_fixtures(root / "tests" / "fixtures", errors, report)
    print("\n".join(report))
    if errors:
        print(f"\nFAILED ({len(errors)} problem(s)):")
        for error in errors:
            print(f"  - {error}")
        return 1
    print("\nall sample data checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
