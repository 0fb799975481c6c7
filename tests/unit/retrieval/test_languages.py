"""Script detection and the lower dense weight for Chinese questions to an English-only model."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.embedders.languages import han_share, is_chinese_text, reads_chinese
from ingest.lexical import LexicalIndex
from ingest.stores.chroma import ChromaStore
from rag.retrieval.hybrid import HybridRetriever

from .fakes import HashEmbedder

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("sentence-transformers/all-MiniLM-L6-v2", False),
        ("/opt/models/all-minilm-l6-v2", False),
        ("bundled:all-minilm-l6-v2", False),
        ("BAAI/bge-small-en-v1.5", False),
        ("BAAI/bge-m3", True),
        ("intfloat/multilingual-e5-small", True),
        ("Qwen/Qwen3-Embedding-0.6B", True),
        ("BAAI/bge-large-zh-v1.5", True),
    ],
)
def test_english_only_models_are_recognised(model_id: str, expected: bool) -> None:
    assert reads_chinese(model_id) is expected


def test_han_share_counts_letters_not_digits_or_punctuation() -> None:
    assert han_share("NW-50的保修期？") == pytest.approx(4 / 6)  # N, W, 的, 保, 修, 期
    assert han_share("2024！") == 0.0
    assert is_chinese_text("北风机器人是哪一年成立的？")
    assert not is_chinese_text("What does the Qihang (启航) camp cover in week one?")


class EnglishOnly(HashEmbedder):
    model_id = "sentence-transformers/all-MiniLM-L6-v2"


def test_chinese_questions_to_an_english_model_lean_on_the_lexical_side(tmp_path: Path) -> None:
    lexical = LexicalIndex(tmp_path / "lexical")
    store = ChromaStore(tmp_path / "chroma")  # opened lazily: never touched here
    english = HybridRetriever(EnglishOnly(), store, lexical, dense_weight=1.0, foreign_dense_weight=0.25)
    assert english.dense_weight_for("公司规定登录密码至少要多少位？") == 0.25
    assert english.dense_weight_for("How long is the warranty?") == 1.0
    multilingual = HybridRetriever(HashEmbedder(), store, lexical, foreign_dense_weight=0.25)
    assert multilingual.dense_weight_for("公司规定登录密码至少要多少位？") == 1.0  # not a known English model
    off = HybridRetriever(EnglishOnly(), store, lexical, foreign_dense_weight=None)
    assert off.dense_weight_for("公司规定登录密码至少要多少位？") == 1.0
