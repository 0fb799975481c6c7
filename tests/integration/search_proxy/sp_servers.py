"""Real servers on 127.0.0.1 for the search-proxy tests: uvicorn in a thread, plain or TLS (trustme)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from search_proxy.fetch.fetcher import PageFetcher
from search_proxy.fetch.ssrf import IPAddress
from tests.fakes.servers import ServerThread

__all__ = ["LOCAL", "MakeFetcher", "MapResolver", "ServerThread", "TLSFiles"]

MakeFetcher = Callable[..., PageFetcher]  # the ``make_fetcher`` fixture: overrides of FetchSettings -> fetcher

# Test servers listen on 127.0.0.1, which the SSRF guard refuses unless explicitly allowlisted.
LOCAL = [ipaddress.ip_network("127.0.0.1/32")]


@dataclass
class TLSFiles:
    ca_pem: Path
    cert_pem: Path
    key_pem: Path


class MapResolver:
    """Resolves test host names to fixed addresses and counts lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        return [ipaddress.ip_address(ip) for ip in self.table.get(host, [])]
