"""``s3://bucket/prefix`` roots against a real S3-compatible server on 127.0.0.1: indexed exactly
as the same files in a folder, kept in step (changed, deleted, unchanged), and a bucket that is
gone or a prefix that was emptied refused without a change."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.manifest import Manifest
from ingest.stores.chroma import ChromaStore
from tests.fakes.object_store import S3Server, s3_server
from tests.integration.ingest.kb_layout import ROOT, rag_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FILES = ["nw200_datasheet.md", "nw50_faq_zh.txt", "support_guide.html", "warranty_policy.pdf", "quality_manual_zh.docx"]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server, request: pytest.FixtureRequest) -> str:
    name = "kb-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    s3.bucket(name)
    for file in FILES:
        s3.put(name, f"handbook/{file}", (ROOT / "data" / file).read_bytes())
    s3.put(name, "handbook/notes.xyz", b"not a document")
    s3.put(name, "handbook/.DS_Store", b"\x00\x01")
    s3.put(name, "elsewhere/other.md", b"# Other\n\nNot under the prefix.\n")
    return name


def reindex(s3: S3Server, data_dir: Path, root: str, *args: str) -> subprocess.CompletedProcess[str]:
    return rag_cli(data_dir, "reindex", root, "--kb", "kb", "--json", "--workers", "0", *args, **s3.env)


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def chunks_by_source(data_dir: Path) -> dict[str, list[str]]:
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # written by another process since
    found: dict[str, list[str]] = {}
    for hit, _ in ChromaStore(data_dir / "chroma").export("kb"):
        found.setdefault(str(hit.metadata["source"]), []).append(hit.text)
    return {source: sorted(texts) for source, texts in found.items()}


def test_an_s3_prefix_is_indexed_like_the_same_files_in_a_folder(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    folder = tmp_path / "handbook"
    folder.mkdir()
    for file in FILES:
        (folder / file).write_bytes((ROOT / "data" / file).read_bytes())
    assert reindex(s3, tmp_path / "local", str(folder)).returncode == 0
    result = reindex(s3, tmp_path / "s3", f"s3://{bucket}/handbook/")
    assert result.returncode == 0, result.stderr
    report = summary(result)
    assert report["indexed"] == len(FILES)
    assert report["skipped"] == [
        {"path": f"s3://{bucket}/handbook/notes.xyz", "reason": "unsupported file type '.xyz'"}
    ]
    local, remote = chunks_by_source(tmp_path / "local"), chunks_by_source(tmp_path / "s3")
    assert sorted(remote) == sorted(f"s3://{bucket}/handbook/{file}" for file in FILES)
    assert {Path(s).name: texts for s, texts in remote.items()} == {Path(s).name: t for s, t in local.items()}
    with Manifest(tmp_path / "s3" / "manifests" / "kb.sqlite") as manifest:
        record = manifest.get(f"s3://{bucket}/handbook/warranty_policy.pdf")
    assert record is not None and record.status == "indexed" and record.size > 0 and record.mtime_ns > 0


def test_a_changed_and_a_deleted_object_are_followed_and_the_rest_left_alone(
    s3: S3Server, bucket: str, tmp_path: Path
) -> None:
    root = f"s3://{bucket}/handbook"
    assert reindex(s3, tmp_path / "data", root).returncode == 0
    s3.put(bucket, "handbook/nw200_datasheet.md", b"# NW-200\n\nThe battery now holds 2,400 Wh.\n")
    s3.delete(bucket, "handbook/support_guide.html")
    plan = summary(reindex(s3, tmp_path / "data", root, "--dry-run"))
    assert [Path(p).name for p in plan["changed"]] == ["nw200_datasheet.md"]
    assert [Path(p).name for p in plan["deleted"]] == ["support_guide.html"]
    result = reindex(s3, tmp_path / "data", root)
    assert result.returncode == 0, result.stderr
    report = summary(result)
    assert (report["changed"], report["deleted"], report["unchanged"]) == (1, 1, len(FILES) - 2)
    chunks = chunks_by_source(tmp_path / "data")
    assert f"{root}/support_guide.html" not in chunks
    assert any("2,400 Wh" in text for text in chunks[f"{root}/nw200_datasheet.md"])


def test_a_missing_bucket_is_refused_and_changes_nothing(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    assert reindex(s3, tmp_path / "data", f"s3://{bucket}/handbook").returncode == 0
    before = chunks_by_source(tmp_path / "data")
    result = reindex(s3, tmp_path / "data", "s3://no-such-bucket/handbook")
    assert result.returncode == 1
    refused = summary(result)
    assert refused["status"] == "refused" and "no-such-bucket" in refused["error"]
    assert chunks_by_source(tmp_path / "data") == before


def test_an_emptied_prefix_is_refused_by_the_mass_delete_guard(s3: S3Server, bucket: str, tmp_path: Path) -> None:
    root = f"s3://{bucket}/handbook"
    assert reindex(s3, tmp_path / "data", root).returncode == 0
    before = chunks_by_source(tmp_path / "data")
    for key in [*FILES, "notes.xyz", ".DS_Store"]:
        s3.delete(bucket, f"handbook/{key}")
    result = reindex(s3, tmp_path / "data", root)
    assert result.returncode == 1 and summary(result)["status"] == "refused", result.stdout
    assert chunks_by_source(tmp_path / "data") == before


def test_the_indexed_bytes_of_an_object_are_served_until_it_changes(
    s3: S3Server, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.documents import DocumentCatalog
    from rag.errors import DocumentChanged

    root = f"s3://{bucket}/handbook"
    assert reindex(s3, tmp_path / "data", root).returncode == 0
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)  # the API reads objects with its own credentials
    with Manifest(tmp_path / "data" / "manifests" / "kb.sqlite") as manifest:
        record = manifest.get(f"{root}/warranty_policy.pdf")
    assert record is not None
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    catalog = DocumentCatalog(tmp_path / "data", ChromaStore(tmp_path / "data" / "chroma"))
    original = catalog.original("kb", record.doc_id)
    assert original.content == (ROOT / "data" / "warranty_policy.pdf").read_bytes()
    assert original.media_type == "application/pdf" and original.filename == "warranty_policy.pdf"
    s3.put(bucket, "handbook/warranty_policy.pdf", b"%PDF-1.4 another version")
    with pytest.raises(DocumentChanged, match="changed since it was indexed"):
        catalog.original("kb", record.doc_id)
    s3.delete(bucket, "handbook/warranty_policy.pdf")
    with pytest.raises(DocumentChanged, match="no longer where it was indexed"):
        catalog.original("kb", record.doc_id)
