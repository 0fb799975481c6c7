"""Real servers on 127.0.0.1 for the search-proxy tests: uvicorn in a thread, plain or TLS (trustme)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.servers import ServerThread

__all__ = ["LOCAL", "ServerThread", "TLSFiles"]

# Test servers listen on 127.0.0.1, which the SSRF guard refuses unless explicitly allowlisted.
LOCAL = [ipaddress.ip_network("127.0.0.1/32")]


@dataclass
class TLSFiles:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path
