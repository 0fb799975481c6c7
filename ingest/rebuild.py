"""Full rebuilds that switch over only when complete: build a staging copy, then swap it in.

The swap touches two things (the store's collection and the manifest file), so it is recorded
in a marker file first; any later job on the knowledge base finishes a swap it finds half done.
Queries see the old index until the swap and the new one after; during the swap itself (a drop
and a rename) a query may briefly find the knowledge base missing.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ingest.pipeline import KbIndexSink
from ingest.stores.base import VectorStore

log = logging.getLogger(__name__)


def staging_name(kb: str) -> str:
    return f"{kb[:54]}-rebuild"


class KbFiles:
    """Where one knowledge base's manifest, staging manifest and swap marker live."""

    def __init__(self, data_dir: Path, kb: str) -> None:
        self.kb = kb
        self.manifest = data_dir / "manifests" / f"{kb}.sqlite"
        self.staging_manifest = data_dir / "manifests" / f"{kb}.rebuild.sqlite"
        self.swap_marker = data_dir / "manifests" / f"{kb}.swap.json"
        self.lock = data_dir / "locks" / f"{kb}.lock"

    def discard_staging(self, store: VectorStore, sinks: Sequence[KbIndexSink] = ()) -> None:
        """Forget a rebuild that never reached its swap."""
        for sink in sinks:
            sink.drop_kb(staging_name(self.kb))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.staging_manifest}{suffix}").unlink(missing_ok=True)
        if any(info.name == staging_name(self.kb) for info in store.list_kbs()):
            store.drop_kb(staging_name(self.kb))

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
