"""Retrieval evaluation through the real pipeline: ingest a BEIR corpus, run every mode, score it.

The corpus is indexed with ``Indexer.ingest_documents`` into a real vector store with the
lexical index registered as a sink, exactly as files are in production; queries go through the
retriever production builds (``rag.components.make_retriever``) from the production settings,
with only the mode changed per row, so fusion weights, ``foreign_dense_weight``, candidate
counts, ``ef_search`` and the reranker are the ones the API uses. Chunks are aggregated to
documents (a document ranks where its best chunk ranks) before scoring, since judgments are
per document. Metrics come from ``pytrec_eval`` (trec_eval's own code); MRR@10 is
trec_eval's ``recip_rank`` on the top 10. De-duplication of near-identical passages
(``retrieve``'s last step) is left out: it exists for the prompt, and judged documents are
distinct.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ingest.chunking import ChunkingConfig
from ingest.embedders.base import Embedder, encoder_id
from ingest.lexical import LexicalIndex, Tokenizer, TokenizerConfig
from ingest.lexical.tokenize import ChineseMode
from ingest.pipeline import Indexer
from ingest.progress import ProgressListener
from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.factory import build_store
from rag.eval.beir import BeirDataset, documents
from rag.retrieval.hybrid import HybridRetriever, Mode
from rag.retrieval.rerank import RerankSettings
from rag.settings import RagSettings

KB = "eval"
METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Which rows to run and how deep; the retrievers themselves come from the settings."""

    modes: tuple[Mode, ...] = ("dense", "lexical", "hybrid")
    depth: int = 100  # documents ranked per query (Recall@100 needs 100)
    chunks_per_doc: int = 3  # candidates fetched per side = depth * chunks_per_doc


@dataclass(frozen=True, slots=True)
class IndexConfig:
    chunk_tokens: int = 400
    overlap_tokens: int = 60
    chinese: ChineseMode = "search"
    hnsw: HnswParams = field(default_factory=HnswParams)


@dataclass(slots=True)
class ModeResult:
    mode: str
    metrics: dict[str, float]
    ms_per_query: float
    queries: int


@dataclass(slots=True)
class EvalReport:
    dataset: str
    documents: int
    chunks: int
    queries: int
    embedding_model: str
    index_reused: bool
    ingest_seconds: float
    lexical_commit_seconds: float
    index: dict[str, Any]
    run: dict[str, Any]
    results: list[ModeResult] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)


