"""``migrate_kb`` and ``rag kb migrate`` between real stores: embedded Chroma and Milvus Lite."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ingest.errors import KnowledgeBaseExists, KnowledgeBaseNotFound, VectorIndexError
from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.chroma import ChromaStore
from ingest.stores.factory import build_store
from ingest.stores.migrate import migrate_kb, migration_staging_name
from ingest.types import Chunk
from rag.cli.commands import app
from rag.settings import get_settings

pytestmark = pytest.mark.integration

MODEL, DIM = "test-model", 16
HNSW = HnswParams(m=16, ef_construction=200, ef_search=100)


def chunk(kb: str, i: int, text: str | None = None) -> Chunk:
    body = text if text is not None else f"passage {i} 关于主题 {i % 5}"
    return Chunk(
        chunk_id=f"c-{i:04d}",
        kb=kb,
        doc_id=f"doc-{i % 3}",
        source=f"/docs/doc-{i % 3}.pdf",
        title="手册" if i % 2 else "Handbook",
        text=body,
        chunk_index=i,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
        pages=(i % 4 + 1,) if i % 3 else (),
        section=f"S{i}" if i % 2 else None,
        extra={"lang": "zh" if i % 2 else "en", "year": 2000 + i, "public": i % 2 == 0},
    )


def vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    unit: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return unit


def fill(store: VectorStore, kb: str, n: int, seed: int = 0, model: str = MODEL) -> tuple[list[Chunk], np.ndarray]:
    store.ensure_kb(kb, model, DIM)
    chunks, vecs = [chunk(kb, i) for i in range(n)], vectors(n, seed)
    store.upsert(kb, chunks, vecs.tolist())
    return chunks, vecs


@pytest.fixture
def chroma(tmp_path: Path) -> VectorStore:
    return build_store("chroma", path_or_uri=tmp_path / "chroma", hnsw=HNSW)


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[VectorStore]:
    store = build_store("milvus", path_or_uri=tmp_path / "milvus.db", hnsw=HNSW)
    yield store
    store.close()  # type: ignore[attr-defined]


def snapshot(store: VectorStore, kb: str) -> dict[str, tuple[str, dict[str, object], list[float]]]:
    return {hit.chunk_id: (hit.text, hit.metadata, vec) for hit, vec in store.export(kb)}


@pytest.mark.parametrize("direction", ["chroma->milvus", "milvus->chroma"])
def test_copy_keeps_vectors_text_metadata_and_model(chroma: VectorStore, lite: VectorStore, direction: str) -> None:
    source, target = (chroma, lite) if direction == "chroma->milvus" else (lite, chroma)
    chunks, vecs = fill(source, "handbook", 1_100, seed=1)  # more than one export/write batch
    seen: list[tuple[int, int]] = []

    report = migrate_kb(source, target, "handbook", batch_size=300, progress=lambda d, t: seen.append((d, t)))

    assert (report.copied, report.embedding_model, report.dimension, report.replaced) == (1_100, MODEL, DIM, False)
    assert seen[0] == (0, 1_100) and seen[-1] == (1_100, 1_100) and len(seen) == 5
    info = target.kb_info("handbook")
    assert (info.embedding_model, info.dimension, info.count) == (MODEL, DIM, 1_100)
    copied, original = snapshot(target, "handbook"), snapshot(source, "handbook")
    assert copied.keys() == original.keys() == {c.chunk_id for c in chunks}
    for cid, (text, meta, vec) in copied.items():
        assert (text, meta) == original[cid][:2]
        np.testing.assert_allclose(vec, original[cid][2], atol=1e-6)  # not re-embedded
    for q in vecs[:20]:  # same neighbours from both backends, nearest first
        expected = [h.chunk_id for h in source.search("handbook", q.tolist(), 5)]
        assert [h.chunk_id for h in target.search("handbook", q.tolist(), 5)] == expected
    assert source.count("handbook") == 1_100  # the source is untouched
    assert migration_staging_name("handbook") not in {i.name for i in target.list_kbs()}


def test_existing_target_is_refused_unless_replace(chroma: VectorStore, lite: VectorStore) -> None:
    fill(chroma, "kb1", 30, seed=2, model="new-model")
    old_chunks, _ = fill(lite, "kb1", 7, seed=3, model="old-model")
    with pytest.raises(KnowledgeBaseExists, match="--replace"):
        migrate_kb(chroma, lite, "kb1")
    assert (lite.kb_info("kb1").embedding_model, lite.count("kb1")) == ("old-model", 7)

    report = migrate_kb(chroma, lite, "kb1", replace=True)

    assert report.replaced and report.copied == 30
    info = lite.kb_info("kb1")
    assert (info.embedding_model, info.count) == ("new-model", 30)
    assert [i.name for i in lite.list_kbs()] == ["kb1"]


def test_failed_copy_leaves_the_target_as_it_was(chroma: VectorStore, lite: VectorStore) -> None:
    """Chroma holds a text longer than a Milvus VARCHAR: the copy fails, nothing half-done stays."""
    fill(chroma, "kb2", 900, seed=4)
    chroma.upsert("kb2", [chunk("kb2", 950, text="汉" * 22_000)], vectors(1, 9).tolist())
    fill(lite, "kb2", 5, seed=5, model="old-model")
    with pytest.raises(VectorIndexError, match="UTF-8 bytes"):
        migrate_kb(chroma, lite, "kb2", replace=True, batch_size=200)
    assert (lite.kb_info("kb2").embedding_model, lite.count("kb2")) == ("old-model", 5)
    assert [i.name for i in lite.list_kbs()] == ["kb2"]  # staging copy dropped


def test_missing_source_kb_raises_not_found(chroma: VectorStore, lite: VectorStore) -> None:
    with pytest.raises(KnowledgeBaseNotFound):
        migrate_kb(chroma, lite, "nope")
    assert lite.list_kbs() == []


# -- the command ------------------------------------------------------------------------------
@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_STORE__BACKEND", "chroma")
    monkeypatch.delenv("RAG_STORE__URI", raising=False)
    monkeypatch.chdir(tmp_path)  # no askdocs.toml or .env from the checkout
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_cli_migrates_with_progress_and_exit_codes(data_dir: Path) -> None:
    fill(ChromaStore(data_dir / "chroma", hnsw=HNSW), "sample", 40, seed=6)
    runner = CliRunner()
    args = ["kb", "migrate", "--kb", "sample", "--from", "chroma", "--to", "milvus", "--batch-size", "16"]

    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "copied 16/40 chunks" in first.output and "copied 40/40 chunks" in first.output
    assert "copied 40 chunks of 'sample'" in first.output and "(test-model, 16-d)" in first.output
    target = build_store("milvus", path_or_uri=data_dir / "milvus.db")  # the default location
    assert target.count("sample") == 40
    target.close()  # type: ignore[attr-defined]

    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "already exists" in again.output and "--replace" in again.output
    replaced = runner.invoke(app, [*args, "--replace"])
    assert replaced.exit_code == 0 and "previous copy was replaced" in replaced.output

    missing = runner.invoke(app, ["kb", "migrate", "--kb", "nope", "--from", "chroma", "--to", "milvus"])
    assert missing.exit_code == 1 and "does not exist" in missing.output
    same = runner.invoke(app, ["kb", "migrate", "--kb", "sample", "--from", "chroma", "--to", "chroma"])
    assert same.exit_code == 1 and "the same" in same.output
    bad = runner.invoke(app, [*args[:-2], "--to-uri", str(data_dir / "not-a-db-file")])
    assert bad.exit_code == 1 and ".db" in bad.output
