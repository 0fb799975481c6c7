"""Re-index jobs refuse to empty a knowledge base by mistake, and name everything they leave out."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import MassDeleteRefused, RootUnavailable
from ingest.locking import KbLock
from ingest.stores.chroma import ChromaStore
from tests.integration.ingest.kb_layout import KbLayout, copy_samples
from tests.integration.ingest.kb_layout import rag_cli as cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
NAMES = ["nw200_datasheet.md", "nw50_faq_zh.txt", "support_guide.html", "fleet_manager_3.4_release_notes.txt"]


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return copy_samples(tmp_path / "docs", NAMES)


@pytest.fixture
def kb(tmp_path: Path, bundled_embedder: Any, docs: Path) -> Iterator[KbLayout]:
    built = KbLayout(tmp_path / "data", bundled_embedder)
    assert built.job().run([docs]).ok
    yield built
    built.close()


def test_a_moved_folder_is_an_error_that_deletes_nothing(kb: KbLayout, docs: Path, tmp_path: Path) -> None:
    chunks = kb.store.count("kb")
    docs.rename(tmp_path / "moved")
    with pytest.raises(RootUnavailable, match="does not exist"):
        kb.job().run([docs])
    result = cli(kb.data_dir, "reindex", str(docs), "--kb", "kb", "--json")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert summary["ok"] is False and summary["status"] == "refused" and "does not exist" in summary["error"]
    assert "nothing was changed" in result.stderr
    assert kb.store.count("kb") == chunks and kb.manifest.count() == len(NAMES)


def test_an_empty_folder_that_held_the_files_is_refused_unless_allowed(kb: KbLayout, docs: Path) -> None:
    chunks = kb.store.count("kb")
    for path in docs.iterdir():
        path.unlink()  # what an unmounted share looks like: an empty mount point
    with pytest.raises(MassDeleteRefused, match=r"is empty, but knowledge base 'kb' holds 4 file\(s\) from it"):
        kb.job(max_delete_share=1.0).run([docs])
    assert kb.store.count("kb") == chunks and kb.manifest.count() == len(NAMES)
    report = kb.job().run([docs], allow_mass_delete=True)
    assert report.deleted == len(NAMES) and kb.store.count("kb") == 0


def test_deleting_more_than_the_share_is_refused_unless_allowed(kb: KbLayout, docs: Path) -> None:
    chunks = kb.store.count("kb")
    for name in NAMES[:3]:
        (docs / name).unlink()
    refused = r"would delete 3 of the 4 files .* \(75%\), more than the limit of 50%"
    with pytest.raises(MassDeleteRefused, match=refused):
        kb.job().run([docs])
    assert kb.store.count("kb") == chunks and kb.manifest.count() == len(NAMES)
    plan = kb.job().plan([docs])
    assert len(plan.deleted) == 3  # a dry run still shows what would go
    assert kb.job(max_delete_share=0.8).run([docs]).deleted == 3  # under a higher limit it runs


def test_a_few_deletions_go_through(kb: KbLayout, docs: Path) -> None:
    (docs / NAMES[0]).unlink()
    assert kb.job().run([docs]).deleted == 1


def test_skipped_inputs_are_named_with_a_reason(kb: KbLayout, docs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "salaries.txt").write_text("Salaries are confidential.\n")
    (docs / "notes.xyz").write_text("an unsupported format\n")
    (docs / "salaries.txt").symlink_to(outside / "salaries.txt")
    (docs / "self.md").symlink_to(docs / "self.md")
    (docs / "gone.md").symlink_to(docs / "nowhere.md")
    (docs / "same_datasheet.md").symlink_to(docs / NAMES[0])  # inside the folder: the same file, once
    (docs / "private").symlink_to(outside)
    (docs / ".git").mkdir()
    (docs / ".git" / "config.txt").write_text("hidden folders are left out silently\n")

    report = kb.job().run([docs])
    reasons = {Path(s.path).name: s.reason for s in report.plan.skipped}
    not_followed = "outside the folders being indexed (not followed)"
    assert reasons == {
        "notes.xyz": "unsupported file type '.xyz'",
        "salaries.txt": f"symbolic link to {outside / 'salaries.txt'}, {not_followed}",
        "self.md": "symbolic link loop (the link points back to itself)",
        "gone.md": f"broken symbolic link (its target {str(docs / 'nowhere.md')!r} does not exist)",
        "private": f"symbolic link to {outside}, {not_followed}",
    }
    assert report.ok and report.indexed == [] and len(report.plan.unchanged) == len(NAMES)
    summary = report.summary()
    assert summary["ignored"] == 5
    assert {"path": str(docs / "notes.xyz"), "reason": "unsupported file type '.xyz'"} in summary["skipped"]  # type: ignore[operator]
    assert not any("Salaries" in hit.text for hit, _ in kb.store.export("kb"))


def test_a_busy_knowledge_base_is_refused_before_the_model_loads(tmp_path: Path) -> None:
    """The lock comes first: a model that cannot load is never tried while another job holds the lock."""
    data_dir = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nSome text.\n")
    unloadable = {"RAG_EMBEDDING__MODEL": str(tmp_path / "no-such-model"), "RAG_EMBEDDING__FALLBACK": ""}
    with KbLock(data_dir / "locks" / "kb.lock", "kb", job="reindex"):
        busy = cli(data_dir, "reindex", str(docs), "--kb", "kb", "--json", **unloadable)
    assert busy.returncode == 75, busy.stderr
    summary = json.loads(busy.stdout)
    assert summary["status"] == "locked" and f"pid {os.getpid()}" in summary["error"]
    failed = cli(data_dir, "reindex", str(docs), "--kb", "kb", "--json", **unloadable)
    assert failed.returncode == 1  # free: now the model is loaded, and fails
    assert json.loads(failed.stdout)["status"] == "failed"


def test_the_rest_job_refuses_a_mass_delete_unless_the_body_allows_it(
    tmp_path: Path, docs: Path, bundled_embedder: Any
) -> None:
    import time

    import httpx

    from ingest.embedders.factory import EmbedderChoice
    from rag.api.app import create_app
    from rag.components import build_components
    from rag.settings import RagSettings
    from tests.fakes.servers import ServerThread

    settings = RagSettings(data_dir=tmp_path / "api-data")
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))

    def job(api: str, **body: Any) -> dict[str, Any]:
        started = httpx.post(f"{api}/kbs/mirror/jobs", json={"paths": [str(docs)], **body}, timeout=30)
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status: dict[str, Any] = httpx.get(f"{api}/jobs/{started.json()['job']['id']}", timeout=10).json()
            if status["state"] not in ("queued", "running"):
                return status
            time.sleep(0.2)
        raise AssertionError("the job did not finish")

    with ServerThread(create_app(settings, components)) as server:
        assert job(server.base_url)["state"] == "succeeded"
        chunks = components.store.count("mirror")
        for name in NAMES[:3]:
            (docs / name).unlink()
        refused = job(server.base_url)
        assert refused["state"] == "failed" and "would delete 3 of the 4 files" in refused["message"]
        assert components.store.count("mirror") == chunks
        allowed = job(server.base_url, allow_mass_delete=True)
        assert allowed["state"] == "succeeded" and allowed["summary"]["deleted"] == 3


@pytest.mark.slow
def test_a_killed_full_rebuild_is_never_listed_and_the_next_job_discards_it(tmp_path: Path, docs: Path) -> None:
    import signal
    import sqlite3

    data_dir = tmp_path / "data"
    assert cli(data_dir, "reindex", str(docs), "--kb", "clean", "--workers", "0").returncode == 0
    killed = cli(
        data_dir, "reindex", str(docs), "--kb", "clean", "--workers", "0", "--full", RAG_FAILPOINT="after_store_write:2"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    store = ChromaStore(data_dir / "chroma")
    assert store.count("_rebuild-clean") > 0  # the copy the killed rebuild was filling
    listed = cli(data_dir, "kb", "list")
    assert listed.returncode == 0 and [line.split()[0] for line in listed.stdout.splitlines()] == ["clean"]
    assert [info.name for info in store.list_kbs()] == ["clean"]

    again = cli(data_dir, "reindex", str(docs), "--kb", "clean", "--workers", "0", "--json")
    assert again.returncode == 0, again.stderr
    assert "discarded the copy left by an interrupted full rebuild of 'clean'" in again.stderr
    assert "_rebuild-clean" not in {c.name for c in store._connect().list_collections()}  # noqa: SLF001
    assert not (data_dir / "manifests" / "clean.rebuild.sqlite").exists()
    with sqlite3.connect(data_dir / "lexical" / "lexical.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM chunks WHERE kb = '_rebuild-clean'").fetchone()[0] == 0
