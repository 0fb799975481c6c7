"""The Ray engine against the local engine on one machine, and a projection to a GPU cluster.

Every run is a real ``rag reindex`` process over a BEIR corpus written as files (SciFact by
default), each into a fresh data directory (so no embedding-cache hits), the bundled model on the
ONNX int8 encoder exported once before the clock starts:

(1) local engine vs Ray engine (a local instance of this machine's CPUs), alternated ``--repeats``
    times: process wall time (start-up included: model load; for Ray, the instance and the
    actor) and the job's own time (from its ``--json`` summary), and the overhead of Ray.
(2) scaling: the Ray engine on a local instance of N = 1, 2 CPUs over the first
    ``--scaling-limit`` documents.
(3) the driver's ceiling: a ``--full`` rebuild whose every vector is in the embedding cache, run
    by the local engine parsing in its own process (``--workers 0``): the manifest, store and
    BM25 writes that every job's one driver does whatever the cluster's size, plus parsing, so
    a lower bound of that ceiling.
    With ``--milvus``, the same against a Milvus 2.3 server on this machine (``.venv-milvus``,
    ``scripts/install_milvus_server.sh``): the store a cluster job writes is a server.
(4) a projection of chunks/s for a 10M-document corpus on K GPU nodes from a per-chunk cost
    model (see ``project``), printed with its assumptions.

    .venv/bin/python bench/bench_ray_engine.py --json bench/results/ray_engine.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_ingest import DEFAULT_DATASET, write_corpus  # noqa: E402

# Assumed, not measured here (no GPU on this machine): BGE-M3 chunks/s on one data-centre GPU
# (fp16 torch, chunks of ~400 tokens, batches of 128). Pass --gpu-chunks-per-s with a measured figure.
ASSUMED_GPU_CHUNKS_PER_S = 800.0


def rag_reindex(folder: Path, data_dir: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "reindex", str(folder), "--kb", "bench", "--json", *args],
        env={**env, "RAG_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise RuntimeError(f"rag reindex {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "wall_s": round(wall, 2),
        "job_s": summary["seconds"],
        "chunks": summary["chunks_written"],
        "files": summary["indexed"],
        "cache_hits": summary["embedding_cache_hits"],
        "chunks_per_job_s": round(summary["chunks_written"] / summary["seconds"], 1),
    }


def driver_ceiling_on_milvus(folder: Path, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    """The cached ``--full`` rebuild into a Milvus server, its embedding cache copied from the
    first local run (so every vector is a hit, as in the Chroma case)."""
    import shutil

    from bench_vector_stores import MilvusServer

    data_dir = tmp / "milvus-data"
    data_dir.mkdir()
    shutil.copy(tmp / "local-0" / "embedding_cache.sqlite", data_dir / "embedding_cache.sqlite")
    server = MilvusServer(tmp / "milvus-server")
    try:
        on_server = {**env, "RAG_STORE__BACKEND": "milvus", "RAG_STORE__URI": server.uri}
        return rag_reindex(folder, data_dir, on_server, "--engine", "local", "--workers", "0", "--full")
    finally:
        server.stop()


def parse_docs_per_s(folder: Path) -> float:
    """Files parsed and chunked a second on one CPU (in this process, nothing else running)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from ingest.chunk_sources import LocalChunkSource
    from ingest.chunking import Chunker
    from ingest.embedders.factory import bundled_embedder
    from ingest.limits import FileLimits

    embedder = bundled_embedder()
    chunker = Chunker(embedder.count_tokens, max_tokens=embedder.max_input_tokens)
    paths = sorted(str(p) for p in folder.iterdir())
    started = time.perf_counter()
    done = sum(1 for _ in LocalChunkSource(workers=0).chunk_files(paths, "bench", chunker, FileLimits()))
    return float(done / (time.perf_counter() - started))


