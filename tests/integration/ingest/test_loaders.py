"""Loaders: every supported format parses offline; bad files fail with a reason a person can act on."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ingest.errors import ParseError, UnsupportedFormat
from ingest.loaders import load_file

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data"
BAD = ROOT / "tests" / "fixtures" / "bad_files"


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("warranty_policy.pdf", "27 months"),
        ("travel_policy_zh.pdf", "850元"),
        ("employee_handbook.docx", "18 working days"),
        ("quality_manual_zh.docx", "72小时"),
        ("support_guide.html", "800-555-0142"),
        ("security_policy_zh.html", "14位"),
        ("nw200_datasheet.md", "1,920 Wh"),
        ("onboarding_guide_zh.md", "启航营"),
        ("fleet_manager_3.4_release_notes.txt", "14 March 2025"),
        ("nw50_faq_zh.txt", "11.5小时"),
        ("price_list_2025.csv", "38400"),
        ("company_overview.pptx", "2013年"),
    ],
)
def test_each_format_extracts_its_distinctive_fact(name: str, needle: str) -> None:
    parsed = load_file(DATA / name, "kb")
    text = "\n".join(e.text for e in parsed.elements)
    assert needle.replace(" ", "") in text.replace(" ", "")
    assert parsed.source == str((DATA / name).resolve())
    assert parsed.title
    assert "(cid:" not in text


def test_pdf_elements_know_their_pages() -> None:
    parsed = load_file(DATA / "warranty_policy.pdf", "kb")
    pages = {e.page for e in parsed.elements}
    assert {1, 2} <= pages


def test_docx_table_keeps_rows_and_columns() -> None:
    parsed = load_file(DATA / "employee_handbook.docx", "kb")
    tables = [e for e in parsed.elements if e.category == "Table"]
    assert tables
    assert tables[0].text.startswith("| ") and "\n| " in tables[0].text


def test_sections_come_from_titles() -> None:
    parsed = load_file(DATA / "nw200_datasheet.md", "kb")
    titled = [e for e in parsed.elements if e.section]
    assert len({e.section for e in titled}) >= 3


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.pdf", "truncated"),
        ("not_really.docx", "not a valid DOCX"),
        ("empty.txt", "empty file"),
        ("binary.md", "binary content"),
    ],
)
def test_bad_files_raise_parse_error_with_reason(name: str, reason: str) -> None:
    with pytest.raises(ParseError) as info:
        load_file(BAD / name, "kb")
    assert reason in info.value.reason
    assert info.value.path.endswith(name)


def test_unsupported_extension() -> None:
    with pytest.raises(UnsupportedFormat, match="unsupported file type '.xyz'"):
        load_file(BAD / "unknown.xyz", "kb")


def test_missing_file_is_a_parse_error(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="cannot read file"):
        load_file(tmp_path / "gone.md", "kb")


def test_gbk_text_is_decoded_not_garbled() -> None:
    parsed = load_file(BAD / "gbk_notes.txt", "kb")
    text = "\n".join(e.text for e in parsed.elements)
    assert "北风机器人仓库管理规定" in text
    assert "15至25摄氏度" in text


def test_utf16_with_bom_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("Robots charge overnight. 机器人夜间充电。".encode("utf-16"))
    text = "\n".join(e.text for e in load_file(path, "kb").elements)
    assert "机器人夜间充电" in text


def test_parsing_never_opens_a_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a loader tried to open a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    for name in ("support_guide.html", "nw200_datasheet.md", "warranty_policy.pdf", "employee_handbook.docx"):
        assert load_file(DATA / name, "kb").elements
    plain = tmp_path / "plain.txt"
    plain.write_text("A short English paragraph that the narrative-text heuristics will look at closely.\n")
    assert load_file(plain, "kb").elements


def test_document_id_is_stable_per_kb_and_source() -> None:
    a = load_file(DATA / "nw50_faq_zh.txt", "kb1")
    b = load_file(DATA / "nw50_faq_zh.txt", "kb1")
    c = load_file(DATA / "nw50_faq_zh.txt", "kb2")
    assert a.doc_id == b.doc_id != c.doc_id
    assert a.content_hash == b.content_hash
