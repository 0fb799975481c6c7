"""Incremental re-indexing: every kind of change reflected exactly in store and manifest, and
a job killed with SIGKILL at any point converges, on the next run, to what a clean run gives."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import JobLocked
from ingest.loaders import parser_version
from ingest.locking import KbLock
from tests.environment import ONNX_CACHE_ENV
from tests.integration.ingest.kb_layout import (
    SAMPLES,
    CrashSetup,
    Env,
    copy_samples,
    lexical_ids,
    make_crash_setup,
    rag_cli,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return copy_samples(tmp_path / "docs")


@pytest.fixture
def env(tmp_path: Path, bundled_embedder: Any) -> Iterator[Env]:
    e = Env(tmp_path / "data", bundled_embedder)
    yield e
    e.close()


def doc_chunks(env: Env, name: str) -> list[str]:
    return [hit.text for hit, _ in env.store.export("kb") if Path(str(hit.metadata["source"])).name == name]


def test_add_change_delete_rename_and_unchanged(env: Env, folder: Path) -> None:
    first = env.job().run([folder])
    assert len(first.indexed) == len(SAMPLES) and first.ok
    ids, records = env.state()
    assert len(ids) == first.chunks_written == env.store.count("kb")
    assert set(records) == set(SAMPLES) and all(s == "indexed" for s, _ in records.values())

    again = env.job().run([folder])
    assert again.indexed == [] and len(again.plan.unchanged) == len(SAMPLES)
    assert env.state()[0] == ids

    (folder / "nw200_datasheet.md").write_text("# NW-200\n\nThe battery now holds 2,400 Wh.\n", encoding="utf-8")
    (folder / "support_guide.html").unlink()
    (folder / "nw50_faq_zh.txt").rename(folder / "nw50_faq_renamed.txt")
    (folder / "brand_new.md").write_text("# Pallets\n\nPallets are stacked three high.\n", encoding="utf-8")
    report = env.job().run([folder])
    assert sorted(Path(f.path).name for f in report.plan.new) == ["brand_new.md", "nw50_faq_renamed.txt"]
    assert [Path(f.path).name for f in report.plan.changed] == ["nw200_datasheet.md"]
    assert sorted(Path(r.path).name for r in report.plan.deleted) == ["nw50_faq_zh.txt", "support_guide.html"]
    assert report.cache_hits > 0  # the renamed file's text was embedded before

    ids, records = env.state()
    assert set(records) == {*SAMPLES, "brand_new.md", "nw50_faq_renamed.txt"} - {
        "nw50_faq_zh.txt",
        "support_guide.html",
    }
    assert doc_chunks(env, "support_guide.html") == [] and doc_chunks(env, "nw50_faq_zh.txt") == []
    assert doc_chunks(env, "nw200_datasheet.md") == ["NW-200\n\nThe battery now holds 2,400 Wh."]
    assert len(ids) == env.store.count("kb") == env.manifest.indexed_chunk_count()


def test_touch_without_content_change_is_not_reindexed(env: Env, folder: Path) -> None:
    env.job().run([folder])
    os.utime(folder / "nw200_datasheet.md", None)
    report = env.job().run([folder])
    assert report.indexed == [] and "nw200_datasheet.md" in {Path(p).name for p in report.plan.unchanged}


def test_a_file_parsed_by_an_older_parser_is_parsed_again(env: Env, folder: Path) -> None:
    first = env.job().run([folder])
    before = env.state()
    path = str((folder / "nw50_faq_zh.txt").resolve())
    record = env.manifest.get(path)
    assert record is not None and record.parser_version == parser_version(path)
    env.manifest.put(dataclasses.replace(record, parser_version="unstructured-0.27/askdocs-1"))

    report = env.job().run([folder])
    assert [f.path for f in report.plan.changed] == [path]
    assert len(report.plan.unchanged) == len(SAMPLES) - 1
    assert report.cache_hits == len(record.chunk_ids)  # same text, so nothing is embedded again
    assert env.state() == before and first.chunks_written == env.store.count("kb")
    assert env.manifest.get(path).parser_version == parser_version(path)  # type: ignore[union-attr]


def test_a_corrupt_file_fails_while_the_rest_is_indexed_and_stays_failing(env: Env, folder: Path) -> None:
    shutil.copy(ROOT / "tests" / "fixtures" / "bad_files" / "truncated.pdf", folder / "broken.pdf")
    report = env.job().run([folder])
    assert [Path(f.path).name for f in report.failed] == ["broken.pdf"] and not report.ok
    assert len(report.indexed) == len(SAMPLES)
    second = env.job().run([folder])
    assert [Path(r.path).name for r in second.plan.failing] == ["broken.pdf"] and not second.ok


def test_a_second_job_on_the_same_kb_is_refused_by_name(tmp_path: Path) -> None:
    lock_path = tmp_path / "locks" / "kb.lock"
    with KbLock(lock_path, "kb", job="reindex"):
        with pytest.raises(JobLocked, match=rf"'kb' is busy: a reindex job \(pid {os.getpid()}"):
            with KbLock(lock_path, "kb"):
                pass
        with KbLock(tmp_path / "locks" / "other.lock", "other"):
            pass  # another knowledge base is free
    with KbLock(lock_path, "kb"):
        pass  # released on exit


def _cli(data_dir: Path, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return rag_cli(
        data_dir, "reindex", str(folder), "--kb", "kb", "--workers", "0", RAG_CHUNKING__CHUNK_TOKENS="120", **env
    )


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> CrashSetup:
    return make_crash_setup(tmp_path_factory.mktemp("crash"), bundled_embedder)


@pytest.mark.slow
@pytest.mark.parametrize(
    "failpoint",
    ["after_parse:2", "after_embed:1", "after_writing_marker:2", "after_store_write:3", "after_delete_marker:1"],
)
def test_sigkill_at_any_point_then_rerun_converges(
    tmp_path: Path, crash_setup: CrashSetup, bundled_embedder: Any, failpoint: str
) -> None:
    data_dir = tmp_path / "crashed"
    shutil.copytree(crash_setup.template, data_dir)
    killed = _cli(data_dir, crash_setup.folder, RAG_FAILPOINT=failpoint)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = _cli(data_dir, crash_setup.folder)
    assert resumed.returncode == 0, resumed.stderr
    after = Env(data_dir, bundled_embedder)
    try:
        ids, records = after.state()
        assert records == crash_setup.expected[1]
        assert ids == crash_setup.expected[0]  # same chunks: no duplicates, no orphans, none missing
        assert len(ids) == after.store.count("kb") == after.manifest.indexed_chunk_count()
        assert lexical_ids(data_dir) == ids  # the BM25 side converged too (backfilled, then kept in step)
    finally:
        after.close()


def _components(data_dir: Path, embedder: Any) -> Any:
    from ingest.embedders.factory import EmbedderChoice
    from ingest.settings import ChunkingSettings
    from rag.components import build_indexing
    from rag.settings import RagSettings

    settings = RagSettings(data_dir=data_dir, chunking=ChunkingSettings(chunk_tokens=120))
    return build_indexing(settings, embedder_choice=EmbedderChoice(embedder, "test"))


def test_full_rebuild_switches_over_only_when_complete(tmp_path: Path, folder: Path, bundled_embedder: Any) -> None:
    components = _components(tmp_path / "data", bundled_embedder)
    with components.jobs.open("kb", workers=0) as job:
        job.run([folder])
    before = components.store.count("kb")
    (folder / "support_guide.html").unlink()
    (folder / "nw200_datasheet.md").write_text("# NW-200\n\nThe battery now holds 2,400 Wh.\n", encoding="utf-8")
    with components.jobs.open("kb", workers=0, full=True) as job:
        report = job.run([folder])
        assert len(report.plan.new) == len(SAMPLES) - 1  # built from scratch
        assert components.store.count("kb") == before  # queries still see the old index
        assert len(lexical_ids(tmp_path / "data")) == before  # on both sides
        assert not any("2,400 Wh" in h.text for h in components.lexical.search("kb", "battery 2,400 Wh", 20))
    names = {Path(str(h.metadata["source"])).name for h, _ in components.store.export("kb")}
    assert "support_guide.html" not in names and "nw200_datasheet.md" in names
    assert [kb.name for kb in components.store.list_kbs()] == ["kb"]
    assert lexical_ids(tmp_path / "data") == sorted(h.chunk_id for h, _ in components.store.export("kb"))
    assert lexical_ids(tmp_path / "data", "kb-rebuild") == []
    assert "2,400 Wh" in components.lexical.search("kb", "battery 2,400 Wh", 5)[0].text
    with components.jobs.open("kb", workers=0) as job:
        again = job.run([folder])
        manifest_chunks = job.manifest.indexed_chunk_count()
    assert again.indexed == [] and again.deleted == 0  # the swapped-in manifest matches the store
    assert components.store.count("kb") == manifest_chunks


@pytest.mark.slow
def test_a_crash_during_the_swap_is_finished_by_the_next_job(
    tmp_path: Path, folder: Path, bundled_embedder: Any
) -> None:
    data_dir = tmp_path / "data"
    first = _cli(data_dir, folder)
    assert first.returncode == 0, first.stderr
    (folder / "support_guide.html").unlink()
    environ_extra = {"RAG_FAILPOINT": "after_swap_marker"}
    killed = subprocess.run(
        [sys.executable, "-m", "rag.cli", "reindex", str(folder), "--kb", "kb", "--workers", "0", "--full"],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == ONNX_CACHE_ENV},
            "RAG_DATA_DIR": str(data_dir),
            "RAG_EMBEDDING__MODEL": "bundled:all-minilm-l6-v2",
            "RAG_CHUNKING__CHUNK_TOKENS": "120",
            "HF_HUB_OFFLINE": "1",
            **environ_extra,
        },
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (data_dir / "manifests" / "kb.swap.json").exists()
    resumed = _cli(data_dir, folder)
    assert resumed.returncode == 0, resumed.stderr
    assert not (data_dir / "manifests" / "kb.swap.json").exists()
    after = Env(data_dir, bundled_embedder)
    try:
        ids, records = after.state()
        assert "support_guide.html" not in records and len(records) == len(SAMPLES) - 1
        assert len(ids) == after.store.count("kb") == after.manifest.indexed_chunk_count()
        assert [kb.name for kb in after.store.list_kbs()] == ["kb"]
        assert lexical_ids(data_dir) == ids and lexical_ids(data_dir, "kb-rebuild") == []
    finally:
        after.close()
