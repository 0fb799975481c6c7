"""Soak: many concurrent streamed ``/ask`` against a fake R1 for a while, on a real ``rag serve``.

The API runs as its own process (so its memory is its own) over a knowledge base built by
``rag ingest``; the fake R1 streams with a per-chunk delay; ``/healthz`` is probed throughout.

    .venv/bin/python bench/bench_soak.py [--concurrency 64] [--seconds 60] [--warmup 10] \
        [--chunk-delay 0.03] [--docs data] [--json bench/results/soak.json]

Targets (exit 1 when one is missed): no error but a documented 429; the server's RSS at the end
within 10 % of its RSS after warm-up; every ``/healthz`` probe answered (within 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.milvus_server import free_port  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, Script  # noqa: E402

QUESTIONS = [
    "How long is the standard warranty on Northwind robots?",
    "What changed in Fleet Manager 3.4?",
    "年假有多少天？",
    "What does the NW200 datasheet say about payload?",
    "差旅住宿标准是多少？",
]
RSS_GROWTH_LIMIT = 0.10
HEALTH_TIMEOUT_S = 5.0


@dataclass
class Phase:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ttft_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)


@dataclass
class Report:
    concurrency: int
    seconds: float
    warmup_s: float
    chunk_delay_s: float
    requests: int
    completed: int
    rate_limited_429: int
    errors: dict[str, int]
    requests_per_s: float
    ttft_p50_s: float
    ttft_p99_s: float
    total_p50_s: float
    total_p99_s: float
    rss_after_warmup_mb: float
    rss_after_soak_mb: float
    rss_growth: float
    healthz_probes: int
    healthz_failures: int
    healthz_p50_ms: float
    healthz_p99_ms: float
    healthz_max_ms: float
    passed: bool = False
    misses: list[str] = field(default_factory=list)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class ApiProcess:
    """``rag serve`` on a free port over a fresh data directory, the knowledge base ingested first."""

    def __init__(self, docs: Path, llm_url: str, concurrency: int, workdir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.rag = str(Path(sys.executable).with_name("rag"))
        self.env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "RAG_DATA_DIR": str(workdir / "data"),
            "RAG_EMBEDDING__MODEL": "bundled:all-minilm-l6-v2",
            "RAG_LLM__PROFILES": "fake",
            "RAG_LLM__OVERRIDES__FAKE__BASE_URL": llm_url,
            "RAG_LLM__OVERRIDES__FAKE__MODEL": "fake-r1",
            "RAG_RATE_LIMIT__REQUESTS_PER_MINUTE": "1000000",
            "RAG_RATE_LIMIT__CONCURRENT_STREAMS": str(concurrency),
            "RAG_LOG__LEVEL": "warning",
        }
        self.docs = docs
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ApiProcess:
        ingest = subprocess.run(
            [self.rag, "ingest", str(self.docs), "--kb", "docs", "--json"], env=self.env, capture_output=True
        )
        if ingest.returncode not in (0, 2):
            raise RuntimeError(f"rag ingest failed ({ingest.returncode}): {ingest.stderr.decode()[-2000:]}")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [self.rag, "serve", "--port", str(self.port)], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rag serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("rag serve did not become ready")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def one_answer(client: httpx.AsyncClient, url: str, question: str, phase: Phase) -> None:
    began = time.perf_counter()
    first: float | None = None
    outcome = "no_done_event"
    phase.requests += 1
    try:
        body = {"question": question, "kb": "docs", "stream": True}
        async with client.stream("POST", f"{url}/ask", json=body) as response:
            phase.statuses[response.status_code] += 1
            if response.status_code != 200:
                await response.aread()
                if response.status_code != 429:
                    phase.errors[f"http_{response.status_code}"] += 1
                return
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "answer" and first is None:
                        first = time.perf_counter() - began
                    elif event in ("done", "error"):
                        outcome = event
    except httpx.HTTPError as exc:
        phase.errors[type(exc).__name__] += 1
        return
    if outcome != "done":
        phase.errors[f"stream_{outcome}"] += 1
        return
    phase.total_s.append(time.perf_counter() - began)
    if first is not None:
        phase.ttft_s.append(first)


async def drive(url: str, concurrency: int, until: float, phase: Phase) -> None:
    limits = httpx.Limits(max_connections=concurrency + 8, max_keepalive_connections=concurrency + 8)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker(n: int) -> None:
            turn = n
            while time.monotonic() < until:
                await one_answer(client, url, QUESTIONS[turn % len(QUESTIONS)], phase)
                turn += 1

        await asyncio.gather(*(worker(n) for n in range(concurrency)))


class HealthProbe(threading.Thread):
    """GET /healthz every 250 ms from its own thread and connection."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.latencies_ms: list[float] = []
        self.failures = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=HEALTH_TIMEOUT_S) as client:
            while not self._stop_event.is_set():
                began = time.perf_counter()
                try:
                    ok = client.get(f"{self.url}/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.latencies_ms.append((time.perf_counter() - began) * 1000)
                self.failures += not ok
                self._stop_event.wait(0.25)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)


