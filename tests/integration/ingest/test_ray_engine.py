"""``rag reindex --engine ray`` on a real local Ray cluster (two CPUs, one for this module): the
same knowledge base as the local engine, the same failures reported, and a job killed anywhere,
or an embedding actor killed mid-batch, converging to the clean state.

Each job is a CLI process joining the module's cluster (``--ray-address``); about 10-15 s each on
two cores, most of it the actor loading the model and the parse workers importing their parsers.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.manifest import Manifest
from ingest.stores.chroma import ChromaStore
from tests.fakes.object_store import S3Server, s3_server
from tests.integration.ingest.kb_layout import (
    ROOT,
    SAMPLES,
    CrashSetup,
    Env,
    copy_samples,
    lexical_ids,
    make_crash_setup,
    rag_cli,
)

ray = pytest.importorskip("ray", reason="the [ray] extra is installed by scripts/install.sh")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture(scope="module")
def ray_address(s3: S3Server) -> Iterator[str]:
    """One local cluster for the module; every job joins it as a driver of its own. Its nodes hold
    the object store's credentials, as a real cluster's nodes (or their pod roles) do."""
    saved = {name: os.environ.get(name) for name in s3.env}
    os.environ.update(s3.env)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="askdocs-tests")
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def reindex(
    data_dir: Path, folder: Path | str, *args: str, engine: str = "ray", address: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    ray_args = ["--engine", "ray", "--ray-address", address] if engine == "ray" else ["--workers", "0"]
    options = ["--kb", "kb", "--json", *ray_args, *args]
    return rag_cli(data_dir, "reindex", str(folder), *options, RAG_CHUNKING__CHUNK_TOKENS="120", **env)


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def snapshot(data_dir: Path) -> tuple[dict[str, tuple[str, str, Any]], dict[str, tuple[Any, ...]], list[str]]:
    """Chunks (text, source, vector) by id, manifest rows by file name, the BM25 side's ids."""
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # another process wrote it since this one last read it
    store = ChromaStore(data_dir / "chroma")
    chunks = {hit.chunk_id: (hit.text, Path(str(hit.metadata["source"])).name, v) for hit, v in store.export("kb")}
    with Manifest(data_dir / "manifests" / "kb.sqlite") as manifest:
        rows = {
            Path(r.path).name: (r.status, r.content_hash, r.doc_id, tuple(r.chunk_ids), r.size, r.mtime_ns)
            + (r.parser_version, r.embedding_model, r.error)
            for r in manifest.all()
        }
    return chunks, rows, lexical_ids(data_dir)


def cosine(a: Any, b: Any) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def assert_same_kb(local: Path, distributed: Path) -> None:
    local_chunks, local_rows, local_lexical = snapshot(local)
    ray_chunks, ray_rows, ray_lexical = snapshot(distributed)
    assert sorted(ray_chunks) == sorted(local_chunks)
    assert {k: v[:2] for k, v in ray_chunks.items()} == {k: v[:2] for k, v in local_chunks.items()}
    assert ray_rows == local_rows
    assert ray_lexical == local_lexical
    worst = min(cosine(local_chunks[k][2], ray_chunks[k][2]) for k in local_chunks)
    assert worst >= 0.9999, worst


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return copy_samples(tmp_path / "docs")


def test_the_ray_engine_builds_what_the_local_engine_builds(tmp_path: Path, folder: Path, ray_address: str) -> None:
    local, distributed = tmp_path / "local", tmp_path / "ray"
    first_local = reindex(local, folder, engine="local")
    first_ray = reindex(distributed, folder, address=ray_address)
    assert first_local.returncode == 0 and first_ray.returncode == 0, first_ray.stderr
    ray_summary, local_summary = summary(first_ray), summary(first_local)
    assert ray_summary["engine"] == "ray" and local_summary["engine"] == "local"
    assert ray_summary["indexed"] == len(SAMPLES) and ray_summary["chunks_written"] == local_summary["chunks_written"]
    assert_same_kb(local, distributed)

    # an edit, a deletion and an addition: the same plan, shown by --dry-run, then the same result
    (folder / "nw200_datasheet.md").write_text("# NW-200\n\nThe battery now holds 2,400 Wh.\n", encoding="utf-8")
    (folder / "support_guide.html").unlink()
    (folder / "pallets.md").write_text("# Pallets\n\nPallets are stacked three high.\n", encoding="utf-8")
    plan = summary(reindex(distributed, folder, "--dry-run", address=ray_address))
    assert (len(plan["new"]), len(plan["changed"]), len(plan["deleted"])) == (1, 1, 1), plan
    assert snapshot(distributed)[1] == snapshot(local)[1]  # a dry run changes nothing
    second_local = reindex(local, folder, engine="local")
    second_ray = reindex(distributed, folder, address=ray_address)
    assert second_ray.returncode == 0, second_ray.stderr
    counts = ("new", "changed", "deleted", "unchanged", "chunks_written")
    assert {k: summary(second_ray)[k] for k in counts} == {k: summary(second_local)[k] for k in counts}
    assert summary(second_ray)["unchanged"] == len(SAMPLES) - 2
    assert_same_kb(local, distributed)


