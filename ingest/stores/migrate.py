"""Copy a knowledge base between vector stores (Chroma <-> Milvus, embedded <-> server) without re-embedding.

The source's stored vectors, texts and metadata are read with ``VectorStore.export`` and written
to the target with ``ensure_kb`` + ``upsert``, under the embedding model and dimension the source
recorded, so the copy is as tied to its model as the original. The copy is written to a staging
knowledge base on the target and swapped in with ``replace_kb`` only once it is complete and
counted, so an interrupted migration never leaves a half-filled knowledge base behind, and with
``replace=True`` the old target stays searchable until the swap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ingest.errors import KnowledgeBaseExists, KnowledgeBaseNotFound, MigrationError, VectorIndexError
from ingest.stores.base import VectorStore
from ingest.stores.naming import validate_kb_name, working_copy_name
from ingest.types import Chunk, Hit

_CORE_KEYS = frozenset({"kb", "doc_id", "source", "title", "chunk_index", "content_hash", "pages", "section"})
Progress = Callable[[int, int], None]  # (chunks copied so far, chunks in the source)


@dataclass(frozen=True, slots=True)
class MigrationReport:
    kb: str
    target_kb: str
    embedding_model: str
    dimension: int
    copied: int
    replaced: bool  # an existing target knowledge base was overwritten
    seconds: float


def migration_staging_name(kb: str) -> str:
    """Where the copy is built on the target (not the rebuild copy: a full re-index may be using that)."""
    return working_copy_name(kb, "migrate")


def hit_to_chunk(hit: Hit, kb: str) -> Chunk:
    """Rebuild the ``Chunk`` whose ``metadata()`` a store returned, now belonging to ``kb``."""
    meta = hit.metadata
    missing = {"doc_id", "source", "chunk_index"} - meta.keys()
    if missing:
        raise MigrationError(f"chunk {hit.chunk_id!r} lacks metadata {sorted(missing)}; it was not written by ingest")
    return Chunk(
        chunk_id=hit.chunk_id,
        kb=kb,
        doc_id=str(meta["doc_id"]),
        source=str(meta["source"]),
        title=str(meta.get("title", "")),
        text=hit.text,
        chunk_index=int(meta["chunk_index"]),
        content_hash=str(meta.get("content_hash", "")),
        pages=hit.pages,
        section=hit.section,
        extra={k: v for k, v in meta.items() if k not in _CORE_KEYS},
    )


def _batches(items: Iterable[tuple[Hit, list[float]]], size: int) -> Iterator[list[tuple[Hit, list[float]]]]:
    batch: list[tuple[Hit, list[float]]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _exists(store: VectorStore, kb: str) -> bool:
    try:
        store.kb_info(kb)
    except KnowledgeBaseNotFound:
        return False
    return True


def _describe(store: VectorStore) -> str:
    describe: Any = getattr(store, "describe", None)
    return str(describe()) if callable(describe) else type(store).__name__


def migrate_kb(
    source: VectorStore,
    target: VectorStore,
    kb: str,
    *,
    target_kb: str | None = None,
    replace: bool = False,
    batch_size: int = 512,
    progress: Progress | None = None,
) -> MigrationReport:
    """Copy ``kb`` from ``source`` into ``target`` (as ``target_kb``, default the same name).

    Raises ``KnowledgeBaseNotFound`` when the source lacks ``kb``, ``KnowledgeBaseExists`` when
    the target has it and ``replace`` is false, ``MigrationError`` when the copy does not verify,
    and ``VectorIndexError`` when either store fails. On any failure the staging copy is dropped
    and the target's knowledge base is untouched.
    """
    name = validate_kb_name(target_kb or kb)
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    started = time.perf_counter()
    info = source.kb_info(kb)
    if not info.embedding_model or info.dimension <= 0:
        raise MigrationError(f"knowledge base {kb!r} in {_describe(source)} does not record its embedding model")
    existed = _exists(target, name)
    if existed and not replace:
        raise KnowledgeBaseExists(name, _describe(target))
    staging = migration_staging_name(name)
    if _exists(target, staging):  # left by an interrupted migration
        target.drop_kb(staging)
    target.ensure_kb(staging, info.embedding_model, info.dimension)
    copied = 0
    try:
        if progress:
            progress(0, info.count)
        for batch in _batches(source.export(kb, batch_size=batch_size), batch_size):
            chunks = [hit_to_chunk(hit, name) for hit, _ in batch]
            vectors = [vector for _, vector in batch]
            wrong = next((v for v in vectors if len(v) != info.dimension), None)
            if wrong is not None:
                raise MigrationError(f"a vector of {kb!r} has {len(wrong)} dimensions, the kb records {info.dimension}")
            target.upsert(staging, chunks, vectors)
            copied += len(batch)
            if progress:
                progress(copied, info.count)
        flush: Any = getattr(target, "flush", None)
        if callable(flush):  # Milvus: seal and index the bulk load before it serves queries
            flush(staging)
        expected, stored = source.count(kb), target.count(staging)
        if not copied == stored == expected:
            raise MigrationError(
                f"copy of {kb!r} does not verify: read {copied}, wrote {stored}, source now holds {expected}"
            )
        target.replace_kb(name, staging)
    except BaseException:
        try:
            target.drop_kb(staging)
        except (KnowledgeBaseNotFound, VectorIndexError):
            pass  # the original error is the one to report
        raise
    return MigrationReport(
        kb=kb,
        target_kb=name,
        embedding_model=info.embedding_model,
        dimension=info.dimension,
        copied=copied,
        replaced=existed,
        seconds=time.perf_counter() - started,
    )
