"""The command line of a local Milvus 2.3 server from ``.venv-milvus``, on free loopback ports.

Shared by the contract tests and the vector-store benchmark, which each own the process they
start (and stop it by process group: Milvus's child survives SIGTERM).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MILVUS_SERVER_BIN = REPO / ".venv-milvus" / "bin" / "milvus-server"
INSTALL_SCRIPT = "scripts/install_milvus_server.sh"
# Every component port the launcher templates gets a free port of its own, so a second server on
# the machine (another test run, a benchmark) cannot collide with this one.
_PORT_OPTIONS = (
    "--root-coord-port",
    "--proxy-internal-port",
    "--query-coord-port",
    "--query-node-port",
    "--index-coord-port",
    "--index-node-port",
    "--data-coord-port",
    "--data-node-port",
)
_COMPONENTS = ("rootCoord", "proxy", "queryCoord", "queryNode", "indexNode", "dataCoord", "dataNode")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class MilvusLaunch:
    """What to run (``args`` with ``env``) and where the server will answer."""

    args: list[str]
    env: dict[str, str]
    port: int
    data: Path

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def milvus_launch(workdir: Path) -> MilvusLaunch:
    """Prepare a server whose data lives under ``workdir/data``; writes its etcd configuration."""
    workdir.mkdir(parents=True, exist_ok=True)
    proxy_port, etcd_port, etcd_peer_port = free_port(), free_port(), free_port()
    # Embedded etcd's peer port (2380) is not in the launcher's template; Milvus reads the
    # embedded etcd configuration path from the environment.
    etcd_config = workdir / "embed-etcd.yaml"
    etcd_config.write_text(
        f"listen-client-urls: http://127.0.0.1:{etcd_port}\n"
        f"advertise-client-urls: http://127.0.0.1:{etcd_port}\n"
        f"listen-peer-urls: http://127.0.0.1:{etcd_peer_port}\n"
        f"initial-advertise-peer-urls: http://127.0.0.1:{etcd_peer_port}\n"
        f"initial-cluster: default=http://127.0.0.1:{etcd_peer_port}\n"
    )
    data = workdir / "data"
    args = [str(MILVUS_SERVER_BIN), "--data", str(data), "--proxy-port", str(proxy_port), "--etcd-port", str(etcd_port)]
    for option in _PORT_OPTIONS:
        args += [option, str(free_port())]
    for component in _COMPONENTS:  # advertise loopback addresses between components
        args += ["--extra-config", f"{component}.ip=127.0.0.1"]
    return MilvusLaunch(args, {**os.environ, "ETCD_CONFIG_PATH": str(etcd_config)}, proxy_port, data)
