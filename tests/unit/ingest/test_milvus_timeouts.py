"""Every Milvus call that takes a deadline gets one, except the operations that run long."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.stores.milvus_timeouts import TimedClient

pytestmark = pytest.mark.unit


class Client:
    """The shape of pymilvus's MilvusClient methods."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.uri = "http://milvus:19530"

    def search(self, name: str, data: list[float], timeout: float | None = None) -> str:
        self.calls.append(("search", timeout))
        return name

    def load_collection(self, name: str, timeout: float | None = None) -> None:
        self.calls.append(("load_collection", timeout))

    def close(self) -> None:
        self.calls.append(("close", None))


def test_calls_get_the_deadline_unless_given_one_or_long_running() -> None:
    raw = Client()
    client = TimedClient(raw, 4.0)
    assert client.search("kb", [0.1]) == "kb"
    client.search("kb", [0.1], timeout=60.0)
    client.load_collection("kb")
    client.close()
    assert raw.calls == [("search", 4.0), ("search", 60.0), ("load_collection", None), ("close", None)]
    assert client.uri == raw.uri and client.raw is raw
