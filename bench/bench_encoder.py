"""Encoder backends side by side: torch against the ONNX int8 copy (``embedding.backend``).

Texts are SciFact documents cut by our chunker. Each backend runs in a fresh process (its own
peak RSS), in turn, ``--repeats`` times (torch, onnx, torch, onnx, ...), over the same chunks in
the same token-bounded batches our embedder makes; the figure is each backend's median chunks/s
and its ratio to torch's. The ONNX export is made once before the clock starts, and its time is
reported beside it.

``--model bundled``: all-MiniLM-L6-v2 through ``SentenceTransformerEmbedder`` (tokenising,
pooling and normalising included), with the cosine of every chunk's vector to torch's.
``--model bge-m3-shape``: an encoder of BGE-M3's shape (XLM-R large: 24 layers, 1,024 wide, 16
heads, 250k vocabulary) with random weights, on random token ids of the chunks' lengths at
BGE-M3's chunk size; speed depends on shapes only, and the real weights cannot be fetched here.
Its fp32 graph passes 2 GB, so it also exercises the export's external-data path.

Retrieval quality of the two is measured by ``rag eval retrieval --embedding-backend torch|onnx``.

    .venv/bin/python bench/bench_encoder.py --model bundled --docs 1000 --json bench/results/encoder.json
    .venv/bin/python bench/bench_encoder.py --model bge-m3-shape --docs 40 --repeats 1 \
        --json bench/results/encoder_bge_m3_shape.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_DATASET = ROOT.parent / "shared" / "eval" / "scifact"
BGE_M3_CHUNK_TOKENS = 512


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bundled_texts(dataset: Path, docs: int) -> list[str]:
    from bench_batch_shapes import chunk_lengths_and_texts

    from ingest.embedders.factory import bundled_embedder

    embedder = bundled_embedder()
    _, texts = chunk_lengths_and_texts(embedder, dataset, docs, embedder.max_input_tokens)
    return texts


def bundled_run(backend: str, texts: list[str], cache: str, vectors_out: str) -> dict[str, Any]:
    """Embed ``texts`` with the bundled model run by ``backend``; vectors saved for the cosine."""
    import numpy as np

    from ingest.embedders.factory import bundled_embedder

    embedder = bundled_embedder(backend=backend, onnx_cache=Path(cache))  # type: ignore[arg-type]
    embedder.load()
    embedder.embed_documents(texts[:32])  # first-pass allocations stay out of the timing
    loaded_mb = _peak_mb()
    started = time.perf_counter()
    vectors = embedder.embed_documents(texts)
    seconds = time.perf_counter() - started
    np.save(vectors_out, np.asarray(vectors, dtype=np.float32))
    return {
        "backend": embedder.backend,
        "seconds": seconds,
        "chunks": len(texts),
        "peak_mb": max(loaded_mb, _peak_mb()),
    }


def _bge_m3_shape_model() -> Any:
    import torch
    from bench_batch_shapes import bge_m3_shape_model

    torch.manual_seed(0)  # both backends' runs and the export see the same weights
    return bge_m3_shape_model()


def bge_m3_shape_export(cache: str) -> dict[str, Any]:
    from ingest.embedders.onnx_export import MODEL_FILE, _export

    target = Path(cache) / "bge-m3-shape"
    target.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _export(_bge_m3_shape_model(), ["input_ids", "attention_mask"], target)
    size = sum(p.stat().st_size for p in target.iterdir() if p.name.startswith(MODEL_FILE))
    return {"seconds": time.perf_counter() - started, "int8_mb": size / 2**20, "peak_mb": _peak_mb()}


def bge_m3_shape_run(backend: str, lengths: list[int], cache: str) -> dict[str, Any]:
    """Random ids of ``lengths`` in our CPU batches, through torch or the exported int8 graph."""
    import numpy as np
    import torch

    from ingest.embedders.onnx_export import MODEL_FILE
    from ingest.embedders.sentence_transformers import CPU_BATCH_TOKENS, token_sorted_batches

    batches = token_sorted_batches(lengths, 32, CPU_BATCH_TOKENS)
    generator = np.random.default_rng(0)
    inputs = []
    for batch in batches:
        longest = lengths[batch[0]]
        ids = generator.integers(5, 250_000, (len(batch), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(batch):
            mask[row, : lengths[i]] = 1
        inputs.append((ids, mask))
    if backend == "torch":
        model = _bge_m3_shape_model()

        def forward(ids: Any, mask: Any) -> None:
            with torch.inference_mode():
                model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    else:
        from ingest.embedders.onnx_export import OnnxEncoder

        encoder = OnnxEncoder(Path(cache) / "bge-m3-shape" / MODEL_FILE, config=None)

        def forward(ids: Any, mask: Any) -> None:
            encoder(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))

    forward(*inputs[-1])  # the shortest batch, to warm up
    started = time.perf_counter()
    for ids, mask in inputs:
        forward(ids, mask)
    return {"backend": backend, "seconds": time.perf_counter() - started, "chunks": len(lengths), "peak_mb": _peak_mb()}


def _run(target: Any, *args: Any) -> Any:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(target, *args).result()


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for backend, rows in runs.items():
        rates = [r["chunks"] / r["seconds"] for r in rows]
        out[backend] = {
            "chunks": rows[0]["chunks"],
            "chunks_per_s": statistics.median(rates),
            "chunks_per_s_each": [round(r, 2) for r in rates],
            "peak_mb": max(r["peak_mb"] for r in rows),
        }
    base = out["torch"]["chunks_per_s"]
    for row in out.values():
        row["over_torch"] = row["chunks_per_s"] / base
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["bundled", "bge-m3-shape"], default="bundled")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--docs", type=int, default=1000, help="first N SciFact documents")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each backend, alternating")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    runs: dict[str, list[dict[str, Any]]] = {"torch": [], "onnx": []}
    report: dict[str, Any] = {"model": args.model, "docs": args.docs, "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        cache = str(Path(tmp) / "onnx")
        if args.model == "bundled":
            import numpy as np

            texts = bundled_texts(args.dataset, args.docs)
            started = time.perf_counter()
            _run(bundled_run, "onnx", texts[:4], cache, str(Path(tmp) / "warm.npy"))
            report["export_s"] = time.perf_counter() - started
            for repeat in range(args.repeats):
                for backend in runs:
                    out = str(Path(tmp) / f"{backend}-{repeat}.npy")
                    row = _run(bundled_run, backend, texts, cache, out)
                    assert row["backend"] == backend, f"asked for {backend}, ran {row['backend']}"
                    runs[backend].append(row)
            torch_v, onnx_v = np.load(Path(tmp) / "torch-0.npy"), np.load(Path(tmp) / "onnx-0.npy")
            cosine = np.sum(torch_v * onnx_v, axis=1)  # both normalised
            report["cosine_to_torch"] = {
                "min": float(cosine.min()),
                "p01": float(np.percentile(cosine, 1)),
                "mean": float(cosine.mean()),
            }
        else:
            from bench_batch_shapes import chunk_lengths_and_texts

            from ingest.embedders.factory import bundled_embedder

            lengths, _ = chunk_lengths_and_texts(bundled_embedder(), args.dataset, args.docs, BGE_M3_CHUNK_TOKENS)
            report["export"] = _run(bge_m3_shape_export, cache)
            for _ in range(args.repeats):
                for backend in runs:
                    runs[backend].append(_run(bge_m3_shape_run, backend, lengths, cache))
    report["backends"] = summarise(runs)
    print(f"{args.model}: {report['backends']['torch']['chunks']} chunks of {args.docs} SciFact documents")
    print(f"{'backend':<10}{'chunks/s':>10}{'x torch':>9}{'peak MB':>9}  each run")
    for backend, row in report["backends"].items():
        print(
            f"{backend:<10}{row['chunks_per_s']:>10.2f}{row['over_torch']:>9.2f}{row['peak_mb']:>9.0f}"
            f"  {row['chunks_per_s_each']}"
        )
    for key in ("export_s", "export", "cosine_to_torch"):
        if key in report:
            print(f"{key}: {report[key]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
