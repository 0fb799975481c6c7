"""Encoder time by batch shape: a fixed number of inputs against a bound on padded tokens.

Texts are SciFact documents cut by our chunker; they are sorted by token count once, then cut
into batches either of a fixed size (32 is what sentence-transformers and LangChain use) or of
at most ``budget`` padded tokens (inputs x the longest). Every plan encodes the same inputs, and
plans alternate within each repeat, so they share the machine's state; the figure reported is
each plan's median time over the fixed-32 plan's median.

``--model bundled`` runs all-MiniLM-L6-v2 (the bundled model) on the chunk texts.
``--model bge-m3-shape`` runs an encoder with BGE-M3's shape (XLM-R large: 24 layers, 1,024 wide,
16 heads) and random weights on random token ids of the chunk lengths at BGE-M3's chunk size:
speed depends on shapes only, and the real weights cannot be fetched here.

    .venv/bin/python bench/bench_batch_shapes.py --docs 1000 --json bench/results/batch_shapes.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.embedders.sentence_transformers import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT.parent / "shared" / "eval" / "scifact"
BASELINE = "fixed 32"


def chunk_lengths_and_texts(
    embedder: SentenceTransformerEmbedder, dataset: Path, docs: int, max_tokens: int
) -> tuple[list[int], list[str]]:
    """Padded token lengths (special tokens included) and texts of the chunks of the first ``docs``."""
    from ingest.chunking import Chunker
    from ingest.loaders import load_file

    chunker = Chunker(embedder.count_tokens, max_tokens=max_tokens)
    texts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, open(dataset / "corpus.jsonl", encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= docs:
                break
            row = json.loads(line)
            path = Path(tmp) / f"{row['_id']}.txt"
            path.write_text(f"{row.get('title', '')}\n\n{row.get('text', '')}\n", encoding="utf-8")
            texts.extend(chunk.text for chunk in chunker.chunk(load_file(path, "bench"), "bench"))
    lengths = [min(embedder.count_tokens(t) + 2, max_tokens) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    return [lengths[i] for i in order], [texts[i] for i in order]


def bundled_runner(embedder: SentenceTransformerEmbedder, texts: list[str]) -> Callable[[list[list[int]]], None]:
    model = embedder._loaded()  # noqa: SLF001 - the raw model is what is timed

    def run(batches: list[list[int]]) -> None:
        for batch in batches:
            model.encode([texts[i] for i in batch], batch_size=len(batch), normalize_embeddings=True)

    return run


def bge_m3_shape_model() -> Any:
    """XLM-R large as BGE-M3 has it (24 layers, 1,024 wide, 16 heads, 250k vocabulary), random weights."""
    from transformers import XLMRobertaConfig, XLMRobertaModel

    config = XLMRobertaConfig(  # type: ignore[call-arg]  # attn_implementation goes through **kwargs
        vocab_size=250_002,
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        max_position_embeddings=8194,
        attn_implementation="sdpa",
    )
    return XLMRobertaModel(config).eval()  # type: ignore[no-untyped-call]


def bge_m3_shape_runner(lengths: list[int]) -> Callable[[list[list[int]]], None]:
    import torch

    model = bge_m3_shape_model()
    generator = torch.Generator().manual_seed(0)

    def run(batches: list[list[int]]) -> None:
        with torch.inference_mode():
            for batch in batches:
                longest = lengths[batch[0]]
                ids = torch.randint(5, 250_000, (len(batch), longest), generator=generator)
                mask = torch.zeros_like(ids)
                for row, i in enumerate(batch):
                    mask[row, : lengths[i]] = 1
                model(input_ids=ids, attention_mask=mask)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--model", choices=["bundled", "bge-m3-shape"], default="bundled")
    parser.add_argument("--docs", type=int, default=1000, help="first N documents")
    parser.add_argument("--sizes", type=int, nargs="*", default=[16, 8])
    parser.add_argument("--budgets", type=int, nargs="*", default=[1024, 2048, 4096])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    max_tokens = 256 if args.model == "bundled" else 404  # MiniLM's input limit; BGE-M3's 400-token chunks
    from ingest.embedders.factory import bundled_embedder
    from ingest.embedders.sentence_transformers import token_sorted_batches

    embedder = bundled_embedder()  # counts tokens for both models; the bundled model is also timed
    lengths, texts = chunk_lengths_and_texts(embedder, args.dataset, args.docs, max_tokens)
    run = bundled_runner(embedder, texts) if args.model == "bundled" else bge_m3_shape_runner(lengths)
    plans = {BASELINE: token_sorted_batches(lengths, 32, None)}
    plans.update({f"fixed {size}": token_sorted_batches(lengths, size, None) for size in args.sizes})
    plans.update({f"budget {b}": token_sorted_batches(lengths, 256, b) for b in args.budgets})
    run(plans[BASELINE][:2])  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(args.repeats):
        for name, batches in plans.items():
            started = time.perf_counter()
            run(batches)
            seconds[name].append(time.perf_counter() - started)
            print(f"{name:<14}{seconds[name][-1]:>9.2f} s", flush=True)
    base = statistics.median(seconds[BASELINE])
    rows: dict[str, Any] = {
        name: {
            "batches": len(plans[name]),
            "seconds": times,
            "median_s": statistics.median(times),
            "time_vs_fixed_32": statistics.median(times) / base,
        }
        for name, times in seconds.items()
    }
    print(f"{args.model}: {len(lengths)} chunks, {sum(lengths)} tokens")
    for name, row in rows.items():
        print(f"{name:<14}{row['median_s']:>9.2f} s  x{row['time_vs_fixed_32']:.3f} of fixed 32")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"model": args.model, "chunks": len(lengths), "tokens": sum(lengths), "plans": rows}
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
