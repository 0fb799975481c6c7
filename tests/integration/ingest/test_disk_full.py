"""A data directory that fills up mid-job: a clear error, the previous contents still answer, and
a later run with space completes. The data directory is a small tmpfs mounted for the test (the
suite runs as root); a machine where it cannot be mounted fails this test, it does not skip it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.manifest import Manifest
from ingest.stores.chroma import ChromaStore
from tests.integration.ingest.kb_layout import rag_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[3]
FIRST = ["nw200_datasheet.md", "support_guide.html", "fleet_manager_3.4_release_notes.txt"]
NEW_FILES = 8


def _mount(target: Path, size: str, *, remount: bool = False) -> None:
    options = f"remount,size={size}" if remount else f"size={size}"
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs for the disk-full test ({' '.join(command)}): {result.stderr.strip()}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "data"
    target.mkdir()
    _mount(target, "256m")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, timeout=30)


def _reindex(data_dir: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return rag_cli(data_dir, "reindex", str(folder), "--kb", "kb", "--workers", "0")


def _used_kib(path: Path) -> int:
    stats = os.statvfs(path)
    return (stats.f_blocks - stats.f_bfree) * stats.f_frsize // 1024


def _answers(store: ChromaStore, embedder: Any, question: str) -> list[str]:
    return [Path(h.source).name for h in store.search("kb", embedder.embed_query(question), 3)]


def test_a_full_data_directory_stops_the_job_clearly_and_loses_nothing(
    data_dir: Path, tmp_path: Path, bundled_embedder: Any
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in FIRST:
        shutil.copy(ROOT / "data" / name, docs / name)
    first = _reindex(data_dir, docs)
    assert first.returncode == 0, first.stderr
    serving = ChromaStore(data_dir / "chroma")  # opened before the disk fills, as a running API has it
    question = "What is the battery capacity of the NW-200?"
    assert _answers(serving, bundled_embedder, question)[0] == "nw200_datasheet.md"

    for i in range(NEW_FILES):  # 25 chunks each: more vectors, text and index pages than the space left
        paragraphs = [f"Section {i}.{j}: aisle {i * 40 + j} holds pallets of part {i}-{j}. " * 12 for j in range(25)]
        (docs / f"inventory_{i:02d}.md").write_text(f"# Inventory {i}\n\n" + "\n\n".join(paragraphs) + "\n")
    _mount(data_dir, f"{_used_kib(data_dir) + 256}k", remount=True)  # a quarter of a megabyte left

    full = _reindex(data_dir, docs)
    assert full.returncode == 1, full.stderr
    assert f"the data directory {data_dir} is full" in full.stderr, full.stderr
    assert "Traceback" not in full.stderr
    assert _answers(serving, bundled_embedder, question)[0] == "nw200_datasheet.md"

    _mount(data_dir, "256m", remount=True)
    again = _reindex(data_dir, docs)
    assert again.returncode == 0, again.stderr
    with Manifest(data_dir / "manifests" / "kb.sqlite") as manifest:
        statuses = {Path(r.path).name: r.status for r in manifest.all()}
        chunks = manifest.indexed_chunk_count()
    assert len(statuses) == len(FIRST) + NEW_FILES and set(statuses.values()) == {"indexed"}
    reopened = ChromaStore(data_dir / "chroma")
    assert reopened.count("kb") == chunks
    assert _answers(reopened, bundled_embedder, question)[0] == "nw200_datasheet.md"