def score_run(qrels: dict[str, dict[str, int]], ranked: dict[str, list[str]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@10/100 and MRR@10 over every judged query (no result counts as 0)."""
    import pytrec_eval

    # Scores from ranks, so trec_eval's tie-breaking cannot reorder what the retriever returned.
    run = {q: {d: float(len(docs) - i) for i, d in enumerate(docs)} for q, docs in ranked.items() if docs}
    top10 = {q: {d: s for d, s in docs.items() if s > len(docs) - 10} for q, docs in run.items()}
    main = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10,100"}).evaluate(run)
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    keys = {"ndcg@10": "ndcg_cut_10", "recall@10": "recall_10", "recall@100": "recall_100"}
    out = {}
    for name, key in keys.items():
        out[name] = statistics.fmean(main.get(q, {}).get(key, 0.0) for q in qrels)
    out["mrr@10"] = statistics.fmean(mrr.get(q, {}).get("recip_rank", 0.0) for q in qrels)
    return out


def doc_ranking(hits: list[Any], depth: int) -> list[str]:
    """Documents in the order of their best chunk, at most ``depth``."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.doc_id, None)
        if len(seen) >= depth:
            break
    return list(seen)


@dataclass
class BuiltIndex:
    store: VectorStore
    lexical: LexicalIndex
    kb: str
    reused: bool
    chunks: int
    ingest_seconds: float = 0.0
    lexical_commit_seconds: float = 0.0


@contextmanager
def work_directory(path: Path | None) -> Iterator[Path]:
    """``path`` itself (kept, for reuse between runs) or a fresh temporary folder (removed)."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="rag-eval-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build_index(
    dataset: BeirDataset,
    embedder: Embedder,
    work_dir: Path,
    config: IndexConfig,
    progress: ProgressListener | None = None,
) -> BuiltIndex:
    """Index ``dataset`` under ``work_dir`` unless an index of the same corpus, model and
    chunking is already there. The lexical tokenizer may differ: the index re-tokenises itself."""
    manifest_path = work_dir / "manifest.json"
    manifest = {
        "corpus": dataset.fingerprint(),
        "embedding_model": encoder_id(embedder),
        "chunk_tokens": config.chunk_tokens,
        "overlap_tokens": config.overlap_tokens,
        "hnsw": [config.hnsw.m, config.hnsw.ef_construction],
    }
    store = build_store("chroma", path_or_uri=work_dir / "chroma", hnsw=config.hnsw)
    tokenizer = Tokenizer(TokenizerConfig(chinese=config.chinese))
    lexical = LexicalIndex(work_dir / "lexical", tokenizer)
    if manifest_path.exists() and json.loads(manifest_path.read_text()) == manifest and lexical.count(KB) > 0:
        started = time.perf_counter()
        lexical.commit(KB)
        return BuiltIndex(store, lexical, KB, True, store.count(KB), 0.0, time.perf_counter() - started)
    manifest_path.unlink(missing_ok=True)
    for sub in ("chroma", "lexical"):
        shutil.rmtree(work_dir / sub, ignore_errors=True)
    store = build_store("chroma", path_or_uri=work_dir / "chroma", hnsw=config.hnsw)
    lexical = LexicalIndex(work_dir / "lexical", tokenizer)
    chunking = ChunkingConfig(chunk_tokens=config.chunk_tokens, overlap_tokens=config.overlap_tokens)
    indexer = Indexer(embedder, store, chunking, sinks=[lexical])
    report = indexer.ingest_documents(documents(dataset), KB, progress)
    started = time.perf_counter()
    lexical.commit(KB)
    commit_s = time.perf_counter() - started
    manifest_path.write_text(json.dumps(manifest))
    return BuiltIndex(store, lexical, KB, False, report.chunks, report.seconds, commit_s)


def production_retriever(settings: RagSettings, embedder: Embedder, index: BuiltIndex, mode: Mode) -> HybridRetriever:
    """The retriever ``settings`` make in production, in ``mode``, over the evaluation index."""
    from rag.components import make_retriever  # the API's factory, so the eval cannot drift from it

    run = settings.model_copy(update={"retrieval": settings.retrieval.model_copy(update={"mode": mode})})
    retriever = make_retriever(run, embedder, index.store, index.lexical)
    if not isinstance(retriever, HybridRetriever):
        raise TypeError(f"make_retriever returned {type(retriever).__name__}, which cannot give ranked candidates")
    return retriever


def evaluate_modes(
    dataset: BeirDataset,
    index: BuiltIndex,
    query_embedder: Embedder,
    settings: RagSettings,
    config: RunConfig | None = None,
    on_query: Callable[[str], None] | None = None,
) -> list[ModeResult]:
    """Run every mode in ``config.modes`` with ``settings``' retrieval (reranker left out), and
    ``hybrid+rerank`` when ``settings`` configure a reranker."""
    config = config or RunConfig()
    bare = settings.model_copy(
        update={"retrieval": settings.retrieval.model_copy(update={"rerank": RerankSettings(provider="none")})}
    )
    plans: list[tuple[str, Mode, RagSettings]] = [(m, m, bare) for m in config.modes]
    if settings.retrieval.rerank.provider != "none":
        plans.append(("hybrid+rerank", "hybrid", settings))
    chunk_depth = config.depth * config.chunks_per_doc
    results = []
    for label, mode, run_settings in plans:
        retriever = production_retriever(run_settings, query_embedder, index, mode)
        retriever.check_kb(index.kb)
        retriever.candidates(next(iter(dataset.queries.values())), index.kb, chunk_depth)  # warm-up, untimed
        ranked: dict[str, list[str]] = {}
        elapsed = 0.0
        for qid, text in dataset.queries.items():
            started = time.perf_counter()
            hits, _ = retriever.candidates(text, index.kb, chunk_depth)
            elapsed += time.perf_counter() - started
            ranked[qid] = doc_ranking(hits, config.depth)
            if on_query is not None:
                on_query(label)
        metrics = score_run(dataset.qrels, ranked)
        results.append(ModeResult(label, metrics, 1000.0 * elapsed / len(dataset.queries), len(dataset.queries)))
    return results
