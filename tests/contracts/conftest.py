"""Fixtures for the vector-store contract suite: every backend, embedded and as a real server.

Servers run as child processes on 127.0.0.1 for the whole session (``tests/fakes/store_servers.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.errors import KnowledgeBaseNotFound
from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.factory import build_store
from tests.fakes.store_servers import ChromaServer, MilvusServer

from .helpers import BACKENDS, HNSW


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (``chroma run``) on a free loopback port; yields its URI."""
    with ChromaServer(tmp_path_factory.mktemp("chroma-server")) as server:
        yield server.uri


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus 2.3 server from ``.venv-milvus``; yields its URI. Fails if not installed."""
    with MilvusServer(tmp_path_factory.mktemp("milvus-server")) as server:
        yield server.uri


class StorePool:
    """One store per backend (and HNSW setting) for the session, servers started only when a backend is used."""

    def __init__(self, request: pytest.FixtureRequest, root: Path) -> None:
        self._request = request
        self._root = root
        self._stores: dict[tuple[str, HnswParams], VectorStore] = {}

    def get(self, backend: str, hnsw: HnswParams = HNSW) -> VectorStore:
        if (backend, hnsw) not in self._stores:
            self._stores[backend, hnsw] = self._build(backend, hnsw)
        return self._stores[backend, hnsw]

    def _build(self, backend: str, hnsw: HnswParams = HNSW) -> VectorStore:
        suffix = "" if hnsw == HNSW else f"-ef{hnsw.ef_search}"
        if backend == "chroma":
            return build_store("chroma", path_or_uri=self._root / f"chroma{suffix}", hnsw=hnsw)
        if backend == "chroma-server":
            return build_store("chroma", path_or_uri=self._request.getfixturevalue("chroma_server"), hnsw=hnsw)
        if backend == "milvus-lite":
            return build_store("milvus", path_or_uri=self._root / f"milvus-lite{suffix}.db", hnsw=hnsw)
        if backend == "milvus-server":
            return build_store("milvus", path_or_uri=self._request.getfixturevalue("milvus_server"), hnsw=hnsw)
        raise ValueError(backend)


@pytest.fixture(scope="session")
def store_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> StorePool:
    return StorePool(request, tmp_path_factory.mktemp("stores"))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_pool: StorePool, backend: str) -> VectorStore:
    return store_pool.get(backend)


@pytest.fixture
def new_kb(request: pytest.FixtureRequest) -> Iterator[Callable[[VectorStore], str]]:
    """Hands out fresh knowledge-base names (with a '-' to exercise name mapping); drops them after."""
    created: list[tuple[VectorStore, str]] = []

    def make(store: VectorStore) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        created.append((store, name))
        return name

    yield make
    for store, name in created:
        try:
            store.drop_kb(name)
        except KnowledgeBaseNotFound:
            pass
