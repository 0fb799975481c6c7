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
write, while a read with nothing pending is not delayed. ``Strong`` adds a wait for the next time
tick to every read (~180 ms per query measured on the 2.3 server against ~3 ms); pass
``consistency_level="Strong"`` when readers must see other processes' writes at once. Deletes
are the exception: Milvus 2.3 replies to Delete without a timestamp, so after deleting the store
makes one Strong read (``_settle``). Nothing calls ``flush`` for visibility: it is not needed,
and the server rate-limits it. ``flush(kb)`` is for the end of a bulk load: it seals the data
and waits until searches go through the HNSW index rather than a temporary one.

Full rebuilds swap collections with ``rename_collection`` (``replace_kb``).

Full-text search: with ``full_text=True``, a knowledge base created where Milvus can run BM25
(``supports_full_text_search``: Milvus >= 2.5 and Milvus Lite, detected by probing, not by
version alone) gets an analysed text field and a BM25 function that fills a sparse field on every
insert; ``full_text_search`` ranks by it. ``has_full_text`` tells, per knowledge base, whether
its collection has that function: collections created before, or on a 2.3 server, do not, and
their lexical side stays in ``ingest.lexical`` (see ``ingest.lexical.delegated``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ingest.errors import EmbeddingModelMismatch, KnowledgeBaseNotFound, VectorIndexError
from ingest.stores.base import HnswParams, MetadataFilter
from ingest.stores.milvus_connection import MilvusConnection, SecretLike
from ingest.stores.milvus_filters import (
    OUTPUT_FIELDS,
    PK_FIELD,
    SPARSE_FIELD,
    VECTOR_FIELD,
    build_schema,
    chunk_to_row,
    entity_to_hit,
    ids_expr,
    milvus_expr,
)
from ingest.stores.milvus_full_text import has_bm25_function, probe_bm25, version_lacks_bm25
from ingest.stores.naming import collection_name, is_working_copy, kb_from_collection, validate_store_name
from ingest.types import Chunk, Hit, KnowledgeBaseInfo

_PROP_KB = "askdocs.kb"
_PROP_MODEL = "askdocs.embedding_model"
_PROP_DIM = "askdocs.dimension"
_WRITE_BATCH = 500
_ID_BATCH = 1_000
# Milvus's indexCoord.minSegmentNumRowsToEnableIndex default: smaller sealed segments stay unindexed
_MIN_ROWS_TO_INDEX = 1_024


class MilvusStore(MilvusConnection):
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
        full_text: bool = False,
    ) -> None:
        super().__init__(uri, token=token, db_name=db_name, timeout=timeout)
        self._hnsw = hnsw or HnswParams()
        self._consistency = consistency_level
        self._write_lock = threading.Lock()  # Milvus Lite does not support concurrent writers
        self._fts: bool | None = None
        self._full_text = full_text  # create knowledge bases with BM25 where the server has it
        self._flush_progress = (0, 0)  # (rows ready, rows in total) at the last check, for errors

    # -- knowledge bases --------------------------------------------------------------------
    def ensure_kb(self, kb: str, embedding_model: str, dimension: int) -> KnowledgeBaseInfo:
        validate_store_name(kb)
        if dimension <= 0:
            raise ValueError(f"dimension must be positive, got {dimension}")
        if not self._exists(kb):
            try:
                self._create(kb, embedding_model, dimension)
            except VectorIndexError:
                if not self._exists(kb):  # unless another process created it meanwhile
                    raise
        info = self.kb_info(kb)
        if info.embedding_model != embedding_model or info.dimension != dimension:
            raise EmbeddingModelMismatch(kb, info.embedding_model, info.dimension, embedding_model, dimension)
        return info

    def _create(self, kb: str, embedding_model: str, dimension: int) -> None:
        from pymilvus import MilvusClient

        full_text = self._full_text and self.supports_full_text_search()
        schema = build_schema(dimension, full_text=full_text)
        index = MilvusClient.prepare_index_params()
        index.add_index(
            VECTOR_FIELD,
            index_type="HNSW",
            metric_type="COSINE",
            params={"M": self._hnsw.m, "efConstruction": self._hnsw.ef_construction},
        )
        if full_text:
            index.add_index(SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
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
        model, dimension = self.kb_model(kb)
        return KnowledgeBaseInfo(name=kb, embedding_model=model, dimension=dimension, count=self.count(kb))

    def kb_model(self, kb: str) -> tuple[str, int]:
        name = collection_name(kb)
        if not self._exists(kb):
            raise KnowledgeBaseNotFound(kb)
        desc = self._call(kb, lambda c: c.describe_collection(name), f"describing knowledge base {kb!r}")
        props = desc.get("properties") or {}
        dim = props.get(_PROP_DIM)
        if dim is None:  # created by something else: fall back to the schema
            dim = next((f.get("params", {}).get("dim") for f in desc["fields"] if f["name"] == VECTOR_FIELD), 0)
        return str(props.get(_PROP_MODEL, "")), int(dim or 0)

    def list_kbs(self) -> list[KnowledgeBaseInfo]:
        names = self._call(None, lambda c: c.list_collections(), "listing collections")
        infos = []
        for name in names:
            kb = kb_from_collection(name)
            if kb is None or is_working_copy(kb):
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
        if not self._exists(kb):
            raise KnowledgeBaseNotFound(kb)
        self._call(kb, lambda c: c.drop_collection(name), f"dropping knowledge base {kb!r}")
        self._loaded.discard(kb)

    def replace_kb(self, kb: str, staging: str) -> None:
        """Swap ``staging`` in as ``kb`` by renaming collections; the old ``kb`` is dropped last.

        Order: old ``kb`` -> a backup name, ``staging`` -> ``kb``, drop the backup. Queries see
        no ``kb`` only between the two renames (metadata operations, milliseconds), never a
        half-built one; if the second rename fails the backup is renamed back. A backup left by
        a crash is dropped by the next replace. Idempotent: with ``staging`` gone and ``kb``
        present there is nothing to do (``KnowledgeBaseNotFound`` if both are gone).
        """
        target, source = collection_name(kb), collection_name(staging)
        if target == source:
            raise ValueError(f"cannot replace knowledge base {kb!r} with itself")
        backup = f"askdocs_old_{target}"  # never "kb_": list_kbs must not see it
        if not self._exists(staging):
            self.kb_info(kb)  # already replaced: kb must exist, else KnowledgeBaseNotFound
            return
        what = f"replacing knowledge base {kb!r} with {staging!r}"
        with self._write_lock:
            if self._call(None, lambda c: c.has_collection(backup), what):
                self._call(None, lambda c: c.drop_collection(backup), what)
            had_target = self._exists(kb)
            if had_target:
                self._call(None, lambda c: c.rename_collection(target, backup), what)
            self._loaded.discard(kb)
            self._loaded.discard(staging)
            try:
                self._call(None, lambda c: c.rename_collection(source, target), what)
            except VectorIndexError:
                if had_target:
                    self._call(None, lambda c: c.rename_collection(backup, target), f"restoring {kb!r}")
                raise
            # the recorded name follows the collection; model and dimension stay as built
            self._call(None, lambda c: c.alter_collection_properties(target, properties={_PROP_KB: kb}), what)
            if had_target:
                self._call(None, lambda c: c.drop_collection(backup), what)
        # pymilvus keys its session timestamps by collection name, and kb's may predate the
        # staging writes: one Strong read makes them visible to every later read (see _settle)
        self._settle(kb)

    # -- data -------------------------------------------------------------------------------
    def upsert(self, kb: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if not chunks:
            return
        name = collection_name(kb)
        with self._write_lock:
            for start in range(0, len(chunks), _WRITE_BATCH):
                end = start + _WRITE_BATCH
                rows = [chunk_to_row(c, v) for c, v in zip(chunks[start:end], vectors[start:end], strict=True)]
                self._write_rows(kb, name, rows)

    def _write_rows(self, kb: str, name: str, rows: list[dict[str, Any]]) -> None:
        self._call(kb, lambda c: c.upsert(name, rows), f"writing to knowledge base {kb!r}")

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
        """Make a delete (or a renamed collection's earlier writes) visible to this session's next reads.

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
        payload: bool = True,  # noqa: ARG002 - a search returns its output fields at no extra round trip: always
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
                output_fields=OUTPUT_FIELDS,
                search_params={"metric_type": "COSINE", "params": {"ef": ef}},
                anns_field=VECTOR_FIELD,
                consistency_level=self._consistency,
            ),
            f"searching knowledge base {kb!r}",
        )
        return [entity_to_hit(hit["id"], hit["entity"], float(hit["distance"])) for hit in result[0]]

    def count(self, kb: str) -> int:
        rows = self._query(kb, "", ["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def get(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        unique = list(dict.fromkeys(chunk_ids))
        hits: list[Hit] = []
        for start in range(0, len(unique), _ID_BATCH):
            rows = self._query(kb, ids_expr(unique[start : start + _ID_BATCH]), OUTPUT_FIELDS)
            hits.extend(entity_to_hit(row[PK_FIELD], row, 1.0) for row in rows)
        return hits

    def export(self, kb: str, batch_size: int = 512) -> Iterator[tuple[Hit, list[float]]]:
        name = collection_name(kb)
        iterator = self._call(
            kb,
            lambda c: c.query_iterator(
                name,
                batch_size=batch_size,
                output_fields=[*OUTPUT_FIELDS, VECTOR_FIELD],
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
                    yield entity_to_hit(row[PK_FIELD], row, 1.0), [float(x) for x in row[VECTOR_FIELD]]
        finally:
            iterator.close()

    def flush(self, kb: str, *, wait_for_index: bool = True, timeout: float = 900.0) -> None:
        """Seal buffered writes and (by default) wait until searches use the HNSW index for them.

        For the end of a bulk load, never per write: the server rate-limits flushes, and
        visibility does not need them (see the module docstring). Until a server's query nodes
        load the sealed, indexed segments, searches over that data use a temporary IVF index
        whose recall ignores ``ef``; the wait covers both the index build and that hand-off.
        """
        name = collection_name(kb)
        self._flush_progress = (0, 0)
        self._call(kb, lambda c: c.flush(name), f"flushing knowledge base {kb!r}")
        deadline = time.monotonic() + timeout
        while wait_for_index and not self._indexed_and_loaded(kb):
            if time.monotonic() > deadline:
                ready, total = self._flush_progress
                raise VectorIndexError(
                    f"index of knowledge base {kb!r} not ready after {timeout:.0f}s "
                    f"({ready} of {total} rows in loaded, indexed segments)"
                )
            time.sleep(0.5)

    def _indexed_and_loaded(self, kb: str) -> bool:
        name = collection_name(kb)
        state = self._call(kb, lambda c: c.describe_index(name, VECTOR_FIELD), f"describing index of {kb!r}")
        if state.get("state") not in (None, "Finished"):
            return False
        if "indexed_rows" in state and "total_rows" in state:
            # not pending_index_rows: a 2.3 server keeps counting rows of segments that compaction
            # has merged away (seen stuck at 60,000 of 100,000 with every segment indexed)
            if int(state["indexed_rows"]) < int(state["total_rows"]):
                return False
        elif int(state.get("pending_index_rows", 0)):
            return False
        if not self._remote:  # Milvus Lite searches flushed segments with their index at once
            return True
        segments = self._call(kb, lambda c: c.list_loaded_segments(name), f"listing segments of {kb!r}")
        ready_rows = 0
        for seg in segments:  # growing segments are not listed; sealed ones show their index
            # Segments below the server's minimum for indexing are never indexed and are searched
            # exactly (brute force), so they count as ready instead of being waited for forever.
            small = int(seg.num_rows) < _MIN_ROWS_TO_INDEX
            if "sealed" in str(seg.state).lower() and (seg.index_name or seg.index_id or small):
                ready_rows += int(seg.num_rows)
        self._flush_progress = (ready_rows, self.count(kb))
        return ready_rows >= self._flush_progress[1]

    def has_full_text(self, kb: str) -> bool:
        """Whether ``kb``'s collection has our BM25 function (raises ``KnowledgeBaseNotFound``).

        Asked of the server every time: another process may have swapped the collection."""
        if not self._exists(kb):
            raise KnowledgeBaseNotFound(kb)
        name = collection_name(kb)
        desc = self._call(kb, lambda c: c.describe_collection(name), f"describing knowledge base {kb!r}")
        return has_bm25_function(desc)

    def full_text_search(self, kb: str, query: str, top_k: int) -> list[Hit]:
        """Best ``top_k`` chunks by the collection's BM25, best first; ``Hit.score`` is the BM25
        score (Milvus Lite reports it negated as a distance, servers as is: both become positive).
        Chunks sharing no term with the query are left out."""
        if top_k <= 0 or not query.strip():
            return []
        name = collection_name(kb)
        result = self._call(
            kb,
            lambda c: c.search(
                name,
                data=[query],
                limit=top_k,
                output_fields=OUTPUT_FIELDS,
                search_params={"metric_type": "BM25"},
                anns_field=SPARSE_FIELD,
                consistency_level=self._consistency,
            ),
            f"full-text search of knowledge base {kb!r}",
        )
        hits = [entity_to_hit(hit["id"], hit["entity"], abs(float(hit["distance"]))) for hit in result[0]]
        return [hit for hit in hits if hit.score > 0]

    # -- capabilities -----------------------------------------------------------------------
    def supports_full_text_search(self) -> bool:
        """Whether this Milvus can run BM25 full-text search (a ``BM25`` function on a sparse field).

        A server that reports a version below 2.5 cannot; anything else (Milvus Lite, newer or
        unrecognised versions) is probed by creating a throwaway collection with a BM25 function,
        inserting one row and searching it by text. The answer is cached per store.
        """
        if self._fts is None:
            lacks = version_lacks_bm25(self.server_version())
            self._fts = False if lacks else probe_bm25(self._connect(), self.describe())
        return self._fts
