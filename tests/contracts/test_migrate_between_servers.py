"""``migrate_kb`` through real servers: Chroma server -> Milvus server -> embedded Chroma.

The embedded pairs are covered in ``tests/integration/stores/test_migrate.py``; this checks the
server paths (gRPC export and upsert, rename on a 2.3 server) with the suite's running servers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pytest

from ingest.errors import KnowledgeBaseNotFound
from ingest.stores.base import VectorStore
from ingest.stores.migrate import migrate_kb

from .helpers import make_chunks, unit_vectors

if TYPE_CHECKING:
    from .conftest import StorePool

pytestmark = pytest.mark.integration


def _drop(kb: str, *stores: VectorStore) -> None:
    for store in stores:
        try:
            store.drop_kb(kb)
        except KnowledgeBaseNotFound:
            pass


def test_round_trip_through_both_servers(
    store_pool: StorePool, new_kb: Callable[[VectorStore], str], request: pytest.FixtureRequest
) -> None:
    chroma_server, milvus_server, chroma = (store_pool.get(b) for b in ("chroma-server", "milvus-server", "chroma"))
    kb = new_kb(chroma_server)
    request.addfinalizer(lambda: _drop(kb, milvus_server, chroma))
    chroma_server.ensure_kb(kb, "m", 24)
    chunks, vectors = make_chunks(kb, 700), unit_vectors(700, 24, seed=31)
    chroma_server.upsert(kb, chunks, vectors.tolist())

    assert migrate_kb(chroma_server, milvus_server, kb, batch_size=256).copied == 700
    assert migrate_kb(milvus_server, chroma, kb, batch_size=256).copied == 700

    for store in (milvus_server, chroma):
        info = store.kb_info(kb)
        assert (info.embedding_model, info.dimension, info.count) == ("m", 24, 700)
        exported = {hit.chunk_id: (hit, vec) for hit, vec in store.export(kb)}
        for i, chunk in enumerate(chunks):
            hit, vec = exported[chunk.chunk_id]
            assert (hit.text, hit.metadata) == (chunk.text, chunk.metadata())
            np.testing.assert_allclose(vec, vectors[i], atol=1e-6)
        assert [h.chunk_id for h in store.search(kb, vectors[9].tolist(), 3)][0] == chunks[9].chunk_id
