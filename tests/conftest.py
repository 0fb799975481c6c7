"""Suite-wide fixtures: no traffic beyond loopback, one shared offline embedding model."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

import tests.environment  # noqa: F401 - sets the shared environment before anything reads it
from tests.tiers import is_exhaustive, is_serial

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths and the like stay on this machine
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a hostname: resolving it to decide would itself be traffic


class ExternalNetworkBlocked(RuntimeError):
    pass


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise ExternalNetworkBlocked(f"tests may only connect to loopback, not {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
        raise ExternalNetworkBlocked(f"tests may only connect to loopback, not {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)
    yield


@pytest.fixture(scope="session")
def bundled_embedder() -> Any:
    """The offline MiniLM model, loaded once for the whole run."""
    from ingest.embedders.factory import bundled_embedder as make

    embedder = make()
    embedder.load()
    return embedder


_LAYER_MARKS = {"unit": "unit", "integration": "integration", "contracts": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by its layer (its folder under tests/), so ``-m unit`` is the fast target,
    and the exhaustive tier and the serial tests (``tests/tiers.py``) as such."""
    tests_root = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if is_exhaustive(item.nodeid):
            item.add_marker(pytest.mark.exhaustive)
        if is_serial(item.nodeid):
            item.add_marker(pytest.mark.serial)
        relative = os.path.relpath(str(item.path), tests_root).split(os.sep)
        mark = _LAYER_MARKS.get(relative[0])
        if mark is not None and item.get_closest_marker(mark) is None:
            item.add_marker(getattr(pytest.mark, mark))
