"""Benchmark: the lexical index's write, rebuild, reopen and query costs on a synthetic corpus.

Shows the trade-off of the immutable bm25s matrix: per-document writes are cheap (one SQLite
transaction), the first search after writes pays one rebuild, later searches pay nothing extra,
and a restarted process loads the persisted matrix instead of rebuilding. No embedding model is
involved. Mixed English/Chinese chunks of ~120 terms are drawn from a fixed vocabulary.

    .venv/bin/python bench/bench_retrieval_lexical.py [--chunks 20000] [--queries 200]

Exits non-zero when a search after ``commit()`` is slower than 50 ms at p95 (the budget that
keeps lexical search negligible next to query embedding).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from ingest.lexical import LexicalIndex
from ingest.types import Chunk

P95_BUDGET_MS = 50.0
EN = [f"term{i}" for i in range(20000)]
ZH = [a + b for a in "数据网络安全设备员工政策报销年假客户服务质量" for b in "管理系统流程标准规定手册"]


TIERS = [EN[:500], EN[:5000], EN]  # frequent, common and rare terms, so IDF varies


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(ZH) if rng.random() < 0.3 else rng.choice(rng.choice(TIERS)) for _ in range(words))


def chunk(doc: int, i: int, body: str) -> Chunk:
    return Chunk(f"c{doc}-{i}", "bench", f"d{doc}", f"/bench/{doc}.txt", f"doc {doc}", body, i, str(hash(body)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--per-doc", type=int, default=4)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rng = random.Random(7)
    docs = args.chunks // args.per_doc
    with tempfile.TemporaryDirectory(prefix="bench-lexical-") as tmp:
        index = LexicalIndex(Path(tmp) / "lexical")
        started = time.perf_counter()
        for d in range(docs):
            index.replace_document("bench", f"d{d}", [chunk(d, i, text(rng, 120)) for i in range(args.per_doc)])
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        index.commit("bench")
        commit_s = time.perf_counter() - started
        queries = [text(rng, rng.randint(3, 10)) for _ in range(args.queries)]
        latencies = []
        for q in queries:
            started = time.perf_counter()
            index.search("bench", q, 50)
            latencies.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        index.replace_document("bench", "d0", [chunk(0, 0, text(rng, 120))])
        index.search("bench", queries[0], 50)
        first_after_write_ms = 1000 * (time.perf_counter() - started)
        started = time.perf_counter()
        reopened = LexicalIndex(Path(tmp) / "lexical")
        reopened.search("bench", queries[0], 50)
        reopen_ms = 1000 * (time.perf_counter() - started)
    p95 = statistics.quantiles(latencies, n=20)[-1]
    result = {
        "chunks": docs * args.per_doc,
        "write_docs_per_s": round(docs / write_s, 1),
        "commit_s": round(commit_s, 2),
        "search_p50_ms": round(statistics.median(latencies), 2),
        "search_p95_ms": round(p95, 2),
        "first_search_after_a_write_ms": round(first_after_write_ms, 1),
        "reopen_and_search_ms": round(reopen_ms, 1),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if p95 <= P95_BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
