"""Full rebuilds that switch over only when complete: build a staging copy, then swap it in.

The swap touches two things (the store's collection and the manifest file), so it is recorded
in a marker file first; any later job on the knowledge base finishes a swap it finds half done.
Queries see the old index until the swap and the new one after; during the swap itself (a drop
and a rename) a query may briefly find the knowledge base missing.

A rebuild killed before its swap leaves its copy behind. The copy's name (``_rebuild-<kb>``)
is one no knowledge base may take, so listings never show it, and the next job of any kind on
the knowledge base discards it (a rebuild starts again from scratch; the embedding cache keeps
that from costing the embeddings again).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.errors import KnowledgeBaseNotFound
from ingest.sinks import KbIndexSink
from ingest.stores.base import VectorStore
from ingest.stores.naming import working_copy_name

log = logging.getLogger(__name__)


def staging_name(kb: str) -> str:
    return working_copy_name(kb, "rebuild")


class KbFiles:
    """Where one knowledge base's manifest, staging manifest and swap marker live."""

    def __init__(self, data_dir: Path, kb: str) -> None:
        self.kb = kb
        self.manifest = data_dir / "manifests" / f"{kb}.sqlite"
        self.staging_manifest = data_dir / "manifests" / f"{kb}.rebuild.sqlite"
        self.swap_marker = data_dir / "manifests" / f"{kb}.swap.json"
        self.lock = data_dir / "locks" / f"{kb}.lock"

    def discard_staging(self, store: VectorStore, sinks: Sequence[KbIndexSink] = ()) -> bool:
        """Forget a rebuild that never reached its swap; True when there was one to forget."""
        found = self.staging_manifest.exists()
        for sink in sinks:
            sink.drop_kb(staging_name(self.kb))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.staging_manifest}{suffix}").unlink(missing_ok=True)
        try:
            store.drop_kb(staging_name(self.kb))
            found = True
        except KnowledgeBaseNotFound:
            pass
        if found:
            log.warning("discarded the copy left by an interrupted full rebuild of %r", self.kb)
        return found

    def begin_swap(self) -> None:
        tmp = self.swap_marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"kb": self.kb, "staging": staging_name(self.kb)}), encoding="utf-8")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.swap_marker)

    def finish_swap(self, store: VectorStore, sinks: Sequence[KbIndexSink] = ()) -> bool:
        """Complete a recorded swap (idempotent); False when none is pending."""
        if not self.swap_marker.exists():
            return False
        store.replace_kb(self.kb, staging_name(self.kb))
        for sink in sinks:
            sink.replace_kb(self.kb, staging_name(self.kb))
        if self.staging_manifest.exists():
            for suffix in ("-wal", "-shm"):
                Path(f"{self.manifest}{suffix}").unlink(missing_ok=True)
            os.replace(self.staging_manifest, self.manifest)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.staging_manifest}{suffix}").unlink(missing_ok=True)
        self.swap_marker.unlink()
        log.warning("knowledge base %r now serves its rebuilt index", self.kb)
        return True
