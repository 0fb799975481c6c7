"""The production service under a real uvicorn: API keys from a TOML file, two knowledge bases,
per-key limits, and a fake R1 endpoint (two profiles on it, so fallback can be provoked)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.api.auth import generate_key, hash_key
from rag.cli.keys import toml_record
from rag.components import build_components
from rag.llm.settings import LLMSettings
from rag.logging_setup import JsonFormatter, RedactSecrets, install_record_factory
from rag.settings import ApiKeyRecord, RagSettings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread

ROOT = Path(__file__).resolve().parents[3]
MIXED = ROOT / "tests" / "fixtures" / "mixed_batch"
QUESTION = "What circuit does the charging dock need?"
ANSWER = "The dock needs a dedicated 16 A circuit [citation:1]."
REASONING = "The dock checklist mentions the circuit."
PEPPER = "pepper-for-service-tests"

# name -> (key, record fields)
KEYS: dict[str, tuple[str, dict[str, Any]]] = {
    name: (generate_key(), fields)
    for name, fields in {
        "admin": {"kbs": ["*"], "scopes": ["admin"]},
        "team": {"kbs": ["docs"]},
        "tiny": {"kbs": ["docs"], "requests_per_minute": 3},
        "single": {"kbs": ["docs"], "concurrent_streams": 1},
        "observer": {"kbs": ["docs"]},
        "elsewhere": {"kbs": ["secret"], "scopes": ["ingest", "delete"]},  # every scope, another knowledge base
    }.items()
}


def key(name: str) -> str:
    return KEYS[name][0]


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key(name)}"}


def write_key_file(path: Path, names: list[str] | None = None) -> Path:
    records = [
        ApiKeyRecord(name=name, hash=hash_key(secret, PEPPER), **fields)
        for name, (secret, fields) in KEYS.items()
        if names is None or name in names
    ]
    path.write_text("\n\n".join(toml_record(r) for r in records) + "\n", encoding="utf-8")
    return path


def llm_settings(llm: FakeLLMServer) -> LLMSettings:
    fake = {"base_url": llm.base_url, "model": "fake-r1"}
    return LLMSettings(
        profiles=["primary", "backup"],
        overrides={"primary": fake, "backup": fake},
        max_retries=1,
        backoff_base=0.01,
        backoff_max=0.05,
        stall_timeout=5,
        circuit_failures=0,  # one app serves the package: scripted failures must not open it for the next test
    )


def service_settings(data_dir: Path, llm: FakeLLMServer | None, **overrides: Any) -> RagSettings:
    values: dict[str, Any] = {"data_dir": data_dir, "rate_limit": {"requests_per_minute": 1000}}
    if llm is not None:
        values["llm"] = llm_settings(llm)
    values.update(overrides)
    return RagSettings(**values)


def build_app(settings: RagSettings, embedder: Any, **component_overrides: Any) -> Any:
    components = build_components(settings, embedder_choice=EmbedderChoice(embedder, "test"), **component_overrides)
    return create_app(settings, components)


@pytest.fixture(scope="package")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_llm(llm: FakeLLMServer) -> None:
    llm.default = Script(reasoning=REASONING, answer=ANSWER)
    with llm._lock:  # noqa: SLF001 - drop scripts a failed test left queued
        llm._queue.clear()  # noqa: SLF001


@pytest.fixture(scope="package")
def data_dir(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Path:
    """Two knowledge bases with the same documents: ``docs`` (the team's) and ``secret`` (not)."""
    folder = tmp_path_factory.mktemp("service-data")
    components = build_components(
        service_settings(folder, None), embedder_choice=EmbedderChoice(bundled_embedder, "test")
    )
    for kb in ("docs", "secret"):  # through the job production uses, manifest included
        with components.jobs.open(kb, workers=0) as job:
            report = job.run([MIXED], delete_missing=False)
        assert len(report.indexed) == 2
    return folder


@pytest.fixture(scope="package")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_key_file(tmp_path_factory.mktemp("keys") / "keys.toml")


@pytest.fixture(scope="package")
def api(data_dir: Path, key_file: Path, llm: FakeLLMServer, bundled_embedder: Any) -> Iterator[str]:
    """The service with authentication on (keys from the TOML file, peppered hashes)."""
    settings = service_settings(data_dir, llm, auth={"keys_file": key_file, "pepper": PEPPER})
    with ServerThread(build_app(settings, bundled_embedder)) as server:
        yield server.base_url


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Capture the root logger's records as the service writes them in production (JSON lines)."""
    install_record_factory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
