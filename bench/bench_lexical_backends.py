"""Benchmark: the lexical side served here (bm25s) against Milvus's own BM25, on BEIR corpora.

Each document becomes one chunk (title and text), written the way a re-index job writes it:
to the store (with a placeholder vector: no embedding model is involved, only BM25 ranks) and to
the lexical side. ``local`` is our ``LexicalIndex``; ``milvus-lite`` is ``StoreFullTextIndex``
over a Milvus Lite collection created with ``full_text=True`` (jieba analyser, our stop words,
English stemming). For each: write time, nDCG@10, Recall@10 and MRR@10 against the qrels, and
query latency p50/p99.

    .venv/bin/python bench/bench_lexical_backends.py [--datasets scifact rgb_zh_refine]
        [--json bench/results/lexical_backends.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ingest.lexical import LexicalIndex  # noqa: E402
from ingest.lexical.delegated import StoreFullTextIndex  # noqa: E402
from ingest.stores.milvus import MilvusStore  # noqa: E402
from ingest.types import Chunk  # noqa: E402
from rag.eval.beir import BeirDataset, load_beir  # noqa: E402
from rag.eval.runner import doc_ranking, score_run  # noqa: E402

EVAL = REPO.parent / "shared" / "eval"
KB = "bench"
DIM = 2
BATCH = 500


def chunks_of(dataset: BeirDataset) -> list[Chunk]:
    out = []
    for row in dataset.corpus:
        text = f"{row.title.strip()}\n{row.text.strip()}".strip()
        out.append(
            Chunk(
                chunk_id=hashlib.sha256(row.doc_id.encode()).hexdigest()[:32],
                kb=KB,
                doc_id=row.doc_id,
                source=f"beir://{dataset.name}/{row.doc_id}",
                title=row.title.strip(),
                text=text,
                chunk_index=0,
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    return out


def build(backend: str, work: Path, chunks: list[Chunk]) -> tuple[Any, float]:
    """The lexical side filled with ``chunks``; seconds spent writing (and committing)."""
    started = time.perf_counter()
    if backend == "local":
        local = LexicalIndex(work / "lexical")
        for chunk in chunks:
            local.replace_document(KB, chunk.doc_id, [chunk])
        local.commit(KB)
        return local, time.perf_counter() - started
    store = MilvusStore(work / "lite.db", full_text=True)
    lexical = StoreFullTextIndex(store, LexicalIndex(work / "fallback"))
    store.ensure_kb(KB, "placeholder", DIM)
    if not lexical.delegated(KB):
        raise SystemExit("this Milvus cannot run BM25: nothing to compare")
    for start in range(0, len(chunks), BATCH):
        batch = chunks[start : start + BATCH]
        store.upsert(KB, batch, [[1.0, 0.0]] * len(batch))
    store.flush(KB)
    return lexical, time.perf_counter() - started


def evaluate(lexical: Any, dataset: BeirDataset, depth: int) -> dict[str, float]:
    ranked: dict[str, list[str]] = {}
    latencies = []
    for qid, query in dataset.queries.items():
        t = time.perf_counter()
        hits = lexical.search(KB, query, depth)
        latencies.append((time.perf_counter() - t) * 1000)
        ranked[qid] = doc_ranking(hits, depth)
    latencies.sort()
    scores = score_run(dataset.qrels, ranked)
    scores["p50_ms"] = statistics.median(latencies)
    scores["p99_ms"] = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    return scores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["scifact", "rgb_zh_refine"])
    parser.add_argument("--backends", nargs="+", default=["local", "milvus-lite"])
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "lexical_backends.json")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    header = f"{'dataset':<16}{'backend':<13}{'write s':>9}{'nDCG@10':>9}{'R@10':>7}{'MRR@10':>8}"
    print(f"{header}{'p50 ms':>8}{'p99 ms':>8}")
    for name in args.datasets:
        dataset = load_beir(EVAL / name)
        chunks = chunks_of(dataset)
        report[name] = {"documents": len(chunks), "queries": len(dataset.queries), "backends": {}}
        for backend in args.backends:
            with tempfile.TemporaryDirectory(prefix="bench-lexical-") as tmp:
                lexical, write_s = build(backend, Path(tmp), chunks)
                evaluate(lexical, dataset, args.depth)  # warm: jieba, loaded collection, matrix
                scores = evaluate(lexical, dataset, args.depth)
                scores["write_s"] = write_s
                report[name]["backends"][backend] = scores
                lexical.close()
                if isinstance(lexical, StoreFullTextIndex) and isinstance(lexical.store, MilvusStore):
                    lexical.store.close()
            print(
                f"{name:<16}{backend:<13}{write_s:>9.1f}{scores['ndcg@10']:>9.3f}{scores['recall@10']:>7.3f}"
                f"{scores['mrr@10']:>8.3f}{scores['p50_ms']:>8.1f}{scores['p99_ms']:>8.1f}",
                flush=True,
            )
    report["load_average_at_end"] = list(os.getloadavg())  # other work on the machine skews latencies
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