def test_a_full_rebuild_on_the_cluster_swaps_in_the_same_kb(tmp_path: Path, folder: Path, ray_address: str) -> None:
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert reindex(local, folder, engine="local").returncode == 0
    assert reindex(distributed, folder, address=ray_address).returncode == 0
    rebuilt = reindex(distributed, folder, "--full", address=ray_address)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert summary(rebuilt)["new"] == len(SAMPLES)  # built from scratch into the staging copy
    assert_same_kb(local, distributed)


def test_a_corrupt_file_among_good_ones_is_reported_and_the_rest_indexed(
    tmp_path: Path, folder: Path, ray_address: str
) -> None:
    for name in ("truncated.pdf", "not_really.docx"):
        shutil.copy(ROOT / "tests" / "fixtures" / "bad_files" / name, folder / name)
    result = reindex(tmp_path / "data", folder, address=ray_address)
    assert result.returncode == 2, result.stderr
    report = summary(result)
    assert report["status"] == "partial" and report["indexed"] == len(SAMPLES)
    assert sorted(Path(f["path"]).name for f in report["failed"]) == ["not_really.docx", "truncated.pdf"]
    assert all(f["reason"] for f in report["failed"])
    rows = snapshot(tmp_path / "data")[1]
    assert rows["truncated.pdf"][0] == "failed" and sum(r[0] == "indexed" for r in rows.values()) == len(SAMPLES)


@pytest.fixture(scope="module")
def crash_setup(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> CrashSetup:
    return make_crash_setup(tmp_path_factory.mktemp("crash"), bundled_embedder)


@pytest.mark.parametrize("failpoint", ["after_parse:2", "after_embed:1", "after_store_write:3"])
def test_a_killed_ray_job_then_rerun_converges(
    tmp_path: Path, crash_setup: CrashSetup, bundled_embedder: Any, failpoint: str, ray_address: str
) -> None:
    data_dir = tmp_path / "crashed"
    shutil.copytree(crash_setup.template, data_dir)
    killed = reindex(data_dir, crash_setup.folder, address=ray_address, RAG_FAILPOINT=failpoint)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = reindex(data_dir, crash_setup.folder, address=ray_address)
    assert resumed.returncode == 0, resumed.stderr
    after = Env(data_dir, bundled_embedder)
    try:
        ids, records = after.state()
        assert records == crash_setup.expected[1]
        assert ids == crash_setup.expected[0]  # no duplicates, no orphans, none missing
        assert len(ids) == after.store.count("kb") == after.manifest.indexed_chunk_count()
        assert lexical_ids(data_dir) == ids
    finally:
        after.close()


def test_an_embedding_actor_killed_mid_batch_is_restarted_and_nothing_is_lost(
    tmp_path: Path, folder: Path, ray_address: str
) -> None:
    fired = tmp_path / "actor-killed"
    local, distributed = tmp_path / "local", tmp_path / "ray"
    assert reindex(local, folder, engine="local").returncode == 0
    # the actor SIGKILLs itself on its second batch; Ray restarts it and sends that batch again
    result = reindex(
        distributed, folder, address=ray_address, RAG_FAILPOINT="actor_embed:2", RAG_FAILPOINT_ONCE=str(fired)
    )
    assert result.returncode == 0, result.stderr
    assert fired.exists()  # the actor really died mid-job
    assert summary(result)["indexed"] == len(SAMPLES)
    assert_same_kb(local, distributed)


def test_files_in_an_object_store_are_parsed_by_the_workers(
    tmp_path: Path, folder: Path, ray_address: str, s3: S3Server
) -> None:
    s3.bucket("handbook")
    for path in sorted(folder.iterdir()):
        s3.put("handbook", f"docs/{path.name}", path.read_bytes())
    root = "s3://handbook/docs"
    local = reindex(tmp_path / "local", root, engine="local", **s3.env)
    distributed = reindex(tmp_path / "ray", root, address=ray_address, **s3.env)
    assert local.returncode == 0 and distributed.returncode == 0, distributed.stderr
    assert summary(distributed)["indexed"] == len(SAMPLES)
    assert_same_kb(tmp_path / "local", tmp_path / "ray")
    with Manifest(tmp_path / "ray" / "manifests" / "kb.sqlite") as manifest:
        assert sorted(r.path for r in manifest.all()) == sorted(f"{root}/{name}" for name in SAMPLES)


def test_a_file_that_crashes_its_parser_fails_alone_and_its_batch_is_indexed(
    tmp_path: Path, folder: Path, ray_address: str
) -> None:
    (folder / "poison.md").write_text("# Poison\n\nThe parser dies on this file.\n", encoding="utf-8")
    result = reindex(
        tmp_path / "data", folder, address=ray_address, RAG_FAILPOINT="parse poison.md", RAG_RAY__MAX_RETRIES="1"
    )
    assert result.returncode == 2, result.stderr
    report = summary(result)
    assert report["indexed"] == len(SAMPLES)  # the files that shared its task are indexed
    assert report["failed"] == [
        {"path": str((folder / "poison.md").resolve()), "reason": "the parser crashed its process on every try"}
    ]
