"""Backend-specific promises that the shared contract cannot express: filter translation,
capability detection, lazy connections, where the model is recorded, and the factory."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from devtools.milvus_server import free_port
from ingest.errors import VectorIndexError
from ingest.stores.base import HnswParams, MetadataFilter
from ingest.stores.chroma import ChromaStore
from ingest.stores.factory import build_store
from ingest.stores.milvus import MilvusStore
from ingest.stores.milvus_filters import milvus_expr, quote
from ingest.stores.naming import collection_name

from .helpers import make_chunk, unit_vectors

if TYPE_CHECKING:
    from .conftest import StorePool


# -- filter translation -----------------------------------------------------------------------
@pytest.mark.unit
@pytest.mark.parametrize(
    ("equals", "expected"),
    [
        ({}, ""),
        ({"doc_id": "d1"}, 'doc_id == "d1"'),
        ({"doc_id": ["a", "b"]}, 'doc_id in ["a", "b"]'),
        ({"chunk_index": 3, "lang": "zh"}, '(chunk_index == 3) and (extra["lang"] == "zh")'),
        ({"flag": True}, 'extra["flag"] == true'),
        ({"score": 0.5}, 'extra["score"] == 0.5'),
        ({'we"ird': 'x"y\\z\n'}, 'extra["we\\"ird"] == "x\\"y\\\\z\\n"'),
        ({"title": "员工手册"}, 'title == "员工手册"'),
    ],
)
def test_milvus_expr(equals: dict[str, Any], expected: str) -> None:
    assert milvus_expr(MetadataFilter(equals)) == expected


@pytest.mark.unit
@pytest.mark.parametrize("value", [{"nested": 1}, float("nan"), None])
def test_milvus_expr_rejects_values_it_cannot_compare(value: object) -> None:
    with pytest.raises(ValueError):
        milvus_expr(MetadataFilter({"doc_id": value}))


@pytest.mark.unit
def test_quote_cannot_be_escaped_from() -> None:
    hostile = '" or id != "'
    assert quote(hostile) == '"\\" or id != \\""'


# -- Milvus ----------------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.parametrize(("backend", "expected"), [("milvus-lite", True), ("milvus-server", False)])
def test_full_text_search_is_detected(store_pool: StorePool, backend: str, expected: bool) -> None:
    """Milvus Lite runs BM25 functions; a 2.3 server predates them (2.5)."""
    store = store_pool.get(backend)
    assert isinstance(store, MilvusStore)
    assert store.supports_full_text_search() is expected
    assert not any(name.startswith("askdocs_probe") for name in store._connect().list_collections())


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["milvus-lite", "milvus-server"])
def test_model_is_recorded_in_collection_properties(store_pool: StorePool, new_kb: Any, backend: str) -> None:
    store = store_pool.get(backend)
    assert isinstance(store, MilvusStore)
    kb = new_kb(store)
    store.ensure_kb(kb, "bge-m3", 8)
    props = store._connect().describe_collection(collection_name(kb))["properties"]
    assert props["askdocs.embedding_model"] == "bge-m3"
    assert props["askdocs.dimension"] == "8"


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["milvus-lite", "milvus-server"])
def test_text_over_the_varchar_limit_is_refused_before_writing(
    store_pool: StorePool, new_kb: Any, backend: str
) -> None:
    store = store_pool.get(backend)
    kb = new_kb(store)
    store.ensure_kb(kb, "m", 4)
    too_long = make_chunk(kb, 0, text="汉" * 22_000)  # 66,000 UTF-8 bytes
    with pytest.raises(VectorIndexError, match="UTF-8 bytes"):
        store.upsert(kb, [too_long], unit_vectors(1, 4).tolist())
    assert store.count(kb) == 0


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["milvus-lite", "milvus-server"])
def test_released_collection_is_loaded_again(store_pool: StorePool, new_kb: Any, backend: str) -> None:
    """Milvus Lite reopens files with collections released; a server operator may release one."""
    store = store_pool.get(backend)
    assert isinstance(store, MilvusStore)
    kb = new_kb(store)
    store.ensure_kb(kb, "m", 4)
    vectors = unit_vectors(3, 4)
    store.upsert(kb, [make_chunk(kb, i) for i in range(3)], vectors.tolist())
    fresh = MilvusStore(store._uri)  # a second process would start like this
    store._connect().release_collection(collection_name(kb))
    assert fresh.search(kb, vectors[1].tolist(), 1)[0].chunk_id == make_chunk(kb, 1).chunk_id
    store._connect().release_collection(collection_name(kb))
    assert store.count(kb) == 3  # this store had loaded it before: the retry path


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["milvus-lite", "milvus-server"])
def test_writes_are_read_back_at_once_by_any_store_in_the_process(
    store_pool: StorePool, new_kb: Any, backend: str
) -> None:
    """Session consistency is per process, not per store object; deletes are settled."""
    writer = store_pool.get(backend)
    assert isinstance(writer, MilvusStore)
    kb = new_kb(writer)
    writer.ensure_kb(kb, "m", 4)
    reader = MilvusStore(writer._uri)
    for round_ in range(3):
        writer.upsert(kb, [make_chunk(kb, round_)], unit_vectors(1, 4, seed=round_).tolist())
        assert reader.count(kb) == round_ + 1
    assert reader.delete(kb, chunk_ids=[make_chunk(kb, 0).chunk_id]) == 1
    assert writer.count(kb) == 2
    assert writer.get(kb, [make_chunk(kb, 0).chunk_id]) == []


@pytest.mark.integration
def test_milvus_connects_lazily_and_reports_unreachable_servers() -> None:
    store = MilvusStore(f"http://127.0.0.1:{free_port()}", timeout=2)  # nothing listens there
    with pytest.raises(VectorIndexError, match="cannot open milvus server"):
        store.ping()


@pytest.mark.unit
def test_milvus_lite_path_must_end_in_db(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=".db"):
        MilvusStore(tmp_path / "milvus")


# -- Chroma ----------------------------------------------------------------------------------
@pytest.mark.integration
def test_chroma_per_query_ef_never_rewrites_the_configuration(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Chroma's loaded index ignores configuration changes, so a per-query ef must not persist."""
    store = ChromaStore(tmp_path, hnsw=HnswParams(ef_search=100))
    store.ensure_kb("efkb", "m", 4)
    store.upsert("efkb", [make_chunk("efkb", 0)], unit_vectors(1, 4).tolist())
    with caplog.at_level("WARNING", logger="ingest.stores.chroma"):
        assert len(store.search("efkb", [1.0, 0, 0, 0], 1, ef_search=10)) == 1
        store.search("efkb", [1.0, 0, 0, 0], 1, ef_search=20)
    assert store._collection("efkb").configuration["hnsw"]["ef_search"] == 100
    assert len([r for r in caplog.records if "ef_search" in r.getMessage()]) == 1


