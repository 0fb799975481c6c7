"""``rag eval retrieval`` on SciFact: hybrid retrieval must beat dense and BM25, from scratch.

The full corpus (5,183 abstracts, ~12,000 chunks) takes 8-25 minutes to embed with the bundled
MiniLM on two CPU cores, too long for CI. This test indexes a fixed subset instead: every
document judged for the 300 test queries plus 500 others drawn with seed 13 (783 documents).
Fewer distractors make every mode score higher than on the full corpus, so the thresholds
below were measured on this subset (full-corpus figures are in the report of ``rag eval``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.eval.cli import eval_app

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[3]


def _scifact() -> Path:
    """``$ASKDOCS_EVAL_DIR/scifact``, else the shared evaluation data beside the checkout."""
    roots = [os.environ.get("ASKDOCS_EVAL_DIR", ""), REPO.parent / "shared" / "eval", "/work/shared/eval"]
    for root in filter(None, roots):
        if (Path(root) / "scifact" / "corpus.jsonl").exists():
            return Path(root) / "scifact"
    return REPO.parent / "shared" / "eval" / "scifact"


SCIFACT = _scifact()
CORPUS_SAMPLE = 500
SEED = 13
# Measured on this subset (see the module docstring); a margin of 0.01 absorbs HNSW and BLAS noise.
HYBRID_NDCG10_MIN = 0.81  # measured 0.828 (dense 0.809, BM25 0.802)
HYBRID_RECALL100_MIN = 0.98  # measured 0.993


@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").exists(), reason=f"SciFact not found at {SCIFACT}")
def test_hybrid_beats_dense_and_lexical_on_scifact(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(
        eval_app,
        [
            "retrieval",
            "--dataset",
            str(SCIFACT),
            "--corpus-sample",
            str(CORPUS_SAMPLE),
            "--seed",
            str(SEED),
            "--json",
            str(report_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["queries"] == 300
    assert report["documents"] == 783  # 283 judged + 500 others
    assert report["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert not report["index_reused"]
    ndcg = {r["mode"]: r["metrics"]["ndcg@10"] for r in report["results"]}
    recall = {r["mode"]: r["metrics"]["recall@100"] for r in report["results"]}
    assert ndcg["hybrid"] >= HYBRID_NDCG10_MIN, ndcg
    assert recall["hybrid"] >= HYBRID_RECALL100_MIN, recall
    assert ndcg["hybrid"] > max(ndcg["dense"], ndcg["lexical"]), ndcg