def project(
    docs: float,
    chunks_per_doc: float,
    *,
    parse_docs_per_cpu_s: float,
    driver_chunks_per_s: float,
    gpu_chunks_per_s: float,
) -> dict[str, Any]:
    """Chunks/s of a cluster = the slowest of three stages that run at once (bounded queues between
    them): parsing on P CPUs (P * per-CPU docs/s * chunks/doc), embedding on K GPUs (K * per-GPU
    chunks/s, actors independent), and the one driver's writes (fixed). Assumes files on a shared
    filesystem that keeps up, 8 parse CPUs per GPU node, and a store server as fast as the embedded
    one measured here; the driver's ceiling is the measured one and is what caps large K."""
    rows = []
    for gpu_nodes in (1, 2, 4, 8, 16, 32):
        parse = 8 * gpu_nodes * parse_docs_per_cpu_s * chunks_per_doc
        embed = gpu_nodes * gpu_chunks_per_s
        rate = min(parse, embed, driver_chunks_per_s)
        bound = {parse: "parse", embed: "embed", driver_chunks_per_s: "driver"}[rate]
        hours = docs * chunks_per_doc / rate / 3600
        rows.append({"gpu_nodes": gpu_nodes, "chunks_per_s": round(rate), "bound_by": bound, "hours": round(hours, 1)})
    return {"documents": docs, "chunks_per_doc": round(chunks_per_doc, 2), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--scaling-limit", type=int, default=1000)
    parser.add_argument("--gpu-chunks-per-s", type=float, default=ASSUMED_GPU_CHUNKS_PER_S)
    parser.add_argument("--milvus", action="store_true", help="also measure the driver's ceiling on a Milvus server")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder, small = tmp / "corpus", tmp / "corpus-small"
        docs = write_corpus(args.dataset, folder, args.limit)
        write_corpus(args.dataset, small, args.scaling_limit)
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        env.update(
            HF_HUB_OFFLINE="1",
            RAG_EMBEDDING__MODEL="bundled:all-minilm-l6-v2",
            RAG_EMBEDDING__BACKEND="onnx",
            RAG_EMBEDDING__ONNX_CACHE=str(tmp / "onnx"),
        )
        # the ONNX export happens once, here, before any clock
        subprocess.run(
            [sys.executable, "-m", "rag.cli", "reindex", str(small), "--kb", "x", "--dry-run"],
            env={**env, "RAG_DATA_DIR": str(tmp / "warm-up")},
            capture_output=True,
            check=True,
            cwd=ROOT,
        )
        runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
        for repeat in range(args.repeats):
            for engine in ("local", "ray") if repeat % 2 == 0 else ("ray", "local"):
                data_dir = tmp / f"{engine}-{repeat}"
                runs[engine].append(rag_reindex(folder, data_dir, env, "--engine", engine))
                print(engine, runs[engine][-1], flush=True)
        ceiling = rag_reindex(folder, tmp / "local-0", env, "--engine", "local", "--workers", "0", "--full")
        print("driver ceiling", ceiling, flush=True)
        ceiling_milvus = driver_ceiling_on_milvus(folder, tmp, env) if args.milvus else None
        if ceiling_milvus:
            print("driver ceiling, Milvus server", ceiling_milvus, flush=True)
        scaling = {}
        for cpus in (1, 2):
            limited = {**env, "RAG_RAY__LOCAL_CPUS": str(cpus)}
            scaling[cpus] = rag_reindex(small, tmp / f"scale-{cpus}", limited, "--engine", "ray")
            print("scaling", cpus, scaling[cpus], flush=True)
        parse_rate = parse_docs_per_s(small)
        print("parse + chunk, one CPU:", round(parse_rate, 1), "docs/s", flush=True)

    def mean(engine: str, key: str) -> float:
        return sum(r[key] for r in runs[engine]) / len(runs[engine])

    chunks = runs["local"][0]["chunks"]
    result = {
        "documents": docs,
        "chunks": chunks,
        "cpus": os.cpu_count(),
        "runs": runs,
        "ray_over_local_wall": round(mean("ray", "wall_s") / mean("local", "wall_s"), 3),
        "ray_over_local_job": round(mean("ray", "job_s") / mean("local", "job_s"), 3),
        "driver_ceiling_full_cached": ceiling,
        "driver_ceiling_full_cached_milvus_server": ceiling_milvus,
        "scaling_local_cpus": scaling,
        "scaling_2_over_1_chunks_per_s": round(scaling[2]["chunks_per_job_s"] / scaling[1]["chunks_per_job_s"], 3),
        "projection": project(
            10_000_000,
            chunks / docs,
            parse_docs_per_cpu_s=parse_rate,
            driver_chunks_per_s=(ceiling_milvus or ceiling)["chunks_per_job_s"],
            gpu_chunks_per_s=args.gpu_chunks_per_s,
        ),
        "parse_docs_per_cpu_s": round(parse_rate, 1),
        "gpu_chunks_per_s": {
            "value": args.gpu_chunks_per_s,
            "assumed": args.gpu_chunks_per_s == ASSUMED_GPU_CHUNKS_PER_S,
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