# -- factory ---------------------------------------------------------------------------------
@pytest.mark.unit
def test_factory_builds_each_backend_without_connecting(tmp_path: Path) -> None:
    hnsw = HnswParams(m=8)
    embedded = build_store("chroma", path_or_uri=str(tmp_path / "c"), hnsw=hnsw)
    assert isinstance(embedded, ChromaStore) and embedded.describe() == f"chroma embedded at {tmp_path / 'c'}"
    server = build_store("chroma", path_or_uri="https://chroma.internal:8443", hnsw=hnsw)
    assert server.describe() == "chroma server at https://chroma.internal:8443"  # type: ignore[attr-defined]
    plain = build_store("chroma", path_or_uri="http://10.0.0.5", hnsw=hnsw)
    assert plain.describe() == "chroma server at http://10.0.0.5:8000"  # type: ignore[attr-defined]
    lite = build_store("milvus", path_or_uri=str(tmp_path / "m.db"), hnsw=hnsw)
    assert isinstance(lite, MilvusStore) and lite.describe() == f"milvus lite at {tmp_path / 'm.db'}"
    remote = build_store("milvus", path_or_uri="http://milvus:19530", token="root:Milvus", hnsw=hnsw)
    assert remote.describe() == "milvus server at http://milvus:19530"  # type: ignore[attr-defined]
    assert not (tmp_path / "c").exists() and not (tmp_path / "m.db").exists()  # nothing opened


@pytest.mark.unit
@pytest.mark.parametrize(
    ("backend", "location", "token"),
    [
        ("faiss", "/tmp/x", None),
        ("chroma", "http://host:8000/api", None),
        ("chroma", "/tmp/chroma", "secret"),
        ("milvus", "/tmp/milvus-dir", None),
    ],
)
def test_factory_rejects_what_it_cannot_build(backend: str, location: str, token: str | None) -> None:
    with pytest.raises(ValueError):
        build_store(backend, path_or_uri=location, token=token, hnsw=HnswParams())


@pytest.mark.integration
@pytest.mark.parametrize(("backend", "expected"), [("milvus-lite", True), ("milvus-server", False)])
def test_bm25_collections_are_created_only_where_bm25_runs(
    store_pool: StorePool, new_kb: Any, backend: str, expected: bool, tmp_path: Path
) -> None:
    """``full_text`` is a wish: a 2.3 server gets a plain collection that still stores and searches."""
    pooled = store_pool.get(backend)
    assert isinstance(pooled, MilvusStore)
    location = pooled._uri if backend == "milvus-server" else tmp_path / "bm25.db"
    store = MilvusStore(location, full_text=True)
    kb = new_kb(pooled)
    store.ensure_kb(kb, "m", 8)
    assert store.has_full_text(kb) is expected
    chunks = [make_chunk(kb, i, text=f"robot {i} docks at station {i}") for i in range(4)]
    store.upsert(kb, chunks, unit_vectors(4, 8).tolist())
    assert store.count(kb) == 4
    assert store.search(kb, unit_vectors(4, 8)[2].tolist(), 1)[0].chunk_id == chunks[2].chunk_id
    if expected:
        assert [h.chunk_id for h in store.full_text_search(kb, "station 3", 1)] == [chunks[3].chunk_id]
