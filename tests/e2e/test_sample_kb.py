"""End to end: the CLI indexes data/, then each sample question finds and cites its one right document."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.components import build_components
from rag.llm.settings import LLMSettings
from rag.settings import RagSettings
from tests.environment import ONNX_CACHE_ENV
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [json.loads(line) for line in (ROOT / "tests" / "e2e" / "sample_questions.jsonl").read_text().splitlines()]
RAG = [sys.executable, "-m", "rag.cli"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == ONNX_CACHE_ENV}
    env.update(
        RAG_DATA_DIR=str(data_dir),
        RAG_EMBEDDING__MODEL="bundled:all-minilm-l6-v2",
        HF_HUB_OFFLINE="1",
        COLUMNS="200",
        **extra,
    )
    return env


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/ indexed by the real CLI, as a user would."""
    data_dir = tmp_path_factory.mktemp("e2e")
    result = subprocess.run(
        [*RAG, "ingest", str(ROOT / "data"), "--kb", "sample", "--json"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["indexed"] == len(list((ROOT / "data").iterdir()))
    assert summary["failed"] == [] and summary["chunks_written"] > 0
    return data_dir


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(Script(answer="Per the top source [citation:1].")) as server:
        yield server


@pytest.fixture(scope="module")
def api(data_dir: Path, llm: FakeLLMServer, bundled_embedder: Any) -> Iterator[str]:
    settings = RagSettings(
        data_dir=data_dir,
        llm=LLMSettings(profiles=["fake"], overrides={"fake": {"base_url": llm.base_url, "model": "r1"}}),
    )
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    with ServerThread(create_app(settings, components)) as server:
        yield server.base_url


@pytest.mark.parametrize("case", QUESTIONS, ids=[q["expected_source"] for q in QUESTIONS])
def test_the_right_document_is_the_top_source_and_is_cited(api: str, llm: FakeLLMServer, case: dict[str, Any]) -> None:
    before = len(llm.requests)
    response = httpx.post(f"{api}/ask", json={"question": case["question"], "kb": "sample"}, timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    top = body["sources"][0]
    assert Path(top["uri"]).name == case["expected_source"], [Path(s["uri"]).name for s in body["sources"]]
    assert body["citations"][0]["uri"] == top["uri"]
    prompt = llm.requests[before].body["messages"][-1]["content"]
    for needle in case["answer_contains"]:
        assert needle in prompt  # the fact reached the model
    template_marker = "请仅根据" if case["lang"] == "zh" else "Answer the question below"
    assert template_marker in prompt


def test_cli_ask_streams_a_cited_answer(data_dir: Path, llm: FakeLLMServer) -> None:
    env = _env(
        data_dir,
        RAG_LLM__PROFILES="fake",
        RAG_LLM__OVERRIDES__FAKE__BASE_URL=llm.base_url,
        RAG_LLM__OVERRIDES__FAKE__MODEL="r1",
    )
    result = subprocess.run(
        [*RAG, "ask", "How long is the standard hardware warranty?", "--kb", "sample"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "[1]" in result.stdout and "warranty_policy.pdf" in result.stdout
    assert "Per the top source [citation:1]." in result.stdout
    assert "cited:" in result.stdout


def test_cli_without_a_model_is_retrieval_only_and_says_so(data_dir: Path) -> None:
    result = subprocess.run(
        [*RAG, "ask", "What is the support hotline number?", "--kb", "sample", "--json"],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["mode"] == "retrieval_only" and body["answer"] == ""
    assert "No language model is configured" in body["notice"]
    assert any(Path(s["uri"]).name == "support_guide.html" for s in body["sources"][:3])


def test_cli_ingest_reports_skipped_files_with_exit_code_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RAG, "ingest", str(ROOT / "tests" / "fixtures" / "mixed_batch"), "--kb", "mixed"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stderr
    assert "truncated.pdf" in result.stdout and "truncated or damaged PDF" in result.stdout
    assert "indexed 2 file(s), failed 1" in result.stdout


def test_cli_help_explains_every_command() -> None:
    for command in (["--help"], ["ingest", "--help"], ["ask", "--help"], ["serve", "--help"], ["demo", "--help"]):
        result = subprocess.run([*RAG, *command], capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 0 and "Usage" in result.stdout
