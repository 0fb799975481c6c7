"""Hostile and oversized files are skipped with a reason, within bounded memory and time, and the
rest of the batch is indexed. Fixtures are built here: encrypted Office files (encrypted with
msoffcrypto-tool, as Office does it), zip and PDF decompression bombs, oversized text."""

from __future__ import annotations

import io
import resource
import shutil
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import ParseError
from ingest.limits import MB, FileLimits
from ingest.loaders import load_file
from ingest.manifest import Manifest
from ingest.progress import ProgressListener
from ingest.reindex import ReindexJob
from ingest.stores.chroma import ChromaStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "data"
SMALL = FileLimits(max_file_bytes=5 * MB, max_unpacked_bytes=20 * MB, max_chunks=50)


def _encrypted(source: Path, target: Path) -> Path:
    from msoffcrypto.format.ooxml import OOXMLFile

    with source.open("rb") as handle, target.open("wb") as out:
        OOXMLFile(handle).encrypt("s3cret", out)
    return target


@pytest.mark.parametrize(
    ("source", "kind"),
    [("employee_handbook.docx", "DOCX"), ("company_overview.pptx", "PPTX"), ("xlsx", "XLSX")],
)
def test_a_password_protected_office_file_is_said_to_be_one(source: str, kind: str, tmp_path: Path) -> None:
    if source == "xlsx":
        import openpyxl

        book = openpyxl.Workbook()
        book.active.append(["part", "price"])  # type: ignore[union-attr]
        book.save(tmp_path / "plain.xlsx")
        original = tmp_path / "plain.xlsx"
    else:
        original = DATA / source
    locked = _encrypted(original, tmp_path / f"locked.{kind.lower()}")
    assert locked.read_bytes().startswith(b"\xd0\xcf\x11\xe0")  # an OLE compound file, not a zip
    with pytest.raises(ParseError) as info:
        load_file(locked, "kb")
    assert info.value.reason == f"password-protected {kind} file: save a copy without a password to index it"


def _zip_bomb(path: Path, member: str, size: int) -> Path:
    """A DOCX-shaped zip whose ``member`` inflates to ``size`` bytes of spaces (about 1,000:1)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open(member, "w") as out:
            block = b" " * MB
            for _ in range(size // MB):
                out.write(block)
    return path


def _pdf_bomb(path: Path, size: int) -> Path:
    """A well-formed PDF whose object stream inflates to ``size`` bytes."""
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(b" " * MB) for _ in range(size // MB)) + packer.flush()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
        + str(len(body)).encode()
        + b" >>\nstream\n"
        + body
        + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.5\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    path.write_bytes(out.getvalue())
    return path


def test_a_zip_bomb_inside_a_docx_or_xlsx_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    docx = _zip_bomb(tmp_path / "bomb.docx", "word/document.xml", 64 * MB)
    xlsx = _zip_bomb(tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", 64 * MB)
    for bomb, kind in ((docx, "DOCX"), (xlsx, "XLSX")):
        assert bomb.stat().st_size < MB
        with pytest.raises(ParseError) as info:
            load_file(bomb, "kb", SMALL)
        assert info.value.reason.startswith(
            f"its {kind} parts unpack to more than 20.0 MB (RAG_INGEST__MAX_UNPACKED_MB)"
        )


def test_a_pdf_whose_object_stream_inflates_too_far_is_refused(tmp_path: Path) -> None:
    bomb = _pdf_bomb(tmp_path / "bomb.pdf", 64 * MB)
    assert bomb.stat().st_size < MB
    with pytest.raises(ParseError) as info:
        load_file(bomb, "kb", SMALL)
    assert info.value.reason.startswith("its compressed streams unpack to more than 20.0 MB")
    small = _pdf_bomb(tmp_path / "fine.pdf", 2 * MB)  # within the limit: handed to the parser, no text
    with pytest.raises(ParseError, match="no extractable text"):
        load_file(small, "kb", SMALL)


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    big = tmp_path / "dump.txt"
    with big.open("wb") as out:
        out.truncate(6 * MB)  # sparse: costs no disk
    with pytest.raises(ParseError) as info:
        load_file(big, "kb", SMALL)
    assert info.value.reason == "file is 6.0 MB, larger than the limit of 5.0 MB (RAG_INGEST__MAX_FILE_MB)"


class _Vanisher(ProgressListener):
    """Deletes a file once the job has listed it and before it is parsed."""

    def __init__(self, victim: Path) -> None:
        self.victim = victim

    def files_found(self, total: int) -> None:
        self.victim.unlink()


@pytest.fixture
def job(tmp_path: Path, bundled_embedder: Any) -> Iterator[ReindexJob]:
    with Manifest(tmp_path / "data" / "manifests" / "kb.sqlite") as manifest:
        yield ReindexJob(
            "kb", bundled_embedder, ChromaStore(tmp_path / "data" / "chroma"), manifest, workers=0, limits=SMALL
        )


def test_a_hostile_batch_is_reported_file_by_file_and_the_rest_indexed(job: ReindexJob, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("nw200_datasheet.md", "support_guide.html", "warranty_policy.pdf"):
        shutil.copy(DATA / name, docs / name)
    _zip_bomb(docs / "bomb.docx", "word/document.xml", 64 * MB)
    _pdf_bomb(docs / "bomb.pdf", 64 * MB)
    _encrypted(DATA / "employee_handbook.docx", docs / "locked.docx")
    (docs / "huge_line.txt").write_text("Robots dock at the charging station overnight. " * 40_000)  # 1.9 MB, 1 line
    (docs / "vanishing.md").write_text("# Gone\n\nThis file is deleted after it is listed.\n")

    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = job.run([docs], progress=_Vanisher(docs / "vanishing.md"))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024

    reasons = {Path(f.path).name: f.reason or "" for f in report.failed}
    assert set(reasons) == {"bomb.docx", "bomb.pdf", "locked.docx", "huge_line.txt", "vanishing.md"}
    assert reasons["bomb.docx"].startswith("its DOCX parts unpack to more than 20.0 MB")
    assert reasons["bomb.pdf"].startswith("its compressed streams unpack to more than 20.0 MB")
    assert reasons["locked.docx"].startswith("password-protected DOCX file")
    assert reasons["huge_line.txt"].startswith("more than 50 chunks from one file (RAG_INGEST__MAX_CHUNKS_PER_FILE)")
    assert reasons["vanishing.md"] == "cannot read file: it no longer exists (deleted or moved after it was listed)"
    assert sorted(Path(f.path).name for f in report.indexed) == [
        "nw200_datasheet.md",
        "support_guide.html",
        "warranty_policy.pdf",
    ]
    assert grown_mb < 300, f"peak RSS grew by {grown_mb:.0f} MB"  # nothing inflated 64 MB bombs into memory
