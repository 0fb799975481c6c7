"""Knowledge-base REST: upload documents, poll the job, ask, delete, re-index; scopes enforced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.components import build_components
from rag.settings import RagSettings
from tests.fakes.servers import ServerThread

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MIXED = ROOT / "tests" / "fixtures" / "mixed_batch"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Iterator[str]:
    settings = RagSettings(data_dir=tmp_path_factory.mktemp("kb-routes"), api={"max_upload_bytes": 200_000})
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    with ServerThread(create_app(settings, components)) as server:
        yield server.base_url


def wait_for(api: str, job_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{api}/jobs/{job_id}", timeout=10).json()
        if status["state"] not in ("queued", "running"):
            return status
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} did not finish")


def upload(api: str, kb: str, *paths: Path) -> httpx.Response:
    files = [("files", (p.name, p.read_bytes())) for p in paths]
    return httpx.post(f"{api}/kbs/{kb}/documents", files=files, timeout=60)


def test_upload_index_ask_delete(api: str) -> None:
    response = upload(api, "uploads", MIXED / "dock_checklist.md", MIXED / "truncated.pdf")
    assert response.status_code == 202, response.text
    status = wait_for(api, response.json()["job"]["id"])
    assert status["state"] == "partial"  # the truncated PDF failed, the checklist is indexed
    assert [e["reason"] for e in status["errors"]] == ["truncated or damaged PDF (no end-of-file marker)"]
    assert status["summary"]["indexed"] == 1

    stats = httpx.get(f"{api}/kbs/uploads").json()
    assert stats["documents"] == 1 and stats["failed_documents"] == 1 and stats["chunks"] >= 1
    assert stats["last_job"]["id"] == status["id"]

    body = httpx.post(f"{api}/ask", json={"question": "What circuit does the dock need?", "kb": "uploads"}).json()
    source = body["sources"][0]
    assert source["uri"].endswith("dock_checklist.md")

    deleted = httpx.delete(f"{api}/kbs/uploads/documents", params={"doc_id": source["doc_id"]})
    assert deleted.status_code == 200 and deleted.json()["deleted"][0].endswith("dock_checklist.md")
    assert httpx.get(f"{api}/kbs/uploads").json()["documents"] == 0
    again = httpx.delete(f"{api}/kbs/uploads/documents", params={"doc_id": source["doc_id"]})
    assert again.status_code == 404


def test_uploads_are_type_and_size_checked(api: str, tmp_path: Path) -> None:
    odd = tmp_path / "payload.exe"
    odd.write_bytes(b"MZ" + b"\0" * 100)
    response = upload(api, "uploads", odd)
    assert response.status_code == 400 and "unsupported file type" in response.json()["error"]["message"]
    big = tmp_path / "big.txt"
    big.write_text("x" * 300_000)
    assert upload(api, "uploads", big).status_code == 413
    assert upload(api, "bad name!", MIXED / "dock_checklist.md").status_code == 400


def test_reindex_job_over_a_server_folder(api: str) -> None:
    response = httpx.post(f"{api}/kbs/mirror/jobs", json={"paths": [str(MIXED)]}, timeout=30)
    assert response.status_code == 202
    status = wait_for(api, response.json()["job"]["id"])
    assert status["state"] == "partial" and status["summary"]["indexed"] == 2
    # without paths, the job re-checks the folder the knowledge base was indexed from
    again = httpx.post(f"{api}/kbs/mirror/jobs", json={}, timeout=30)
    assert again.status_code == 202, again.text
    rerun = wait_for(api, again.json()["job"]["id"])
    assert rerun["state"] == "partial" and rerun["summary"]["unchanged"] == 2 and rerun["summary"]["deleted"] == 0
    nothing = httpx.post(f"{api}/kbs/never-built/jobs", json={}, timeout=30)
    assert nothing.status_code == 400 and "no folders or uploads" in nothing.json()["error"]["message"]
    missing = httpx.post(f"{api}/kbs/mirror/jobs", json={"paths": ["/no/such/folder"]}, timeout=30)
    assert missing.status_code == 400
    assert httpx.get(f"{api}/jobs/not-a-job").status_code == 404


def test_uploads_sent_together_are_queued_and_all_indexed(api: str) -> None:
    """Files dropped together arrive as one upload each; none may fail on the knowledge base's lock."""
    files = [MIXED / "dock_checklist.md", MIXED / "truncated.pdf", MIXED / "shift_handover.txt"]
    with ThreadPoolExecutor(len(files)) as pool:
        responses = list(pool.map(lambda p: upload(api, "together", p), files))
    assert [r.status_code for r in responses] == [202] * len(files), [r.text for r in responses]
    ended = [wait_for(api, r.json()["job"]["id"]) for r in responses]
    assert [s["state"] for s in ended] == ["succeeded", "partial", "succeeded"], [s["message"] for s in ended]
    # one after another: each job starts only once the one before it has ended
    by_start = sorted(ended, key=lambda s: s["started_at"])
    assert all(a["finished_at"] <= b["started_at"] for a, b in zip(by_start, by_start[1:], strict=False))
    documents = httpx.get(f"{api}/kbs/together/documents", params={"limit": 10}).json()["documents"]
    assert {d["name"]: d["status"] for d in documents} == {
        "dock_checklist.md": "indexed",
        "truncated.pdf": "failed",
        "shift_handover.txt": "indexed",
    }
    assert all(d["uploaded"] for d in documents)
