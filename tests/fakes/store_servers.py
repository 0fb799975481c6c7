"""Real vector-store servers as child processes on 127.0.0.1: ``chroma run`` and Milvus 2.3 (from
``.venv-milvus``). Each can be killed and started again on the same port and data, so tests can
see what the API does while its store is down and after it comes back.

They run in their own process group and are stopped by group (SIGTERM, then SIGKILL after a
timeout), because Milvus's child survives SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from devtools.milvus_server import INSTALL_SCRIPT, MILVUS_SERVER_BIN, REPO, free_port, milvus_launch


class ServerNotReady(RuntimeError):
    pass


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 5.0, *, kill: bool = False) -> None:
    """SIGTERM the whole group (SIGKILL at once with ``kill``), SIGKILL what is left after ``timeout``."""
    if proc.poll() is None or group_alive(proc.pid):
        try:
            os.killpg(proc.pid, signal.SIGCONT)  # a frozen server cannot act on SIGTERM
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and group_alive(proc.pid):
            proc.poll()
            time.sleep(0.1)
        if group_alive(proc.pid):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    proc.wait(timeout=10)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class StoreServer:
    """A server process that can be started, killed (SIGKILL, as a crash) and started again."""

    name = "store server"
    ready_timeout = 60.0

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        raise NotImplementedError

    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> StoreServer:
        args, env = self.command()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self._wait_until(self.ready, self.ready_timeout)
        return self

    def kill(self) -> None:
        """A crash: SIGKILL to the whole process group, no chance to flush or say goodbye."""
        if self.proc is not None:
            stop_process_group(self.proc, kill=True)
            self.proc = None

    def freeze(self) -> None:
        """A hang: SIGSTOP to the whole group; connections stay open and nothing answers."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process_group(self.proc)
            self.proc = None

    def _wait_until(self, check: Callable[[], bool], timeout: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerNotReady(f"{self.name} exited with {self.proc.returncode}:\n{log_tail(self.log)}")
            try:
                if check():
                    return
            except Exception:
                pass
            time.sleep(0.3)
        raise ServerNotReady(f"{self.name} was not ready after {timeout:.0f} s:\n{log_tail(self.log)}")

    def __enter__(self) -> StoreServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ChromaServer(StoreServer):
    """``chroma run`` (shipped with the chromadb package) on a fixed free port."""

    name = "chroma server"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port = free_port()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> tuple[list[str], dict[str, str]]:
        chroma = Path(sys.executable).with_name("chroma")
        args = [
            str(chroma),
            "run",
            "--path",
            str(self.workdir / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        return args, {**os.environ, "ANONYMIZED_TELEMETRY": "False"}

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.uri}/api/v2/heartbeat", timeout=2) as resp:
            return bool(resp.status == 200)


class MilvusServer(StoreServer):
    """A Milvus 2.3 standalone server from ``.venv-milvus`` (installed by its script when missing)."""

    name = "milvus server"
    ready_timeout = 120.0

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        if not MILVUS_SERVER_BIN.exists():  # installed on first use, so runs that need no server install nothing
            install = subprocess.run(["bash", INSTALL_SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=1200)
            if install.returncode != 0 or not MILVUS_SERVER_BIN.exists():
                raise ServerNotReady(f"{INSTALL_SCRIPT} could not install the Milvus server: {install.stderr[-2000:]}")
        self.launch = milvus_launch(workdir)  # ports chosen once, so a restart answers at the same URI

    @property
    def uri(self) -> str:
        return self.launch.uri

    def command(self) -> tuple[list[str], dict[str, str]]:
        return self.launch.args, self.launch.env

    def ready(self) -> bool:
        from pymilvus import MilvusClient

        with socket.create_connection(("127.0.0.1", self.launch.port), timeout=1):
            pass
        # a connection of its own: pymilvus shares one per address, and the one under test may be
        # in the middle of its own recovery
        client = MilvusClient(uri=self.uri, timeout=5, dedicated=True)
        try:
            client.list_collections()
        finally:
            client.close()
        return True
