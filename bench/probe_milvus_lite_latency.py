"""Where a Milvus Lite search spends its time: per call, or per query?

Times single-query search calls at several ``ef`` values and consistency levels, with and
without output fields, then the same queries sent as one batched call. Run it on the Lite
file that ``bench_vector_stores.py --workdir DIR`` leaves behind:

    .venv/bin/python bench/bench_vector_stores.py --data lowdim --backends milvus-lite --workdir /tmp/vs
    .venv/bin/python bench/probe_milvus_lite_latency.py /tmp/vs/lite.db --data lowdim
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vector_stores import queries  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("--data", choices=["random", "lowdim"], default="lowdim")
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from pymilvus import MilvusClient

    client = MilvusClient(str(args.db))
    name = client.list_collections()[0]
    client.load_collection(name)
    print(client.describe_index(name, client.list_indexes(name)[0]))
    vectors = [v.tolist() for v in queries(args.queries, args.dim, args.seed, args.data)]

    def single_calls(label: str, ef: int, **options: Any) -> None:
        params = {"anns_field": "vector", "search_params": {"metric_type": "COSINE", "params": {"ef": ef}}}
        client.search(name, data=[vectors[0]], limit=10, **params, **options)
        times = []
        for vector in vectors:
            started = time.perf_counter()
            client.search(name, data=[vector], limit=10, **params, **options)
            times.append((time.perf_counter() - started) * 1000)
        print(f"{label:<44} p50 {np.percentile(times, 50):7.1f} ms   p99 {np.percentile(times, 99):7.1f} ms")

    single_calls("ef 64, no output fields", 64)
    single_calls("ef 64, output text", 64, output_fields=["text"])
    for level in ("Strong", "Session", "Eventually"):
        single_calls(f"ef 64, {level}", 64, consistency_level=level)
    single_calls("ef 16, Eventually", 16, consistency_level="Eventually")
    single_calls("ef 256, Eventually", 256, consistency_level="Eventually")
    params = {"anns_field": "vector", "search_params": {"metric_type": "COSINE", "params": {"ef": 64}}}
    started = time.perf_counter()
    client.search(name, data=vectors, limit=10, **params)
    per_query = (time.perf_counter() - started) * 1000 / len(vectors)
    print(f"{'ef 64, all queries in one call':<44} {per_query:7.1f} ms per query")
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