def run_soak(*, concurrency: int, seconds: float, warmup: float, chunk_delay: float, docs: Path) -> Report:
    """Warm up, note the RSS, soak, note it again; every figure from this one run."""
    script = Script(
        reasoning="The checklist and the policy both speak to this; the policy is the newer source. " * 2,
        answer="According to the policy, the standard warranty is 24 months [citation:1]. " * 3,
        chunk_size=4,
        chunk_delay=chunk_delay,
    )
    with tempfile.TemporaryDirectory() as tmp, FakeLLMServer(script) as llm:
        with ApiProcess(docs, llm.base_url, concurrency, Path(tmp)) as api:
            assert api.proc is not None
            warm = Phase()
            asyncio.run(drive(api.base_url, concurrency, time.monotonic() + warmup, warm))
            rss_warm = rss_mb(api.proc.pid)
            probe = HealthProbe(api.base_url)
            probe.start()
            soak = Phase()
            began = time.monotonic()
            asyncio.run(drive(api.base_url, concurrency, began + seconds, soak))
            elapsed = time.monotonic() - began
            rss_end = rss_mb(api.proc.pid)
            probe.stop()
    completed = len(soak.total_s)
    report = Report(
        concurrency=concurrency,
        seconds=round(elapsed, 1),
        warmup_s=warmup,
        chunk_delay_s=chunk_delay,
        requests=soak.requests,
        completed=completed,
        rate_limited_429=soak.statuses[429],
        errors=dict(soak.errors),
        requests_per_s=round(completed / elapsed, 2),
        ttft_p50_s=round(percentile(soak.ttft_s, 0.5), 3),
        ttft_p99_s=round(percentile(soak.ttft_s, 0.99), 3),
        total_p50_s=round(percentile(soak.total_s, 0.5), 3),
        total_p99_s=round(percentile(soak.total_s, 0.99), 3),
        rss_after_warmup_mb=round(rss_warm, 1),
        rss_after_soak_mb=round(rss_end, 1),
        rss_growth=round(rss_end / rss_warm - 1, 4),
        healthz_probes=len(probe.latencies_ms),
        healthz_failures=probe.failures,
        healthz_p50_ms=round(statistics.median(probe.latencies_ms), 1) if probe.latencies_ms else float("nan"),
        healthz_p99_ms=round(percentile(probe.latencies_ms, 0.99), 1),
        healthz_max_ms=round(max(probe.latencies_ms, default=float("nan")), 1),
    )
    if report.errors:
        report.misses.append(f"errors other than 429: {report.errors}")
    if completed == 0:
        report.misses.append("no answer completed")
    if report.rss_growth > RSS_GROWTH_LIMIT:
        report.misses.append(f"RSS grew {report.rss_growth:.1%} (limit {RSS_GROWTH_LIMIT:.0%})")
    if report.healthz_failures or not report.healthz_probes:
        report.misses.append(f"/healthz failed {report.healthz_failures} of {report.healthz_probes} probes")
    report.passed = not report.misses
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--chunk-delay", type=float, default=0.03, help="seconds between the fake R1's chunks")
    parser.add_argument("--docs", type=Path, default=ROOT / "data", help="folder to index as the knowledge base")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    report = run_soak(
        concurrency=args.concurrency,
        seconds=args.seconds,
        warmup=args.warmup,
        chunk_delay=args.chunk_delay,
        docs=args.docs,
    )
    text = json.dumps(asdict(report), indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
