"""Milvus implementation of ``VectorStore`` through ``pymilvus.MilvusClient``.

A local path ending in ``.db`` opens Milvus Lite (embedded, in this process); an
``http(s)://host:port`` URI, with an optional token, opens a Milvus server or cluster.

Where a knowledge base records its model: in the collection's *properties*
(``askdocs.embedding_model``, ``askdocs.dimension``, ``askdocs.kb``), set when the collection is
created. Properties round-trip on Milvus Lite and on a 2.3 server alike, whereas Lite drops the
collection description; a separate registry collection would be a second thing to keep in step.

Consistency: reads (search, query, count, get, export) run at ``Session`` level by default.
pymilvus remembers the timestamp of this process's last write to each collection and the server
waits for that timestamp only, so a write followed by a read in the same job always sees the
write, while a read with nothing pending is not delayed. ``Strong`` would add a wait for the next
time tick (up to ~200 ms on a server) to every read; pass ``consistency_level="Strong"`` when
readers must see other processes' writes immediately. Nothing calls ``flush``: visibility does
not need it, and the server rate-limits it. ``flush(kb)`` exists for the end of a bulk load, so
that the data is sealed and indexed instead of being searched by brute force.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ingest.errors import EmbeddingModelMismatch, KnowledgeBaseNotFound, VectorIndexError
from ingest.stores.base import HnswParams, MetadataFilter
from ingest.stores.milvus_filters import EXTRA_FIELD, PK_FIELD, SCALAR_FIELDS, ids_expr, milvus_expr
from ingest.stores.naming import collection_name, kb_from_collection, validate_kb_name
from ingest.types import Chunk, Hit, KnowledgeBaseInfo

_PROP_KB = "askdocs.kb"
_PROP_MODEL = "askdocs.embedding_model"
_PROP_DIM = "askdocs.dimension"
_VECTOR = "vector"
_TEXT = "text"
# VARCHAR limits are UTF-8 bytes; 65,535 is Milvus's maximum (~21k Chinese characters).
_MAX_BYTES: dict[str, int] = {
    PK_FIELD: 512,
    _TEXT: 65_535,
    "doc_id": 512,
    "source": 4_096,
    "title": 2_048,
    "section": 2_048,
    "pages": 4_096,
    "content_hash": 128,
}
_STRING_META = ("doc_id", "source", "title", "section", "pages", "content_hash")
_OUTPUT_FIELDS = [PK_FIELD, _TEXT, EXTRA_FIELD, *sorted(SCALAR_FIELDS)]
_WRITE_BATCH = 500
_ID_BATCH = 1_000
_T = TypeVar("_T")


class SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


class MilvusStore:
    """One Milvus collection per knowledge base: VARCHAR primary key, HNSW index, COSINE metric.

    The client opens on first use. Raises ``KnowledgeBaseNotFound`` for unknown knowledge bases,
    ``EmbeddingModelMismatch`` from ``ensure_kb``, ``VectorIndexError`` for everything else.
    """

    def __init__(
        self,
        uri: str | Path,
        *,
        token: str | SecretLike | None = None,
        hnsw: HnswParams | None = None,
        db_name: str = "",
        consistency_level: str = "Session",
        timeout: float = 30.0,
    ) -> None:
        text = str(uri)
        self._remote = text.startswith(("http://", "https://", "tcp://", "unix:"))
        if not self._remote and not text.endswith(".db"):
            raise ValueError(f"a Milvus Lite path must end in '.db' (got {text!r}); servers need http(s)://host:port")
        self._uri = text if self._remote else str(Path(text).expanduser().absolute())
        self._token = token
        self._hnsw = hnsw or HnswParams()
        self._db_name = db_name
        self._consistency = consistency_level
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()  # Milvus Lite does not support concurrent writers
        self._fts: bool | None = None

    def describe(self) -> str:
        return f"milvus server at {self._uri}" if self._remote else f"milvus lite at {self._uri}"

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                from pymilvus import MilvusClient

                token = self._token.get_secret_value() if hasattr(self._token, "get_secret_value") else self._token
                try:
                    if not self._remote:
                        Path(self._uri).parent.mkdir(parents=True, exist_ok=True)
                    self._client = MilvusClient(
                        uri=self._uri, token=str(token or ""), db_name=self._db_name, timeout=self._timeout
                    )
                except Exception as exc:
                    raise VectorIndexError(f"cannot open {self.describe()}: {exc}") from exc
            return self._client

    def close(self) -> None:
        """Release the connection; the store reconnects on next use."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def ping(self) -> None:
        """Raise ``VectorIndexError`` unless the store answers."""
        self.server_version()

    def server_version(self) -> str:
        return str(self._call(None, lambda c: c.get_server_version()))

    def _call(self, kb: str | None, fn: Callable[[Any], _T], what: str = "") -> _T:
        """Run ``fn(client)``, loading a released collection once and translating vendor errors."""
        client = self._connect()
        for attempt in (0, 1):
            try:
                return fn(client)
            except Exception as exc:
                message = str(exc)
                if kb is not None and _is_not_found(exc):
                    raise KnowledgeBaseNotFound(kb) from exc
                if kb is not None and attempt == 0 and _is_not_loaded(exc):
                    client.load_collection(collection_name(kb))
                    continue
                raise VectorIndexError(f"{what or 'milvus call'} failed on {self.describe()}: {message}") from exc
        raise AssertionError("unreachable")

    # -- knowledge bases --------------------------------------------------------------------
    def ensure_kb(self, kb: str, embedding_model: str, dimension: int) -> KnowledgeBaseInfo:
        validate_kb_name(kb)
        if dimension <= 0:
            raise ValueError(f"dimension must be positive, got {dimension}")
        name = collection_name(kb)
        if not self._call(None, lambda c: c.has_collection(name), "has_collection"):
            try:
                self._create(kb, embedding_model, dimension)
            except VectorIndexError:
                # another process may have created it meanwhile; only that case is recoverable
                if not self._call(None, lambda c: c.has_collection(name), "has_collection"):
                    raise
        info = self.kb_info(kb)
        if info.embedding_model != embedding_model or info.dimension != dimension:
            raise EmbeddingModelMismatch(kb, info.embedding_model, info.dimension, embedding_model, dimension)
        return info

    def _create(self, kb: str, embedding_model: str, dimension: int) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(PK_FIELD, DataType.VARCHAR, is_primary=True, max_length=_MAX_BYTES[PK_FIELD])
        schema.add_field(_VECTOR, DataType.FLOAT_VECTOR, dim=dimension)
        schema.add_field(_TEXT, DataType.VARCHAR, max_length=_MAX_BYTES[_TEXT])
        for field in _STRING_META:
            schema.add_field(field, DataType.VARCHAR, max_length=_MAX_BYTES[field])
        schema.add_field("chunk_index", DataType.INT64)
        schema.add_field(EXTRA_FIELD, DataType.JSON)
        index = MilvusClient.prepare_index_params()
        index.add_index(
            _VECTOR,
            index_type="HNSW",
            metric_type="COSINE",
            params={"M": self._hnsw.m, "efConstruction": self._hnsw.ef_construction},
        )
        properties = {_PROP_KB: kb, _PROP_MODEL: embedding_model, _PROP_DIM: str(dimension)}
        self._call(
            None,
            lambda c: c.create_collection(
                collection_name(kb),
                schema=schema,
                index_params=index,
                consistency_level=self._consistency,
                properties=properties,
            ),
            f"creating knowledge base {kb!r}",
        )

    def kb_info(self, kb: str) -> KnowledgeBaseInfo:
        name = collection_name(kb)
        # has_collection first: a failed describe is logged as an error by pymilvus
        if not self._call(None, lambda c: c.has_collection(name), "has_collection"):
            raise KnowledgeBaseNotFound(kb)
        desc = self._call(kb, lambda c: c.describe_collection(name), f"describing knowledge base {kb!r}")
        props = desc.get("properties") or {}
        dim = props.get(_PROP_DIM)
        if dim is None:  # created by something else: fall back to the schema
            dim = next((f.get("params", {}).get("dim") for f in desc["fields"] if f["name"] == _VECTOR), 0)
        return KnowledgeBaseInfo(
            name=kb, embedding_model=str(props.get(_PROP_MODEL, "")), dimension=int(dim or 0), count=self.count(kb)
        )

    def list_kbs(self) -> list[KnowledgeBaseInfo]:
        names = self._call(None, lambda c: c.list_collections(), "listing collections")
        infos = []
        for name in names:
            kb = kb_from_collection(name)
            if kb is None:
                continue
            try:
                info = self.kb_info(kb)
            except KnowledgeBaseNotFound:  # dropped meanwhile
                continue
            if info.embedding_model:
                infos.append(info)
        return sorted(infos, key=lambda info: info.name)

    def drop_kb(self, kb: str) -> None:
        name = collection_name(kb)
        if not self._call(None, lambda c: c.has_collection(name), "has_collection"):
            raise KnowledgeBaseNotFound(kb)
        self._call(kb, lambda c: c.drop_collection(name), f"dropping knowledge base {kb!r}")

    # -- data -------------------------------------------------------------------------------
    def upsert(self, kb: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return
        name = collection_name(kb)
        with self._write_lock:
            for start in range(0, len(chunks), _WRITE_BATCH):
                rows = [
                    _row(c, v)
                    for c, v in zip(
                        chunks[start : start + _WRITE_BATCH], vectors[start : start + _WRITE_BATCH], strict=True
                    )
                ]
                self._call(kb, lambda c, rows=rows: c.upsert(name, rows), f"writing to knowledge base {kb!r}")

    def delete(self, kb: str, *, chunk_ids: Sequence[str] | None = None, where: MetadataFilter | None = None) -> int:
        expr = milvus_expr(where)
        if chunk_ids is None and not expr:
            raise ValueError("delete needs chunk_ids or a non-empty filter")
        with self._write_lock:
            if chunk_ids is None:
                return self._delete_matching(kb, expr)
            deleted = 0
            unique = list(dict.fromkeys(chunk_ids))
            for start in range(0, len(unique), _ID_BATCH):
                clause = ids_expr(unique[start : start + _ID_BATCH])
                # Look ids up first: Milvus reports how many ids were *sent*, not how many existed.
                found = self._query(kb, f"({clause}) and ({expr})" if expr else clause, [PK_FIELD])
                deleted += self._delete_ids(kb, [str(row[PK_FIELD]) for row in found])
            if deleted:
                self._settle(kb)
            return deleted

    def _delete_matching(self, kb: str, expr: str) -> int:
        deleted = 0
        seen: set[str] = set()
        while True:
            level = "Strong" if deleted else self._consistency  # see _settle
            rows = self._query(kb, expr, [PK_FIELD], limit=_ID_BATCH, consistency_level=level)
            ids = [str(row[PK_FIELD]) for row in rows]
            if seen.intersection(ids):
                raise VectorIndexError(f"deleted chunks of knowledge base {kb!r} are still visible")
            seen.update(ids)
            deleted += self._delete_ids(kb, ids)
            if len(ids) < _ID_BATCH:
                if deleted and len(ids):
                    self._settle(kb)
                return deleted

    def _delete_ids(self, kb: str, ids: list[str]) -> int:
        if ids:
            name = collection_name(kb)
            self._call(kb, lambda c: c.delete(name, ids=ids), f"deleting from knowledge base {kb!r}")
        return len(ids)

    def _settle(self, kb: str) -> None:
        """Make a delete visible to this session's next reads.

        Milvus 2.3 answers Delete with timestamp 0, so pymilvus's session timestamp does not move
        and a Session read could still see the deleted rows. One Strong read waits until the
        query nodes have applied everything written so far, after which every read sees it.
        """
        if self._remote:  # Milvus Lite applies deletes synchronously
            self._query(kb, "", [PK_FIELD], limit=1, consistency_level="Strong")

    def _query(
        self, kb: str, expr: str, fields: list[str], limit: int | None = None, consistency_level: str | None = None
    ) -> list[dict[str, Any]]:
        name = collection_name(kb)
        extra: dict[str, Any] = {"limit": limit} if limit is not None else {}
        level = consistency_level or self._consistency
        return list(
            self._call(
                kb,
                lambda c: c.query(name, filter=expr, output_fields=fields, consistency_level=level, **extra),
                f"querying knowledge base {kb!r}",
            )
        )

    def search(
        self,
        kb: str,
        vector: Sequence[float],
        top_k: int,
        *,
        where: MetadataFilter | None = None,
        ef_search: int | None = None,
    ) -> list[Hit]:
        if top_k <= 0:
            return []
        # HNSW on Milvus requires ef >= k; a smaller ef would be an error, not a faster search.
        ef = max(ef_search or self._hnsw.ef_search, top_k)
        name = collection_name(kb)
        result = self._call(
            kb,
            lambda c: c.search(
                name,
                data=[[float(x) for x in vector]],
                filter=milvus_expr(where),
                limit=top_k,
                output_fields=_OUTPUT_FIELDS,
                search_params={"metric_type": "COSINE", "params": {"ef": ef}},
                anns_field=_VECTOR,
                consistency_level=self._consistency,
            ),
            f"searching knowledge base {kb!r}",
        )
        return [_hit(hit["id"], hit["entity"], float(hit["distance"])) for hit in result[0]]

    def count(self, kb: str) -> int:
        rows = self._query(kb, "", ["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def get(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        unique = list(dict.fromkeys(chunk_ids))
        hits: list[Hit] = []
        for start in range(0, len(unique), _ID_BATCH):
            rows = self._query(kb, ids_expr(unique[start : start + _ID_BATCH]), _OUTPUT_FIELDS)
            hits.extend(_hit(row[PK_FIELD], row, 1.0) for row in rows)
        return hits

    def export(self, kb: str, batch_size: int = 512) -> Iterator[tuple[Hit, list[float]]]:
        name = collection_name(kb)
        iterator = self._call(
            kb,
            lambda c: c.query_iterator(
                name,
                batch_size=batch_size,
                output_fields=[*_OUTPUT_FIELDS, _VECTOR],
                consistency_level=self._consistency,
            ),
            f"exporting knowledge base {kb!r}",
        )
        try:
            while True:
                page = self._call(kb, lambda _c: iterator.next(), f"exporting knowledge base {kb!r}")
                if not page:
                    return
                for row in page:
                    yield _hit(row[PK_FIELD], row, 1.0), [float(x) for x in row[_VECTOR]]
        finally:
            iterator.close()

    def flush(self, kb: str, *, wait_for_index: bool = True, timeout: float = 600.0) -> None:
        """Seal buffered writes and (by default) wait until they are indexed.

        For the end of a bulk load, never per write: the server rate-limits flushes, and
        visibility does not need them (see the module docstring).
        """
        name = collection_name(kb)
        self._call(kb, lambda c: c.flush(name), f"flushing knowledge base {kb!r}")
        deadline = time.monotonic() + timeout
        while wait_for_index:
            state = self._call(kb, lambda c: c.describe_index(name, _VECTOR), f"describing index of {kb!r}")
            if int(state.get("pending_index_rows", 0)) == 0 and state.get("state") in (None, "Finished"):
                return
            if time.monotonic() > deadline:
                raise VectorIndexError(f"index of knowledge base {kb!r} not built after {timeout:.0f}s: {state}")
            time.sleep(0.5)

    # -- capabilities -----------------------------------------------------------------------
    def supports_full_text_search(self) -> bool:
        """Whether this Milvus can run BM25 full-text search (a ``BM25`` function on a sparse field).

        A server that reports a version below 2.5 cannot; anything else (Milvus Lite, newer or
        unrecognised versions) is probed by creating a throwaway collection with a BM25 function,
        inserting one row and searching it by text. The answer is cached per store.
        """
        if self._fts is None:
            match = re.match(r"^v?(\d+)\.(\d+)", self.server_version())
            if match and (int(match.group(1)), int(match.group(2))) < (2, 5):
                self._fts = False
            else:
                self._fts = self._probe_bm25()
        return self._fts

    def _probe_bm25(self) -> bool:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        client = self._connect()
        name = f"askdocs_probe_{uuid.uuid4().hex[:12]}"  # never "kb_": list_kbs must not see it
        try:
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("text", DataType.VARCHAR, max_length=256, enable_analyzer=True)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["text"],
                    output_field_names=["sparse"],
                )
            )
            index = MilvusClient.prepare_index_params()
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
            if not client.describe_collection(name).get("functions"):
                return False  # an older server accepted the schema but dropped the function
            client.insert(name, [{"id": 1, "text": "probe full text search"}])
            hits = client.search(name, data=["probe"], anns_field="sparse", limit=1, consistency_level="Strong")
            return len(hits[0]) == 1 and hits[0][0]["id"] == 1
        except Exception:
            return False
        finally:
            try:
                if client.has_collection(name):
                    client.drop_collection(name)
            except Exception:
                pass


def _row(chunk: Chunk, vector: Sequence[float]) -> dict[str, Any]:
    meta = chunk.metadata()
    row: dict[str, Any] = {PK_FIELD: chunk.chunk_id, _VECTOR: [float(x) for x in vector], _TEXT: chunk.text}
    for field in _STRING_META:
        row[field] = str(meta.pop(field))
    row["chunk_index"] = int(meta.pop("chunk_index"))
    row[EXTRA_FIELD] = meta  # "kb" and the scalar extras
    for field, limit in _MAX_BYTES.items():
        size = len(row[field].encode("utf-8"))
        if size > limit:
            raise VectorIndexError(
                f"chunk {chunk.chunk_id!r}: field {field!r} is {size} UTF-8 bytes, Milvus allows {limit}"
            )
    return row


def _hit(chunk_id: Any, entity: dict[str, Any], score: float) -> Hit:
    meta: dict[str, Any] = dict(entity.get(EXTRA_FIELD) or {})
    for field in SCALAR_FIELDS:
        if field in entity:
            meta[field] = entity[field]
    if "chunk_index" in meta:
        meta["chunk_index"] = int(meta["chunk_index"])
    return Hit(chunk_id=str(chunk_id), text=str(entity.get(_TEXT) or ""), score=score, metadata=meta)


def _is_not_loaded(exc: Exception) -> bool:
    """Collections are released after Milvus Lite reopens a file, or by an operator on a server."""
    text = str(exc).lower()
    return getattr(exc, "code", None) == 101 or "not loaded" in text or "released" in text


def _is_not_found(exc: Exception) -> bool:
    if getattr(exc, "code", None) == 100:
        return True
    text = str(exc).lower()
    return "collection not found" in text or "can't find collection" in text or "does not exist" in text
