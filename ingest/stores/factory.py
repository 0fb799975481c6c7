"""Build the configured ``VectorStore`` from a backend name and one location string.

A location is either a local path (embedded store) or an ``http(s)://host:port`` URI (a server),
for both backends, so settings need one field for it. Nothing is opened here: stores connect
on first use.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from ingest.stores.base import HnswParams, VectorStore
from ingest.stores.milvus_connection import SecretLike

BACKENDS = ("chroma", "milvus")


def is_server_uri(path_or_uri: str) -> bool:
    return path_or_uri.startswith(("http://", "https://"))


def build_store(
    backend: str,
    *,
    path_or_uri: str | Path,
    token: str | SecretLike | None = None,
    hnsw: HnswParams | None = None,
    milvus_db_name: str = "",
    milvus_consistency_level: str = "Session",
    full_text: bool = False,
    timeout_s: float = 10.0,
) -> VectorStore:
    """Return an unopened store.

    ``chroma``: a directory -> embedded ``PersistentClient``; ``http(s)://host:port`` -> Chroma server.
    ``milvus``: a file ending in ``.db`` -> Milvus Lite; ``http(s)://host:port`` -> Milvus server.
    ``token`` (a ``str`` or a ``SecretStr``, read on first use) authenticates to a Milvus server;
    Chroma servers are reached without one. ``full_text`` asks Milvus to create knowledge bases
    with its own BM25 where it has one (Chroma has none: there it changes nothing). ``timeout_s``
    bounds each wait for a server's answer, so a hung server is an error, not a hung request. Raises
    ``ValueError`` for an unknown backend or a location the backend cannot use.
    """
    location = str(path_or_uri)
    hnsw = hnsw or HnswParams()
    if backend == "chroma":
        from ingest.stores.chroma import ChromaStore

        if token is not None:
            raise ValueError("the chroma backend does not take a token; leave it unset")
        if not is_server_uri(location):
            return ChromaStore(Path(location).expanduser(), hnsw=hnsw)
        parts = urlsplit(location)
        if parts.hostname is None or parts.path not in ("", "/") or parts.query:
            raise ValueError(f"a Chroma server URI is http(s)://host:port, got {location!r}")
        ssl = parts.scheme == "https"
        port = parts.port or (443 if ssl else 8000)
        return ChromaStore(host=parts.hostname, port=port, ssl=ssl, hnsw=hnsw, timeout_s=timeout_s)
    if backend == "milvus":
        from ingest.stores.milvus import MilvusStore

        return MilvusStore(
            location if is_server_uri(location) else Path(location).expanduser(),
            token=token,
            hnsw=hnsw,
            db_name=milvus_db_name,
            consistency_level=milvus_consistency_level,
            full_text=full_text,
            timeout=timeout_s,
        )
    raise ValueError(f"unknown vector store backend {backend!r}; choose one of {', '.join(BACKENDS)}")
