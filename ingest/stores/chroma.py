"""Chroma implementation of ``VectorStore``: embedded ``PersistentClient`` or a Chroma server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from ingest.errors import (
    EmbeddingModelMismatch,
    InvalidKnowledgeBaseName,
    KnowledgeBaseNotFound,
    VectorIndexError,
)
from ingest.stores.base import HnswParams, MetadataFilter
from ingest.stores.embedded_freshness import ReopenGate, WriteStamps
from ingest.stores.naming import collection_name, is_working_copy, validate_store_name
from ingest.types import Chunk, Hit, KnowledgeBaseInfo

_MODEL_KEY = "embedding_model"
_DIM_KEY = "dimension"
_KB_KEY = "kb"
_WRITE_BATCH = 1000
_STAMPS_DIR = "askdocs-writes"
# A reopen reads every index again from disk: while another process writes batch after batch,
# catch up at most this often.
_REOPEN_EVERY_S = 2.0
log = logging.getLogger(__name__)
_T = TypeVar("_T")


def chroma_where(where: MetadataFilter | None) -> dict[str, Any] | None:
    """Translate our filter into Chroma's ``where`` syntax."""
    if where is None or where.is_empty():
        return None
    clauses: list[dict[str, Any]] = []
    for key, value in where.equals.items():
        if isinstance(value, list | tuple | set):
            clauses.append({key: {"$in": list(value)}})
        else:
            clauses.append({key: {"$eq": value}})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class ChromaStore:
    """One Chroma collection per knowledge base, HNSW with cosine space.

    The client is opened on first use. ``path`` selects the embedded store; ``host``/``port``
    select a Chroma server. Chroma has no per-query ``ef``: its HNSW index reads ``ef_search``
    from the collection's configuration when a process first loads it, and later changes to the
    configuration do not reach an index already loaded (checked on 1.5.9). So ``ef_search`` is a
    knowledge-base setting, taken from ``HnswParams`` at creation; a per-query ``ef_search`` is
    ignored with one warning per knowledge base, and never written into the configuration.

    Collection handles are kept per knowledge base (``get_collection`` costs a catalogue read,
    ~10 ms at 100k chunks, and a query used to pay it twice). A drop or swap made here forgets
    the handle; one made by another process (``rag reindex --full`` beside ``rag serve``) shows as
    "collection does not exist" on the stale handle, which is then fetched again and the call retried.

    The embedded store also opens its client again when another process has written to a knowledge
    base since (``ingest.stores.embedded_freshness``): Chroma never reads a loaded index from disk again.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        host: str | None = None,
        port: int = 8000,
        ssl: bool = False,
        hnsw: HnswParams | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        if path is None and host is None:
            raise ValueError("ChromaStore needs a path (embedded) or a host (server)")
        self._path = Path(path) if path is not None else None
        self._host = host
        self._port = port
        self._ssl = ssl
        self._hnsw = hnsw or HnswParams()
        self._timeout_s = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()
        self._ef_warned: set[str] = set()
        self._handles: dict[str, Any] = {}
        self._stamps = WriteStamps(self._path / _STAMPS_DIR) if self._path is not None else None
        self._gate = ReopenGate()
        self._reopened_at = 0.0

    def describe(self) -> str:
        if self._path is not None:
            return f"chroma embedded at {self._path}"
        return f"chroma server at {'https' if self._ssl else 'http'}://{self._host}:{self._port}"

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                import chromadb
                from chromadb.config import Settings

                settings = Settings(anonymized_telemetry=False, allow_reset=False)
                try:
                    if self._path is not None:
                        self._path.mkdir(parents=True, exist_ok=True)
                        self._client = chromadb.PersistentClient(path=str(self._path), settings=settings)
                    else:
                        self._client = chromadb.HttpClient(
                            host=self._host or "127.0.0.1", port=self._port, ssl=self._ssl, settings=settings
                        )
                        _bound_waits(self._client, self._timeout_s)
                except Exception as exc:  # vendor errors vary by transport
                    raise VectorIndexError(f"cannot open {self.describe()}: {exc}") from exc
            return self._client

    @contextmanager
    def _current(self, kb: str | None = None) -> Iterator[None]:
        """A call on a client that has read ``kb`` since any other process last wrote to it."""
        if kb is not None and self._stamps is not None and not self._gate.in_call():
            if self._stamps.changed_elsewhere(collection_name(kb)) and self._reopen_due():
                self._reopen()
        with self._gate.call():
            yield

    def _reopen_due(self) -> bool:
        return time.monotonic() - self._reopened_at >= _REOPEN_EVERY_S

    def _reopen(self) -> None:
        """Close the embedded client once no call uses it; the next call opens a new one."""
        with self._gate.reopening():
            if not self._reopen_due():  # another thread has just done it
                return
            with self._lock:
                client, self._client = self._client, None
                self._handles.clear()
            if client is not None:
                client.close()
            assert self._stamps is not None
            self._stamps.reset()
            self._reopened_at = time.monotonic()
        log.info("another process wrote to %s: its indexes are read again", self.describe())

    def _stamp(self, *kbs: str) -> None:
        if self._stamps is not None:
            for kb in kbs:
                self._stamps.stamp(collection_name(kb))

    def ping(self) -> None:
        """Raise ``VectorIndexError`` unless the store answers."""
        try:
            with self._gate.call():
                self._connect().heartbeat()
        except VectorIndexError:
            raise
        except Exception as exc:
            raise VectorIndexError(f"{self.describe()} is unreachable: {exc}") from exc

    def _collection(self, kb: str) -> Any:
        """The knowledge base's collection handle, fetched once and kept (see the class notes)."""
        handle = self._handles.get(kb)
        if handle is not None:
            return handle
        name = collection_name(kb)
        client = self._connect()
        try:
            handle = client.get_collection(name, embedding_function=None)
        except Exception as exc:
            if _is_not_found(exc):
                raise KnowledgeBaseNotFound(kb) from exc
            raise VectorIndexError(f"cannot open knowledge base {kb!r} on {self.describe()}: {exc}") from exc
        self._handles[kb] = handle
        return handle

    def _forget(self, *kbs: str) -> None:
        for kb in kbs:
            self._handles.pop(kb, None)

    def _on_collection(self, kb: str, call: Callable[[Any], _T]) -> _T:
        """``call(handle)``, once more with a fresh handle when the kept one names a collection
        that another process dropped or swapped away (vendor errors pass through otherwise)."""
        with self._current(kb):
            handle = self._collection(kb)
            try:
                return call(handle)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
                if self._handles.get(kb) is handle:
                    self._forget(kb)
            return call(self._collection(kb))

    # -- knowledge bases --------------------------------------------------------------------
    def ensure_kb(self, kb: str, embedding_model: str, dimension: int) -> KnowledgeBaseInfo:
        validate_store_name(kb)
        try:
            return self._check_model(kb, self.kb_info(kb), embedding_model, dimension)
        except KnowledgeBaseNotFound:
            pass
        configuration = {
            "hnsw": {
                "space": "cosine",
                "max_neighbors": self._hnsw.m,
                "ef_construction": self._hnsw.ef_construction,
                "ef_search": self._hnsw.ef_search,
            }
        }
        metadata = {_KB_KEY: kb, _MODEL_KEY: embedding_model, _DIM_KEY: dimension}
        try:
            with self._current(kb):
                collection = self._connect().get_or_create_collection(
                    collection_name(kb), metadata=metadata, configuration=configuration, embedding_function=None
                )
        except Exception as exc:
            raise VectorIndexError(f"cannot create knowledge base {kb!r} on {self.describe()}: {exc}") from exc
        info = _info_from_collection(kb, collection)
        return self._check_model(kb, info, embedding_model, dimension)

    @staticmethod
    def _check_model(kb: str, info: KnowledgeBaseInfo, model: str, dimension: int) -> KnowledgeBaseInfo:
        if info.embedding_model != model or info.dimension != dimension:
            raise EmbeddingModelMismatch(kb, info.embedding_model, info.dimension, model, dimension)
        return info

    @contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        """Vendor errors (a server that died mid-call, a timeout) as ``VectorIndexError``, naming the store."""
        try:
            yield
        except (VectorIndexError, KnowledgeBaseNotFound, EmbeddingModelMismatch, InvalidKnowledgeBaseName):
            raise
        except Exception as exc:
            raise VectorIndexError(f"{what} failed on {self.describe()}: {exc}") from exc

    def kb_info(self, kb: str) -> KnowledgeBaseInfo:
        with self._translated(f"reading knowledge base {kb!r}"):
            return self._on_collection(kb, lambda collection: _info_from_collection(kb, collection))

    def kb_model(self, kb: str) -> tuple[str, int]:
        """From the kept handle. Embedded, the write stamps make a swap elsewhere reopen the client;
        on a server, only a call shows that another client swapped the collection away."""

        def read(collection: Any) -> dict[str, Any]:
            if self._stamps is None:
                collection.count()
            return dict(collection.metadata or {})

        with self._translated(f"reading knowledge base {kb!r}"):
            meta = self._on_collection(kb, read)
        return str(meta.get(_MODEL_KEY, "")), int(meta.get(_DIM_KEY, 0))

    def list_kbs(self) -> list[KnowledgeBaseInfo]:
        infos = []
        with self._translated("listing knowledge bases"), self._current():
            for collection in self._connect().list_collections():
                meta = collection.metadata or {}
                if _MODEL_KEY in meta and _KB_KEY in meta and not is_working_copy(str(meta[_KB_KEY])):
                    infos.append(_info_from_collection(str(meta[_KB_KEY]), collection))
        return sorted(infos, key=lambda info: info.name)

    def drop_kb(self, kb: str) -> None:
        name = collection_name(kb)
        with self._current(kb):
            self._forget(kb)
            try:
                self._connect().delete_collection(name)
            except Exception as exc:
                if _is_not_found(exc):
                    raise KnowledgeBaseNotFound(kb) from exc
                raise VectorIndexError(f"cannot drop knowledge base {kb!r} on {self.describe()}: {exc}") from exc
            self._stamp(kb)

    def replace_kb(self, kb: str, staging: str) -> None:
        with self._current(kb):
            self._replace_kb(kb, staging)
            self._stamp(kb, staging)

    def _replace_kb(self, kb: str, staging: str) -> None:
        target, source = collection_name(kb), collection_name(staging)
        client = self._connect()
        self._forget(kb, staging)
        try:
            collection = client.get_collection(source, embedding_function=None)
        except Exception as exc:
            if _is_not_found(exc):
                self.kb_info(kb)  # already replaced: kb must exist, else KnowledgeBaseNotFound
                return
            raise VectorIndexError(f"cannot open knowledge base {staging!r} on {self.describe()}: {exc}") from exc
        try:
            try:
                client.delete_collection(target)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
            metadata = dict(collection.metadata or {})
            metadata[_KB_KEY] = kb
            collection.modify(name=target, metadata=metadata)
        except Exception as exc:
            raise VectorIndexError(
                f"cannot replace knowledge base {kb!r} with {staging!r} on {self.describe()}: {exc}"
            ) from exc

    # -- data -------------------------------------------------------------------------------
    def upsert(self, kb: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return
        for start in range(0, len(chunks), _WRITE_BATCH):
            part = chunks[start : start + _WRITE_BATCH]
            rows = vectors[start : start + _WRITE_BATCH]
            try:
                self._on_collection(
                    kb,
                    lambda collection, part=part, rows=rows: collection.upsert(  # type: ignore[misc]
                        ids=[c.chunk_id for c in part],
                        embeddings=[list(map(float, v)) for v in rows],
                        documents=[c.text for c in part],
                        metadatas=[c.metadata() for c in part],
                    ),
                )
            except (KnowledgeBaseNotFound, VectorIndexError):
                raise
            except Exception as exc:
                raise VectorIndexError(f"writing to knowledge base {kb!r} failed on {self.describe()}: {exc}") from exc
            finally:  # a batch that failed half-way may have written too
                self._stamp(kb)

    def delete(self, kb: str, *, chunk_ids: Sequence[str] | None = None, where: MetadataFilter | None = None) -> int:
        chroma_filter = chroma_where(where)
        if chunk_ids is None and chroma_filter is None:
            raise ValueError("delete needs chunk_ids or a non-empty filter")
        if chunk_ids is not None and not chunk_ids:
            with self._current(kb):
                self._collection(kb)  # KnowledgeBaseNotFound all the same
            return 0  # Chroma rejects an empty id list
        ids_arg = list(dict.fromkeys(chunk_ids)) if chunk_ids is not None else None

        def remove(collection: Any) -> list[str]:
            ids = list(collection.get(ids=ids_arg, where=chroma_filter, include=[])["ids"])
            if ids:
                try:
                    collection.delete(ids=ids)
                finally:
                    self._stamp(kb)
            return ids

        try:
            ids = self._on_collection(kb, remove)
        except (KnowledgeBaseNotFound, VectorIndexError):
            raise
        except Exception as exc:
            raise VectorIndexError(f"deleting from knowledge base {kb!r} failed on {self.describe()}: {exc}") from exc
        return len(ids)

    def search(
        self,
        kb: str,
        vector: Sequence[float],
        top_k: int,
        *,
        where: MetadataFilter | None = None,
        ef_search: int | None = None,
        payload: bool = True,
    ) -> list[Hit]:
        """With ``payload=False``: ids and scores only, a third of the cost at 50 candidates
        (the text and metadata come from SQLite, row by row)."""
        if ef_search is not None and ef_search != self._hnsw.ef_search and kb not in self._ef_warned:
            self._ef_warned.add(kb)
            log.warning("chroma cannot change ef_search per query; knowledge base %r keeps its own", kb)
        query = [list(map(float, vector))]
        try:
            result = self._on_collection(
                kb,
                lambda collection: collection.query(
                    query_embeddings=query,
                    n_results=top_k,
                    where=chroma_where(where),
                    include=["documents", "metadatas", "distances"] if payload else ["distances"],
                ),
            )
        except (KnowledgeBaseNotFound, VectorIndexError):
            raise
        except Exception as exc:
            raise VectorIndexError(f"searching knowledge base {kb!r} failed on {self.describe()}: {exc}") from exc
        ids, distances = result["ids"][0], result["distances"][0]
        if not payload:
            return [
                Hit(chunk_id=i, text="", score=1.0 - float(d), metadata={}, has_payload=False)
                for i, d in zip(ids, distances, strict=True)
            ]
        return [
            Hit(chunk_id=i, text=t or "", score=1.0 - float(d), metadata=dict(m or {}))
            for i, t, m, d in zip(ids, result["documents"][0], result["metadatas"][0], distances, strict=True)
        ]

    def count(self, kb: str) -> int:
        with self._translated(f"counting knowledge base {kb!r}"):
            return self._on_collection(kb, lambda collection: int(collection.count()))

    def get(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        if not chunk_ids:
            return []
        ids = list(chunk_ids)
        with self._translated(f"reading from knowledge base {kb!r}"):
            result = self._on_collection(kb, lambda c: c.get(ids=ids, include=["documents", "metadatas"]))
        return [
            Hit(chunk_id=i, text=t or "", score=1.0, metadata=dict(m or {}))
            for i, t, m in zip(result["ids"], result["documents"], result["metadatas"], strict=True)
        ]

    def export(self, kb: str, batch_size: int = 512) -> Iterator[tuple[Hit, list[float]]]:
        offset = 0
        while True:
            with self._translated(f"exporting knowledge base {kb!r}"):
                page = self._on_collection(
                    kb,
                    lambda c, at=offset: c.get(  # type: ignore[misc]
                        include=["documents", "metadatas", "embeddings"], limit=batch_size, offset=at
                    ),
                )
            if not page["ids"]:
                return
            for i, t, m, e in zip(page["ids"], page["documents"], page["metadatas"], page["embeddings"], strict=True):
                yield Hit(chunk_id=i, text=t or "", score=1.0, metadata=dict(m or {})), [float(x) for x in e]
            offset += len(page["ids"])


def _bound_waits(client: Any, seconds: float) -> None:
    """chromadb's HTTP client waits forever (``httpx.Client(timeout=None)``), so a hung server
    would hang every request that touches it; give its session our timeout (checked on 1.5.9)."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is None or not hasattr(session, "timeout"):
        log.warning("cannot bound the Chroma client's waits: this chromadb has no HTTP session where expected")
        return
    session.timeout = httpx.Timeout(seconds, connect=min(seconds, 5.0))


def _info_from_collection(kb: str, collection: Any) -> KnowledgeBaseInfo:
    meta = collection.metadata or {}
    return KnowledgeBaseInfo(
        name=kb,
        embedding_model=str(meta.get(_MODEL_KEY, "")),
        dimension=int(meta.get(_DIM_KEY, 0)),
        count=int(collection.count()),
    )


def _is_not_found(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in {"NotFoundError", "InvalidCollectionException"} or "does not exist" in str(exc)
