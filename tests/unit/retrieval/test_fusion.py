"""Reciprocal Rank Fusion and weighted fusion: scores, order, and the explanation kept per hit."""

from __future__ import annotations

import pytest

from ingest.types import Hit
from rag.retrieval.fusion import Ranking, fuse, reciprocal_rank_fusion, weighted_fusion

pytestmark = pytest.mark.unit


def hits(*ids: str, scores: list[float] | None = None) -> list[Hit]:
    values = scores or [1.0 - i * 0.1 for i in range(len(ids))]
    pairs = zip(ids, values, strict=True)
    return [Hit(chunk_id=c, text=f"text {c}", score=s, metadata={"doc_id": f"doc-{c}"}) for c, s in pairs]


def test_rrf_scores_follow_the_formula() -> None:
    fused = reciprocal_rank_fusion(
        [Ranking("dense", hits("a", "b", "c")), Ranking("lexical", hits("b", "d", "a"))], k=60
    )
    scores = {h.chunk_id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 63)
    assert scores["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["c"] == pytest.approx(1 / 63)
    assert scores["d"] == pytest.approx(1 / 62)
    assert [h.chunk_id for h in fused] == ["b", "a", "d", "c"]


def test_fused_hits_explain_both_sides() -> None:
    fused = reciprocal_rank_fusion(
        [Ranking("dense", hits("a", "b", scores=[0.8, 0.7])), Ranking("lexical", hits("b", scores=[12.5]))]
    )
    by_id = {h.chunk_id: h for h in fused}
    b = by_id["b"].metadata
    assert (b["dense_rank"], b["dense_score"], b["lexical_rank"], b["lexical_score"]) == (2, 0.7, 1, 12.5)
    assert b["fused_score"] == by_id["b"].score
    assert b["doc_id"] == "doc-b"  # the original metadata is kept
    a = by_id["a"].metadata
    assert "lexical_rank" not in a and "lexical_score" not in a
    assert by_id["a"].text == "text a"


def test_a_zero_weight_side_does_not_change_the_order() -> None:
    fused = reciprocal_rank_fusion(
        [Ranking("dense", hits("a", "b", "c")), Ranking("lexical", hits("c", "b", "a"), weight=0.0)]
    )
    assert [h.chunk_id for h in fused] == ["a", "b", "c"]


def test_small_k_lets_one_sides_top_hit_win_large_k_rewards_agreement() -> None:
    # x is first on one side only; y is second on both sides.
    rankings = [Ranking("dense", hits("x", "y", "p")), Ranking("lexical", hits("q", "y", "r"))]
    assert reciprocal_rank_fusion(rankings, k=0)[0].chunk_id in {"x", "q"}
    assert reciprocal_rank_fusion(rankings, k=60)[0].chunk_id == "y"


def test_a_chunk_listed_twice_by_one_side_counts_once_at_its_best_rank() -> None:
    fused = reciprocal_rank_fusion([Ranking("dense", hits("a", "b", "a"))], k=10)
    assert {h.chunk_id: h.score for h in fused} == {"a": pytest.approx(1 / 11), "b": pytest.approx(1 / 12)}


def test_ties_are_broken_by_the_best_rank_on_any_side() -> None:
    fused = reciprocal_rank_fusion([Ranking("dense", hits("a", "b")), Ranking("lexical", hits("b", "a"))])
    assert fused[0].score == pytest.approx(fused[1].score)
    assert {fused[0].chunk_id, fused[1].chunk_id} == {"a", "b"}


def test_weighted_fusion_normalises_each_side_to_its_own_range() -> None:
    fused = weighted_fusion(
        [
            Ranking("dense", hits("a", "b", "c", scores=[0.9, 0.6, 0.3]), weight=1.0),
            Ranking("lexical", hits("c", "d", scores=[30.0, 10.0]), weight=0.5),
        ]
    )
    scores = {h.chunk_id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1.0)
    assert scores["b"] == pytest.approx(0.5)
    assert scores["c"] == pytest.approx(0.0 + 0.5 * 1.0)
    assert scores["d"] == pytest.approx(0.0)
    assert fused[0].chunk_id == "a"


def test_weighted_fusion_with_all_equal_scores_gives_each_the_full_weight() -> None:
    fused = weighted_fusion([Ranking("lexical", hits("a", "b", scores=[2.0, 2.0]), weight=0.7)])
    assert [h.score for h in fused] == [pytest.approx(0.7), pytest.approx(0.7)]


def test_empty_rankings_fuse_to_nothing() -> None:
    assert reciprocal_rank_fusion([Ranking("dense", []), Ranking("lexical", [])]) == []
    assert weighted_fusion([]) == []


def test_fuse_dispatches_and_rejects_unknown_methods() -> None:
    rankings = [Ranking("dense", hits("a", "b", "c")), Ranking("lexical", hits("b"))]
    assert fuse(rankings, "rrf", rrf_k=1)[0].score == pytest.approx(1 / 3 + 1 / 2)
    weighted = fuse(rankings, "weighted")
    assert weighted[0].chunk_id == "b" and weighted[0].score == pytest.approx(0.5 + 1.0)
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse(rankings, "borda")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion(rankings, k=-1)
