"""Fixtures for the vector-store contract suite: every backend, embedded and as a real server.

Servers run as child processes on 127.0.0.1 for the whole session and are stopped by process
group (SIGTERM, then SIGKILL after a timeout), because Milvus's child survives SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.milvus_server import INSTALL_SCRIPT, MILVUS_SERVER_BIN, free_port, milvus_launch
from ingest.errors import KnowledgeBaseNotFound
from ingest.stores.base import VectorStore
from ingest.stores.factory import build_store
from ingest.stores.milvus import MilvusStore

from .helpers import BACKENDS, HNSW


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the whole group, SIGKILL what is left after ``timeout`` seconds."""
    if proc.poll() is None or _group_alive(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _group_alive(proc.pid):
            proc.poll()
            time.sleep(0.2)
        if _group_alive(proc.pid):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_until(check: Callable[[], bool], proc: subprocess.Popen[bytes], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode} before it was ready:\n{_log_tail(log)}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.3)
    pytest.fail(f"{what} was not ready after {timeout:.0f}s:\n{_log_tail(log)}")


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (``chroma run``) on a free loopback port; yields its URI."""
    workdir = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    chroma = Path(sys.executable).with_name("chroma")
    log = workdir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(workdir / "data"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
    try:

        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as resp:
                return bool(resp.status == 200)

        _wait_until(ready, proc, 60, "chroma server", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_group(proc)


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Milvus 2.3 server from ``.venv-milvus``; yields its URI. Fails if not installed."""
    if not MILVUS_SERVER_BIN.exists():
        pytest.fail(
            f"{MILVUS_SERVER_BIN} is missing: run `{INSTALL_SCRIPT}` to install the Milvus server the "
            "contract tests run against (it creates .venv-milvus/)",
            pytrace=False,
        )
    workdir = tmp_path_factory.mktemp("milvus-server")
    launch = milvus_launch(workdir)
    log = workdir / "launcher.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            launch.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=launch.env
        )
    uri = launch.uri
    try:

        def ready() -> bool:
            with socket.create_connection(("127.0.0.1", launch.port), timeout=1):
                pass
            store = MilvusStore(uri, timeout=5)
            try:
                store.list_kbs()
            finally:
                store.close()
            return True

        _wait_until(ready, proc, 120, "milvus server", log)
        yield uri
    finally:
        stop_process_group(proc)


class StorePool:
    """One store per backend for the session, servers started only when a backend is used."""

    def __init__(self, request: pytest.FixtureRequest, root: Path) -> None:
        self._request = request
        self._root = root
        self._stores: dict[str, VectorStore] = {}

    def get(self, backend: str) -> VectorStore:
        if backend not in self._stores:
            self._stores[backend] = self._build(backend)
        return self._stores[backend]

    def _build(self, backend: str) -> VectorStore:
        if backend == "chroma":
            return build_store("chroma", path_or_uri=self._root / "chroma", hnsw=HNSW)
        if backend == "chroma-server":
            return build_store("chroma", path_or_uri=self._request.getfixturevalue("chroma_server"), hnsw=HNSW)
        if backend == "milvus-lite":
            return build_store("milvus", path_or_uri=self._root / "milvus-lite.db", hnsw=HNSW)
        if backend == "milvus-server":
            return build_store("milvus", path_or_uri=self._request.getfixturevalue("milvus_server"), hnsw=HNSW)
        raise ValueError(backend)


@pytest.fixture(scope="session")
def store_pool(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> StorePool:
    return StorePool(request, tmp_path_factory.mktemp("stores"))


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(store_pool: StorePool, backend: str) -> VectorStore:
    return store_pool.get(backend)


@pytest.fixture
def new_kb(request: pytest.FixtureRequest) -> Iterator[Callable[[VectorStore], str]]:
    """Hands out fresh knowledge-base names (with a '-' to exercise name mapping); drops them after."""
    created: list[tuple[VectorStore, str]] = []

    def make(store: VectorStore) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        created.append((store, name))
        return name

    yield make
    for store, name in created:
        try:
            store.drop_kb(name)
        except KnowledgeBaseNotFound:
            pass
