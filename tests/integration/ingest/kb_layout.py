"""A knowledge base laid out in a data directory as the CLI lays it out (store, manifest, embedding
cache), and the ``rag`` CLI run as a child process over such a directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ingest.embed_cache import CachedEmbedder, EmbeddingCache
from ingest.manifest import Manifest
from ingest.reindex import ReindexJob
from ingest.stores.chroma import ChromaStore
from tests.environment import ONNX_CACHE_ENV

ROOT = Path(__file__).resolve().parents[3]


class KbLayout:
    """Store, manifest and cache of the knowledge base ``kb``; ``job`` builds a re-index job over them."""

    def __init__(self, data_dir: Path, embedder: Any, **job_defaults: Any) -> None:
        self.data_dir = data_dir
        self.store = ChromaStore(data_dir / "chroma")
        self.cache = EmbeddingCache(data_dir / "embedding_cache.sqlite")
        self.manifest = Manifest(data_dir / "manifests" / "kb.sqlite")
        self.embedder = CachedEmbedder(embedder, self.cache)
        self.job_defaults = {"workers": 0, **job_defaults}

    def job(self, **options: Any) -> ReindexJob:
        return ReindexJob("kb", self.embedder, self.store, self.manifest, **{**self.job_defaults, **options})

    def state(self) -> tuple[list[str], dict[str, tuple[str, str]]]:
        ids = sorted(hit.chunk_id for hit, _ in self.store.export("kb"))
        records = {Path(r.path).name: (r.status, r.content_hash) for r in self.manifest.all()}
        return ids, records

    def close(self) -> None:
        self.manifest.close()
        self.cache.close()


def rag_cli(data_dir: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m rag.cli ARGS`` over ``data_dir`` with the bundled model, offline; ``env`` adds settings."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == ONNX_CACHE_ENV}
    environ.update(
        {"RAG_DATA_DIR": str(data_dir), "RAG_EMBEDDING__MODEL": "bundled:all-minilm-l6-v2", "HF_HUB_OFFLINE": "1"}
    )
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], env=environ, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
