"""End to end on Milvus Lite: /ask gives the same top source as on Chroma for every sample question.

The sample KB is indexed into Chroma by the real CLI, copied to Milvus Lite by ``rag kb migrate``,
and also indexed straight into Milvus Lite by the CLI in a second data directory, and in a third
with ``retrieval.lexical_backend = "store"``, where Milvus ranks the lexical side itself. Each API is
built by ``build_components`` from the same settings with only ``store.backend`` changed, so
whatever retrieval does (dense, lexical, fusion) is the same on every side and only the vector
store differs (and, on the third side, who computes BM25). Sources are compared between
backends, not against a hard-coded list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embedders.factory import EmbedderChoice
from ingest.lexical.delegated import StoreFullTextIndex
from rag.api.app import create_app
from rag.components import build_components
from rag.llm.settings import LLMSettings
from rag.settings import RagSettings
from tests.environment import ONNX_CACHE_ENV
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread

# two CLI ingests and a migration run in the module fixtures: more than the default 300 s on 2 busy cores
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = [json.loads(line) for line in (ROOT / "tests" / "e2e" / "sample_questions.jsonl").read_text().splitlines()]
SAMPLE_FILES = {p.name for p in (ROOT / "data").iterdir()}
RAG = [sys.executable, "-m", "rag.cli"]


def _rag(
    data_dir: Path, *args: str, backend: str = "chroma", lexical: str = "bm25"
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") or k == ONNX_CACHE_ENV}
    env.update(
        RAG_RETRIEVAL__LEXICAL_BACKEND=lexical,
        RAG_DATA_DIR=str(data_dir),
        RAG_EMBEDDING__MODEL="bundled:all-minilm-l6-v2",
        RAG_STORE__BACKEND=backend,
        HF_HUB_OFFLINE="1",
        COLUMNS="200",
    )
    return subprocess.run([*RAG, *args], env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)


def _ingest(data_dir: Path, backend: str, lexical: str = "bm25") -> int:
    result = _rag(data_dir, "ingest", str(ROOT / "data"), "--kb", "sample", "--json", backend=backend, lexical=lexical)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["failed"] == [] and summary["indexed"] == len(SAMPLE_FILES)
    return int(summary["chunks_written"])


@pytest.fixture(scope="module")
def migrated_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """data/ in Chroma, then copied to Milvus Lite (``data_dir/milvus.db``) by the CLI."""
    data_dir = tmp_path_factory.mktemp("chroma-then-milvus")
    chunks = _ingest(data_dir, "chroma")
    result = _rag(data_dir, "kb", "migrate", "--kb", "sample", "--from", "chroma", "--to", "milvus")
    assert result.returncode == 0, result.stderr
    assert f"copied {chunks} chunks of 'sample'" in result.stdout
    return data_dir, chunks


@pytest.fixture(scope="module")
def lite_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """data/ indexed straight into Milvus Lite by the CLI."""
    data_dir = tmp_path_factory.mktemp("milvus-direct")
    return data_dir, _ingest(data_dir, "milvus")


@pytest.fixture(scope="module")
def store_bm25_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """data/ indexed into Milvus Lite by the CLI, with Milvus's own BM25 as the lexical side."""
    data_dir = tmp_path_factory.mktemp("milvus-bm25")
    return data_dir, _ingest(data_dir, "milvus", lexical="store")


@pytest.fixture(scope="module")
def apis(
    migrated_dir: tuple[Path, int],
    lite_dir: tuple[Path, int],
    store_bm25_dir: tuple[Path, int],
    bundled_embedder: Any,
) -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        llm = stack.enter_context(FakeLLMServer(Script(answer="Per the top source [citation:1].")))
        llm_settings = LLMSettings(profiles=["fake"], overrides={"fake": {"base_url": llm.base_url, "model": "r1"}})
        sides = {
            "chroma": (migrated_dir[0], "chroma", "bm25"),
            "milvus-lite (migrated)": (migrated_dir[0], "milvus", "bm25"),
            "milvus-lite (ingested)": (lite_dir[0], "milvus", "bm25"),
            "milvus-lite (store BM25)": (store_bm25_dir[0], "milvus", "store"),
        }
        urls: dict[str, str] = {}
        for name, (data_dir, backend, lexical) in sides.items():
            settings = RagSettings(
                data_dir=data_dir, store={"backend": backend}, retrieval={"lexical_backend": lexical}, llm=llm_settings
            )
            components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
            assert components.store.kb_info("sample").count > 0
            urls[name] = stack.enter_context(ServerThread(create_app(settings, components))).base_url
        yield urls


def test_both_milvus_copies_hold_every_chunk(migrated_dir: tuple[Path, int], lite_dir: tuple[Path, int]) -> None:
    assert migrated_dir[1] == lite_dir[1] > 0  # same chunking and ids on both backends


def test_store_bm25_serves_the_lexical_side_alone(store_bm25_dir: tuple[Path, int], bundled_embedder: Any) -> None:
    """Milvus ranks BM25 for the knowledge base; nothing was written to our own lexical index."""
    data_dir, chunks = store_bm25_dir
    settings = RagSettings(data_dir=data_dir, store={"backend": "milvus"}, retrieval={"lexical_backend": "store"})
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    lexical = components.lexical
    assert isinstance(lexical, StoreFullTextIndex) and lexical.delegated("sample")
    assert not lexical.fallback.has_kb("sample")
    assert lexical.count("sample") == chunks
    assert lexical.search("sample", "NW-200 battery capacity", 3)


@pytest.mark.parametrize("case", QUESTIONS, ids=[q["expected_source"] for q in QUESTIONS])
def test_milvus_lite_gives_the_same_top_source_as_chroma(apis: dict[str, str], case: dict[str, Any]) -> None:
    tops: dict[str, str] = {}
    for name, base_url in apis.items():
        response = httpx.post(f"{base_url}/ask", json={"question": case["question"], "kb": "sample"}, timeout=60)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert body["sources"], name
        tops[name] = Path(body["sources"][0]["uri"]).name
        assert body["citations"][0]["uri"] == body["sources"][0]["uri"], name
    assert tops["chroma"] in SAMPLE_FILES
    assert set(tops.values()) == {tops["chroma"]}, tops
