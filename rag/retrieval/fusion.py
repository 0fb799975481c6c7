"""Fusing ranked lists from several retrievers (dense, lexical) into one.

Reciprocal Rank Fusion is the default because it needs no score calibration: a cosine of 0.6
and a BM25 score of 14 are not comparable, ranks are. Weighted fusion (min-max normalised
scores, then a weighted sum) is there for corpora where one side is known to be much stronger.

Every fused ``Hit`` keeps each side's rank and score in its metadata (``dense_rank``,
``dense_score``, ``lexical_rank``, ``lexical_score``) and the combined ``fused_score``, so an
answer can explain why a passage was picked. ``Hit.score`` of a fused hit is ``fused_score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ingest.types import Hit

FusionMethod = Literal["rrf", "weighted"]


@dataclass(frozen=True, slots=True)
class Ranking:
    """One retriever's hits, best first; ``name`` prefixes its metadata keys."""

    name: str
    hits: Sequence[Hit]
    weight: float = 1.0


def _fused(entries: dict[str, dict[str, Any]], best: dict[str, Hit], scores: dict[str, float]) -> list[Hit]:
    order = sorted(scores, key=lambda cid: (-scores[cid], _best_rank(entries[cid])))
    out = []
    for cid in order:
        hit = best[cid]
        meta = {**hit.metadata, **entries[cid], "fused_score": scores[cid]}
        out.append(Hit(chunk_id=cid, text=hit.text, score=scores[cid], metadata=meta, has_payload=hit.has_payload))
    return out


def _best_rank(entry: dict[str, Any]) -> int:
    """Tie-break on the best rank any side gave (then the caller's order is kept by sort stability)."""
    return min((v for k, v in entry.items() if k.endswith("_rank")), default=1 << 30)


def _collect(rankings: Sequence[Ranking]) -> tuple[dict[str, dict[str, Any]], dict[str, Hit]]:
    """Per chunk: each side's rank (1-based) and raw score; the first hit seen with its payload
    (text and metadata) supplies them, else the first hit seen."""
    entries: dict[str, dict[str, Any]] = {}
    best: dict[str, Hit] = {}
    for ranking in rankings:
        seen: set[str] = set()
        for rank, hit in enumerate(ranking.hits, start=1):
            if hit.chunk_id in seen:  # a side listing a chunk twice counts its best rank only
                continue
            seen.add(hit.chunk_id)
            kept = best.get(hit.chunk_id)
            if kept is None or (hit.has_payload and not kept.has_payload):
                best[hit.chunk_id] = hit
            entry = entries.setdefault(hit.chunk_id, {})
            entry[f"{ranking.name}_rank"] = rank
            entry[f"{ranking.name}_score"] = float(hit.score)
    return entries, best


def reciprocal_rank_fusion(rankings: Sequence[Ranking], *, k: int = 60) -> list[Hit]:
    """``score(d) = sum_i weight_i / (k + rank_i(d))`` over the rankings that contain ``d``.

    ``k`` damps the head of each list: small ``k`` lets one side's first hit dominate, large
    ``k`` (60 in the original paper) rewards agreement between sides.
    """
    if k < 0:
        raise ValueError(f"rrf k must be >= 0, got {k}")
    entries, best = _collect(rankings)
    scores: dict[str, float] = dict.fromkeys(entries, 0.0)
    for ranking in rankings:
        for cid, entry in entries.items():
            rank = entry.get(f"{ranking.name}_rank")
            if rank is not None:
                scores[cid] += ranking.weight / (k + rank)
    return _fused(entries, best, scores)


def weighted_fusion(rankings: Sequence[Ranking]) -> list[Hit]:
    """``score(d) = sum_i weight_i * minmax_i(score_i(d))``; a side that missed ``d`` adds 0.

    Min-max is taken over each side's own candidates, so the top hit of every side scores
    ``weight`` and its last candidate 0; a side whose candidates all tie scores them 1.
    """
    entries, best = _collect(rankings)
    scores: dict[str, float] = dict.fromkeys(entries, 0.0)
    for ranking in rankings:
        key = f"{ranking.name}_score"
        values = [e[key] for e in entries.values() if key in e]
        if not values:
            continue
        low, high = min(values), max(values)
        span = high - low
        for cid, entry in entries.items():
            if key in entry:
                scores[cid] += ranking.weight * ((entry[key] - low) / span if span > 0 else 1.0)
    return _fused(entries, best, scores)


def fuse(rankings: Sequence[Ranking], method: FusionMethod = "rrf", *, rrf_k: int = 60) -> list[Hit]:
    if method == "rrf":
        return reciprocal_rank_fusion(rankings, k=rrf_k)
    if method == "weighted":
        return weighted_fusion(rankings)
    raise ValueError(f"unknown fusion method {method!r}; choose 'rrf' or 'weighted'")
