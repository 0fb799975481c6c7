"""The lexical side delegated to Milvus's own BM25 (Milvus Lite here; a 2.3 server, which has
none, is covered in ``tests/contracts``): what is ranked where, and what the fallback receives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ingest.lexical import LexicalIndex
from ingest.lexical.delegated import StoreFullTextIndex
from ingest.stores.base import MetadataFilter
from ingest.stores.chroma import ChromaStore
from ingest.stores.milvus import MilvusStore
from ingest.types import Chunk

pytestmark = pytest.mark.integration

DIM = 8
TEXTS = {
    "founding": ("d-company", "公司成立于2008年，总部位于深圳，员工超过三百人。"),
    "charging": ("d-robots", "机器人在夜间自动返回充电桩，充满电需要约两个小时。"),
    "payload": ("d-specs", "The NW-200 Carrier moves a payload of up to 1,500 kg between docks."),
    "warranty": ("d-policy", "Every robot ships with a standard hardware warranty of 27 months."),
    "battery": ("d-specs", "Its lithium battery stores 1,920 Wh and charges in ninety minutes."),
}


def chunks_of(kb: str, keys: list[str]) -> list[Chunk]:
    out = []
    for index, key in enumerate(keys):
        doc_id, text = TEXTS[key]
        out.append(
            Chunk(
                chunk_id=key,
                kb=kb,
                doc_id=doc_id,
                source=f"/docs/{doc_id}.txt",
                title=doc_id,
                text=text,
                chunk_index=index,
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )
        )
    return out


def vectors(n: int) -> list[list[float]]:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(n, DIM))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).tolist()


def write(store: MilvusStore | ChromaStore, lexical: StoreFullTextIndex, kb: str, keys: list[str]) -> None:
    """What a re-index job does: the store first, then every sink, document by document."""
    store.ensure_kb(kb, "test-model", DIM)
    lexical.ensure_kb(kb)
    chunks = chunks_of(kb, keys)
    store.upsert(kb, chunks, vectors(len(chunks)))
    for doc_id in dict.fromkeys(c.doc_id for c in chunks):
        lexical.replace_document(kb, doc_id, [c for c in chunks if c.doc_id == doc_id])
    lexical.commit(kb)


@pytest.fixture
def lite(tmp_path: Path) -> MilvusStore:
    return MilvusStore(tmp_path / "lite.db", full_text=True)


def test_store_bm25_ranks_chinese_and_english_and_the_fallback_stays_empty(lite: MilvusStore, tmp_path: Path) -> None:
    fallback = LexicalIndex(tmp_path / "lexical")
    lexical = StoreFullTextIndex(lite, fallback)
    write(lite, lexical, "kb", list(TEXTS))

    assert lite.has_full_text("kb") and lexical.delegated("kb")
    assert not fallback.has_kb("kb") and fallback.count("kb") == 0  # nothing was written twice
    assert lexical.has_kb("kb") and lexical.count("kb") == len(TEXTS)

    def top(query: str) -> str:
        hits = lexical.search("kb", query, 3)
        assert hits, query
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert all(h.score > 0 for h in hits)
        return hits[0].chunk_id

    assert top("公司是哪一年成立的？") == "founding"
    assert top("机器人怎么充电") == "charging"
    assert top("NW-200 payload") == "payload"
    assert top("How long is the hardware warranty?") == "warranty"
    hit = lexical.search("kb", "NW-200 payload", 1)[0]
    assert hit.metadata["doc_id"] == "d-specs" and hit.text == TEXTS["payload"][1]
    assert lexical.search("kb", "zeppelin", 5) == []
    assert lexical.search("kb", "   ", 5) == []


def test_deleted_documents_leave_the_store_bm25_at_once(lite: MilvusStore, tmp_path: Path) -> None:
    lexical = StoreFullTextIndex(lite, LexicalIndex(tmp_path / "lexical"))
    write(lite, lexical, "kb", list(TEXTS))
    assert lexical.search("kb", "NW-200 payload", 1)[0].chunk_id == "payload"
    lite.delete("kb", where=MetadataFilter({"doc_id": "d-specs"}))
    lexical.replace_document("kb", "d-specs", [])
    found = {h.chunk_id for h in lexical.search("kb", "NW-200 payload battery Wh", 5)}
    assert found.isdisjoint({"payload", "battery"})


def test_collections_without_bm25_are_served_by_the_lexical_index(tmp_path: Path) -> None:
    """A knowledge base created before (``full_text`` off), and any Chroma one: the fallback ranks."""
    plain = MilvusStore(tmp_path / "lite.db")  # creates collections without the BM25 function
    chroma = ChromaStore(tmp_path / "chroma")
    for store in (plain, chroma):
        fallback = LexicalIndex(tmp_path / f"lexical-{type(store).__name__}")
        lexical = StoreFullTextIndex(store, fallback)
        write(store, lexical, "kb", list(TEXTS))
        assert not lexical.delegated("kb")
        assert fallback.count("kb") == len(TEXTS)
        assert [h.chunk_id for h in lexical.search("kb", "NW-200 payload", 3)] == [
            h.chunk_id for h in fallback.search("kb", "NW-200 payload", 3)
        ]
        assert lexical.search("kb", "NW-200 payload", 1)[0].chunk_id == "payload"


def test_a_rebuild_moves_a_kb_onto_the_store_bm25(tmp_path: Path) -> None:
    """The old collection predates BM25; the rebuilt one has it. After the swap the store ranks
    the knowledge base and the fallback's now unused copy is gone."""
    path = tmp_path / "lite.db"
    fallback = LexicalIndex(tmp_path / "lexical")
    old = MilvusStore(path)
    write(old, StoreFullTextIndex(old, fallback), "kb", ["founding", "charging"])
    assert fallback.count("kb") == 2
    old.close()

    store = MilvusStore(path, full_text=True)
    lexical = StoreFullTextIndex(store, fallback)
    assert not lexical.delegated("kb")  # the existing collection decides, not the setting
    elsewhere = StoreFullTextIndex(store, fallback, ttl_s=0)  # a serving process that swaps nothing
    assert not elsewhere.delegated("kb")
    write(store, lexical, "kb-rebuild", list(TEXTS))
    assert lexical.delegated("kb-rebuild")

    store.replace_kb("kb", "kb-rebuild")
    lexical.replace_kb("kb", "kb-rebuild")
    assert lexical.delegated("kb") and store.has_full_text("kb")
    assert elsewhere.delegated("kb")  # asked again once its answer is older than its TTL
    assert not fallback.has_kb("kb")
    assert lexical.search("kb", "NW-200 payload", 1)[0].chunk_id == "payload"
    assert lexical.count("kb") == len(TEXTS)


def test_a_collection_swapped_to_one_without_bm25_is_searched_locally_at_once(tmp_path: Path) -> None:
    """Another process rebuilt the knowledge base without BM25 (and filled the local index):
    the next search notices the change instead of failing until its decision expires."""
    path = tmp_path / "lite.db"
    fallback = LexicalIndex(tmp_path / "lexical")
    store = MilvusStore(path, full_text=True)
    serving = StoreFullTextIndex(store, fallback)  # default TTL: it keeps its first answer
    write(store, serving, "kb", list(TEXTS))
    assert serving.delegated("kb")

    plain = MilvusStore(path)  # the other process's setting: no BM25
    plain.drop_kb("kb")
    write(plain, StoreFullTextIndex(plain, fallback), "kb", list(TEXTS))
    assert not plain.has_full_text("kb") and fallback.count("kb") == len(TEXTS)

    assert serving.search("kb", "NW-200 payload", 1)[0].chunk_id == "payload"
    assert not serving.delegated("kb")
