"""``rag serve --workers 2`` as real processes over one embedded data directory: whichever worker
answers, a job started on one is followed on the others, a document it indexed is found by
every worker's vector search, and ``/metrics`` counts the requests of all of them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devtools.milvus_server import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
RAG = str(Path(sys.executable).with_name("rag"))
KB = "docs"
NEW_DOC = (
    "Quarterly osmium procurement memo. The Valparaiso depot stores osmium ingots in vault nine, "
    "and only the night quartermaster may sign for osmium withdrawals."
)
QUESTION = "Who may sign for osmium withdrawals from vault nine at the Valparaiso depot?"


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "PROMETHEUS_"))}
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "RAG_DATA_DIR": str(data_dir),
            "RAG_EMBEDDING__MODEL": "bundled:all-minilm-l6-v2",
            "RAG_RETRIEVAL__MODE": "dense",  # only the vector store can find a passage
            "RAG_LOG__LEVEL": "info",
        }
    )
    if "RAG_EMBEDDING__ONNX_CACHE" in os.environ:  # the suite's shared export
        env["RAG_EMBEDDING__ONNX_CACHE"] = os.environ["RAG_EMBEDDING__ONNX_CACHE"]
    return env


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path_factory.mktemp("workers")
    docs = data_dir / "docs-in"
    shutil.copytree(ROOT / "data", docs)
    env = _env(data_dir)
    indexed = subprocess.run([RAG, "ingest", str(docs), "--kb", KB], env=env, capture_output=True, timeout=600)
    assert indexed.returncode in (0, 2), indexed.stderr.decode()[-2000:]
    port = free_port()
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [RAG, "serve", "--port", str(port), "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while log.read_text(errors="replace").count("Application startup complete") < 2:
            if time.monotonic() > deadline or process.poll() is not None:
                raise AssertionError(f"rag serve --workers 2 did not start: {log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, data_dir
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def fresh_get(url: str) -> httpx.Response:
    """One request on a connection of its own, so the kernel may hand it to either worker."""
    with httpx.Client(timeout=30) as client:
        return client.get(url)


def ask(base: str) -> list[str]:
    with httpx.Client(timeout=60) as client:
        answer = client.post(f"{base}/ask", json={"question": QUESTION, "kb": KB, "top_k": 3})
    assert answer.status_code == 200, answer.text
    return [source["snippet"] for source in answer.json()["sources"]]


def test_both_workers_answer_and_metrics_count_all_of_them(served: tuple[str, Path]) -> None:
    base, data_dir = served
    before = _healthz_count(fresh_get(f"{base}/metrics").text)
    for _ in range(40):
        assert fresh_get(f"{base}/healthz").status_code == 200
    after = _healthz_count(fresh_get(f"{base}/metrics").text)
    assert after - before == 40
    metric_files = list((data_dir / "run").glob("metrics-*/counter_*.db"))
    assert len({path.stem.split("_")[-1] for path in metric_files}) == 2, metric_files  # two workers counted


def test_a_job_started_on_one_worker_is_followed_and_its_document_found_by_every_worker(
    served: tuple[str, Path],
) -> None:
    base, _ = served
    assert not any("osmium" in snippet for snippet in ask(base))
    with httpx.Client(timeout=60) as client:
        started = client.post(
            f"{base}/kbs/{KB}/documents", files={"files": ("osmium-memo.txt", NEW_DOC.encode(), "text/plain")}
        )
    assert started.status_code == 202, started.text
    job_id = started.json()["job"]["id"]
    deadline = time.monotonic() + 120
    states = []
    while time.monotonic() < deadline:
        status = fresh_get(f"{base}/jobs/{job_id}")
        assert status.status_code == 200, status.text  # known to every worker, not only the one that started it
        states.append(status.json()["state"])
        if states[-1] in ("succeeded", "partial", "failed"):
            break
        time.sleep(0.2)
    assert states[-1] == "succeeded", states
    time.sleep(2.5)  # a worker catches up with another process's writes at most every two seconds
    for _ in range(12):  # new connections: both workers answer some of these
        assert any("osmium" in snippet for snippet in ask(base))
    kb = fresh_get(f"{base}/kbs/{KB}").json()
    assert kb["last_job"]["id"] == job_id, kb


def test_milvus_lite_is_refused_with_several_workers(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "RAG_STORE__BACKEND": "milvus"}
    refused = subprocess.run(
        [RAG, "serve", "--port", str(free_port()), "--workers", "2"], env=env, capture_output=True, timeout=60
    )
    assert refused.returncode == 1
    assert "Milvus Lite" in refused.stderr.decode() and "one worker" in refused.stderr.decode()


def _healthz_count(exposition: str) -> float:
    pattern = re.compile(r"^askdocs_http_requests_total\{([^}]*)\} ([0-9.e+]+)$", re.M)
    return sum(float(value) for labels, value in pattern.findall(exposition) if 'route="/healthz"' in labels)
