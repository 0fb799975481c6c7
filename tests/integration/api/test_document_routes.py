"""What a knowledge base holds, over REST: its documents, a document's original bytes, a chunk in
its context. Built through the re-index job production uses, from a folder the tests then change."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.components import build_components
from rag.settings import RagSettings
from tests.fakes.servers import ServerThread
from tests.integration.api.test_kb_routes import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MIXED = ROOT / "tests" / "fixtures" / "mixed_batch"


@dataclass
class Library:
    api: str
    folder: Path


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Iterator[Library]:
    folder = tmp_path_factory.mktemp("library")
    for name in ("warranty_policy.pdf", "nw200_datasheet.md", "onboarding_guide_zh.md"):
        shutil.copy(ROOT / "data" / name, folder / name)
    shutil.copy(MIXED / "truncated.pdf", folder / "truncated.pdf")
    settings = RagSettings(data_dir=tmp_path_factory.mktemp("documents-data"))
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    with ServerThread(create_app(settings, components)) as server:
        started = httpx.post(f"{server.base_url}/kbs/lib/jobs", json={"paths": [str(folder)]}, timeout=30)
        assert started.status_code == 202, started.text
        assert wait_for(server.base_url, started.json()["job"]["id"])["state"] == "partial"
        yield Library(server.base_url, folder)


def documents(library: Library, **params: Any) -> dict[str, Any]:
    response = httpx.get(f"{library.api}/kbs/lib/documents", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_name(library: Library) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in documents(library)["documents"]}


def test_documents_are_listed_with_status_pages_chunks_and_reason(library: Library) -> None:
    listed = documents(library)
    assert listed["total"] == 4 and [d["name"] for d in listed["documents"]] == sorted(
        ["warranty_policy.pdf", "nw200_datasheet.md", "onboarding_guide_zh.md", "truncated.pdf"]
    )
    docs = by_name(library)
    pdf, md, broken = docs["warranty_policy.pdf"], docs["nw200_datasheet.md"], docs["truncated.pdf"]
    assert pdf["status"] == md["status"] == "indexed" and pdf["type"] == "pdf" and md["type"] == "md"
    assert pdf["pages"] >= 1 and md["pages"] is None  # only paged formats have pages
    assert pdf["chunks"] >= 1 and md["chunks"] >= 1 and pdf["reason"] is None
    assert pdf["size"] == (library.folder / "warranty_policy.pdf").stat().st_size
    assert pdf["uploaded"] is False  # indexed from a folder, not sent over the API
    assert datetime.fromisoformat(pdf["indexed_at"]).tzinfo is not None
    assert broken["status"] == "failed" and broken["chunks"] == 0 and "truncated" in broken["reason"]

    failed = documents(library, status="failed")
    assert failed["total"] == 1 and [d["name"] for d in failed["documents"]] == ["truncated.pdf"]
    second = documents(library, offset=1, limit=1)
    assert second["total"] == 4 and second["documents"] == [listed["documents"][1]]
    assert httpx.get(f"{library.api}/kbs/lib/documents", params={"status": "writing"}).status_code == 422
    assert httpx.get(f"{library.api}/kbs/lib/documents", params={"limit": 0}).status_code == 422


def test_one_document_and_unknown_ones(library: Library) -> None:
    md = by_name(library)["nw200_datasheet.md"]
    one = httpx.get(f"{library.api}/kbs/lib/documents/{md['doc_id']}")
    assert one.status_code == 200 and one.json() == md
    missing = httpx.get(f"{library.api}/kbs/lib/documents/0123abcd")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_document"
    nokb = httpx.get(f"{library.api}/kbs/nothing-here/documents")
    assert nokb.status_code == 404 and nokb.json()["error"]["code"] == "unknown_knowledge_base"


def test_the_original_is_the_indexed_bytes_with_safe_headers(library: Library) -> None:
    pdf = by_name(library)["warranty_policy.pdf"]
    response = httpx.get(f"{library.api}/kbs/lib/documents/{pdf['doc_id']}/file")
    assert response.status_code == 200
    assert response.content == (library.folder / "warranty_policy.pdf").read_bytes()
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == "inline; filename*=UTF-8''warranty_policy.pdf"
    assert "sandbox" in response.headers["content-security-policy"]


def test_a_changed_or_moved_original_is_gone_not_served(library: Library, tmp_path: Path) -> None:
    docs = by_name(library)
    changed, moved = library.folder / "nw200_datasheet.md", library.folder / "onboarding_guide_zh.md"
    original = changed.read_bytes()
    changed.write_bytes(original + b"\nAn edit after indexing.\n")
    shutil.move(moved, tmp_path / moved.name)
    try:
        for name, why in (("nw200_datasheet.md", "changed since"), ("onboarding_guide_zh.md", "no longer where")):
            response = httpx.get(f"{library.api}/kbs/lib/documents/{docs[name]['doc_id']}/file")
            assert response.status_code == 410, response.text
            assert response.json()["error"]["code"] == "document_changed" and why in response.json()["error"]["message"]
    finally:
        changed.write_bytes(original)
        shutil.move(tmp_path / moved.name, moved)
    again = httpx.get(f"{library.api}/kbs/lib/documents/{docs['nw200_datasheet.md']['doc_id']}/file")
    assert again.status_code == 200 and hashlib.sha256(again.content).digest() == hashlib.sha256(original).digest()
    assert again.headers["content-type"].startswith("text/markdown")


def test_a_chunk_comes_with_its_neighbours_in_document_order(library: Library) -> None:
    asked = httpx.post(f"{library.api}/ask", json={"question": "warranty period of the battery", "kb": "lib"}).json()
    source = next(s for s in asked["sources"] if s["uri"].endswith("warranty_policy.pdf"))
    url = f"{library.api}/kbs/lib/chunks/{source['chunk_id']}"
    wide = httpx.get(url, params={"context": 10}).json()
    chunk = wide["chunk"]
    assert chunk["chunk_id"] == source["chunk_id"] and chunk["doc_id"] == source["doc_id"]
    assert chunk["pages"] == source["pages"] and chunk["text"].startswith(source["snippet"][:40])
    indexes = (
        [c["chunk_index"] for c in wide["before"]] + [chunk["chunk_index"]] + [c["chunk_index"] for c in wide["after"]]
    )
    assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))  # contiguous, in order
    assert {c["doc_id"] for c in wide["before"] + wide["after"]} <= {source["doc_id"]}
    assert wide["document"]["name"] == "warranty_policy.pdf"
    assert len(wide["before"]) + len(wide["after"]) == wide["document"]["chunks"] - 1 or len(indexes) == 21

    narrow = httpx.get(url, params={"context": 0}).json()
    assert narrow["before"] == narrow["after"] == [] and narrow["chunk"] == chunk
    assert httpx.get(url, params={"context": 11}).status_code == 422
    missing = httpx.get(f"{library.api}/kbs/lib/chunks/no-such-chunk")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "unknown_chunk"
