"""A knowledge base laid out in a data directory as the CLI lays it out (store, manifest, embedding
cache), and the ``rag`` CLI run as a child process over such a directory."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.chunking import ChunkingConfig
from ingest.embed_cache import CachedEmbedder, EmbeddingCache
from ingest.manifest import Manifest
from ingest.reindex import ReindexJob
from ingest.stores.chroma import ChromaStore
from tests.environment import ONNX_CACHE_ENV

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = [
    "nw200_datasheet.md",
    "onboarding_guide_zh.md",
    "nw50_faq_zh.txt",
    "support_guide.html",
    "fleet_manager_3.4_release_notes.txt",
    "security_policy_zh.html",
]


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


def copy_samples(folder: Path, names: list[str] = SAMPLES) -> Path:
    """``folder`` holding copies of the named sample files from ``data/``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(ROOT / "data" / name, folder / name)
    return folder


def Env(data_dir: Path, embedder: Any) -> KbLayout:  # noqa: N802 - reads as the class it builds
    """The layout these tests use: small chunks and small embedding batches, so files make several."""
    return KbLayout(data_dir, embedder, chunking=ChunkingConfig(chunk_tokens=120), embed_batch=8)


def lexical_ids(data_dir: Path, kb: str = "kb") -> list[str]:
    """Chunk ids the BM25 side holds for ``kb`` (read from its SQLite file, as another process would)."""
    path = data_dir / "lexical" / "lexical.sqlite3"
    if not path.exists():
        return []
    with closing(sqlite3.connect(path)) as conn:
        return sorted(r[0] for r in conn.execute("SELECT chunk_id FROM chunks WHERE kb = ?", (kb,)))


@dataclass
class CrashSetup:
    folder: Path
    template: Path  # data dir after the first job
    expected: tuple[list[str], dict[str, tuple[str, str]]]  # state after a clean second job


def make_crash_setup(base: Path, embedder: Any) -> CrashSetup:
    """First job over half the files; then the folder changes (adds, an edit, a deletion); the
    state a clean second job leaves is what a killed and resumed one must converge to."""
    folder = copy_samples(base / "docs", SAMPLES[:3] + ["support_guide.html"])
    clean = Env(base / "template", embedder)
    clean.job().run([folder])
    clean.close()
    shutil.copytree(base / "template", base / "clean")
    (folder / "support_guide.html").unlink()
    (folder / "nw200_datasheet.md").write_text("# NW-200\n\nThe battery now holds 2,400 Wh.\n", encoding="utf-8")
    for name in SAMPLES[3:]:
        if name != "support_guide.html":
            shutil.copy(ROOT / "data" / name, folder / name)
    (folder / "extra_notes.md").write_text("# Pallets\n\nPallets are stacked three high.\n", encoding="utf-8")
    clean = Env(base / "clean", embedder)
    second = clean.job().run([folder])
    assert len(second.plan.to_index()) >= 4 and second.deleted == 1
    expected = clean.state()
    clean.close()
    return CrashSetup(folder, base / "template", expected)
