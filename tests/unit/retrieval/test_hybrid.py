"""HybridRetriever: modes, fusion metadata, the dense best score, fallbacks, reranking, de-duplication."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import EmbeddingModelMismatch
from ingest.lexical import LexicalIndex
from ingest.pipeline import Indexer
from ingest.stores.chroma import ChromaStore
from ingest.types import Chunk, Element, Hit, ParsedDocument
from rag.errors import RerankError, UnknownKnowledgeBase
from rag.retrieval.hybrid import HybridRetrieved, HybridRetriever
from rag.retrieval.rerank import Scored

from .fakes import HashEmbedder

pytestmark = pytest.mark.unit

DOCS = {
    "leave": "Annual leave policy: employees receive 25 days of paid vacation every year.",
    "nw200": "The NW-200 datasheet lists a maximum throughput of 40 Gbps per port.",
    "travel": "Travel expenses are reimbursed within 30 days after the trip report.",
    "zh": "员工每年享有二十五天带薪年假，年假须提前申请。",
    "copy": "Travel expenses are reimbursed within 30 days after the trip report.",
}


def doc(doc_id: str, text: str) -> ParsedDocument:
    return ParsedDocument(doc_id, f"/docs/{doc_id}.txt", doc_id, [Element(text, "NarrativeText")], doc_id, "txt")


class RecordingChroma(ChromaStore):
    """Embedded Chroma that remembers how many candidates each search asked for, with or without
    payload, and which ids were read back."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.searches: list[int] = []
        self.payloads: list[bool] = []
        self.reads: list[list[str]] = []

    def search(self, kb: str, vector: Sequence[float], top_k: int, **kwargs: Any) -> list[Hit]:
        self.searches.append(top_k)
        self.payloads.append(kwargs.get("payload", True))
        return super().search(kb, vector, top_k, **kwargs)

    def get(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        self.reads.append(list(chunk_ids))
        return super().get(kb, chunk_ids)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[HashEmbedder, RecordingChroma, LexicalIndex]:
    embedder, store = HashEmbedder(), RecordingChroma(tmp_path / "chroma")
    lexical = LexicalIndex(tmp_path / "lexical")
    Indexer(embedder, store, sinks=[lexical]).ingest_documents([doc(k, v) for k, v in DOCS.items()], "kb")
    return embedder, store, lexical


def test_hybrid_hits_carry_both_sides_and_best_score_is_the_dense_cosine(setup) -> None:
    embedder, store, lexical = setup
    retriever = HybridRetriever(embedder, store, lexical, mode="hybrid", rrf_k=60)
    result = retriever.retrieve("NW-200 throughput Gbps", "kb", top_k=3)
    assert isinstance(result, HybridRetrieved)
    top = result.hits[0]
    assert top.doc_id == "nw200"
    assert {"dense_rank", "dense_score", "lexical_rank", "lexical_score", "fused_score"} <= set(top.metadata)
    assert top.score == top.metadata["fused_score"] == pytest.approx(2 / 61)
    dense_best = store.search("kb", embedder.embed_query("NW-200 throughput Gbps"), 1)[0].score
    assert result.best_score == pytest.approx(dense_best)
    assert top.metadata["dense_score"] == pytest.approx(dense_best)


def test_dense_mode_scores_are_cosines_and_lexical_mode_has_no_best_score(setup) -> None:
    embedder, store, lexical = setup
    dense = HybridRetriever(embedder, store, lexical, mode="dense").retrieve("paid vacation days", "kb", 2)
    assert dense.hits[0].doc_id == "leave"
    assert -1.0 <= dense.hits[0].score <= 1.0 and dense.best_score == dense.hits[0].score
    lexical_only = HybridRetriever(embedder, store, lexical, mode="lexical").retrieve("年假 申请", "kb", 2)
    assert [h.doc_id for h in lexical_only.hits] == ["zh"]
    assert lexical_only.best_score is None
    assert lexical_only.hits[0].score > 0  # a BM25 score


def test_lexical_side_finds_what_the_dense_side_misses(setup) -> None:
    embedder, store, lexical = setup
    # The hashed bag of words knows nothing of Chinese words inside a sentence; BM25 with jieba does.
    hybrid = HybridRetriever(embedder, store, lexical, mode="hybrid").retrieve("年假", "kb", 1)
    assert hybrid.hits[0].doc_id == "zh"


def test_candidate_counts_are_passed_to_each_side(setup) -> None:
    embedder, store, lexical = setup
    HybridRetriever(embedder, store, lexical, dense_candidates=7, lexical_candidates=3).retrieve("travel", "kb", 2)
    assert store.searches[-1] == 7


def test_a_kb_without_lexical_entries_is_searched_densely(setup, tmp_path: Path, caplog) -> None:
    embedder, store, _ = setup
    empty = LexicalIndex(tmp_path / "other")
    retriever = HybridRetriever(embedder, store, empty, mode="hybrid")
    with caplog.at_level(logging.WARNING):
        result = retriever.retrieve("paid vacation", "kb", 2)
    dense = HybridRetriever(embedder, store, empty, mode="dense").retrieve("paid vacation", "kb", 2)
    assert [h.chunk_id for h in result.hits] == [h.chunk_id for h in dense.hits]
    assert result.hits[0].metadata["dense_rank"] == 1 and "lexical_rank" not in result.hits[0].metadata
    assert result.best_score == dense.best_score
    assert "no lexical index" in caplog.text


def test_unknown_kb_and_model_mismatch_are_raised_before_searching(setup) -> None:
    embedder, store, lexical = setup
    retriever = HybridRetriever(embedder, store, lexical)
    with pytest.raises(UnknownKnowledgeBase):
        retriever.retrieve("anything", "missing", 3)
    store.ensure_kb("other-model", "another/model", 64)
    with pytest.raises(EmbeddingModelMismatch):
        retriever.retrieve("anything", "other-model", 3)


def test_near_duplicate_passages_are_dropped(setup) -> None:
    embedder, store, lexical = setup
    result = HybridRetriever(embedder, store, lexical).retrieve("travel expenses reimbursed", "kb", 3)
    doc_ids = [h.doc_id for h in result.hits]
    assert len({"travel", "copy"} & set(doc_ids)) == 1


class Reverse:
    model_id = "fake/reverse"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[Scored]:
        self.calls.append(len(documents))
        return [Scored(i, float(i)) for i in reversed(range(len(documents)))][:top_n]


class Broken:
    model_id = "fake/broken"

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[Scored]:
        raise RerankError("endpoint down")


def test_reranker_reorders_the_head_of_the_fused_list(setup) -> None:
    embedder, store, lexical = setup
    plain, _ = HybridRetriever(embedder, store, lexical).candidates("travel days", "kb")
    reverse = Reverse()
    reranked, _ = HybridRetriever(embedder, store, lexical, reranker=reverse, rerank_candidates=3).candidates(
        "travel days", "kb"
    )
    assert reverse.calls == [3]
    assert [h.chunk_id for h in reranked[:3]] == [h.chunk_id for h in plain[:3]][::-1]
    assert [h.chunk_id for h in reranked[3:]] == [h.chunk_id for h in plain[3:]]
    assert reranked[0].metadata["rerank_score"] == reranked[0].score == 2.0
    assert reranked[0].metadata["fused_score"] == plain[2].score


def test_a_failing_reranker_leaves_the_fused_order(setup, caplog) -> None:
    embedder, store, lexical = setup
    plain, _ = HybridRetriever(embedder, store, lexical).candidates("travel days", "kb")
    with caplog.at_level(logging.WARNING):
        got, _ = HybridRetriever(embedder, store, lexical, reranker=Broken()).candidates("travel days", "kb")
    assert [h.chunk_id for h in got] == [h.chunk_id for h in plain]
    assert "reranking skipped" in caplog.text


def test_lexical_modes_need_a_lexical_index(setup) -> None:
    embedder, store, _ = setup
    with pytest.raises(ValueError, match="needs a lexical index"):
        HybridRetriever(embedder, store, None, mode="hybrid")
    assert HybridRetriever(embedder, store, None, mode="dense").retrieve("travel", "kb", 1).hits


def test_only_the_candidates_used_are_read_in_full_and_the_result_is_unchanged(setup, tmp_path: Path) -> None:
    """The store is searched for ids and scores; text and metadata come from the lexical index
    (the same rows) for the de-duplication window; the answer is what a full read gives."""
    embedder, store, lexical = setup
    retriever = HybridRetriever(embedder, store, lexical, candidate_factor=1)
    result = retriever.retrieve("travel expenses reimbursed", "kb", 2)
    assert store.payloads[-1] is False and store.reads == []  # every chunk is in the lexical index
    every = {hit.chunk_id: hit for hit in store.get("kb", [h.chunk_id for h in result.hits])}
    for hit in result.hits:
        assert hit.has_payload and hit.text == every[hit.chunk_id].text
        assert every[hit.chunk_id].metadata.items() <= hit.metadata.items()

    hits, _ = retriever.candidates("travel expenses reimbursed", "kb", complete=2)
    assert all(hit.has_payload for hit in hits[:2])
    assert [hit.chunk_id for hit in hits[2:] if not hit.has_payload]  # dense-only candidates left unread
    full, _ = retriever.candidates("travel expenses reimbursed", "kb")
    assert [h.chunk_id for h in full] == [h.chunk_id for h in hits] and all(h.has_payload for h in full)


def test_a_candidate_missing_from_the_lexical_index_is_read_from_the_store(setup) -> None:
    """A chunk a running job has written to the store but not yet to the lexical index."""
    embedder, store, lexical = setup
    text = "Osmium ingots are kept in vault nine of the Valparaiso depot."
    chunk = Chunk(
        chunk_id="osmium-1",
        kb="kb",
        doc_id="osmium",
        source="/docs/osmium.txt",
        title="Osmium",
        text=text,
        chunk_index=0,
        content_hash="0" * 64,
        section=None,
        extra={},
    )
    store.upsert("kb", [chunk], [embedder.embed_query(text)])
    assert lexical.get("kb", ["osmium-1"]) == []
    result = HybridRetriever(embedder, store, lexical, mode="dense").retrieve(text, "kb", 1)
    [top] = result.hits
    assert (top.chunk_id, top.text, top.source, top.title) == ("osmium-1", text, "/docs/osmium.txt", "Osmium")
    assert ["osmium-1"] in store.reads  # only what the lexical index lacked


def test_an_unreadable_lexical_index_leaves_the_candidates_to_the_store(setup, caplog) -> None:
    embedder, store, lexical = setup

    def broken(kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        raise sqlite3.OperationalError("database disk image is malformed")

    lexical.get = broken  # the file went bad after the search read its matrix
    with caplog.at_level(logging.WARNING):
        result = HybridRetriever(embedder, store, lexical).retrieve("travel expenses reimbursed", "kb", 2)
    assert result.hits and all(hit.text for hit in result.hits)
    assert store.reads and "reading them from the store" in caplog.text
