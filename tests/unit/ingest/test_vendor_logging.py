"""A vendor logger with its own stderr handlers is routed to the root handlers, repeats held back."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from ingest.stores.vendor_logging import RepeatLimiter, adopt

pytestmark = pytest.mark.unit


@pytest.fixture
def root_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s|%(levelname)s|%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_a_vendor_logger_is_adopted_and_its_flood_held_back(root_stream: io.StringIO) -> None:
    private = io.StringIO()
    vendor = logging.getLogger("vendorlib")
    vendor.addHandler(logging.StreamHandler(private))  # what pymilvus does at import
    vendor.propagate = False
    child = logging.getLogger("vendorlib.client")
    sub = logging.getLogger("vendorlib.special")
    sub.addHandler(logging.StreamHandler(private))
    sub.propagate = False
    adopt("vendorlib")
    adopt("vendorlib")  # idempotent
    for _ in range(500):
        child.warning("Connection recovery failed")
    sub.warning("from a sub-logger with its own handler")
    lines = root_stream.getvalue().splitlines()
    assert lines == [
        "vendorlib.client|WARNING|Connection recovery failed",
        "vendorlib.special|WARNING|from a sub-logger with its own handler",
    ]
    assert private.getvalue() == "", "the vendor's own handlers no longer write"


def test_repeats_come_back_after_the_window_with_a_count() -> None:
    now = [0.0]
    limiter = RepeatLimiter(30.0, clock=lambda: now[0])

    def record(msg: str, line: int = 10) -> logging.LogRecord:
        return logging.LogRecord("lib", logging.WARNING, "lib/client.py", line, msg, None, None)

    assert limiter.filter(record("down: port 1"))
    assert not any(limiter.filter(record(f"down: port {n}")) for n in range(9)), "same call site, other text"
    assert limiter.filter(record("another call site", line=20))
    now[0] = 31.0
    again = record("down")
    assert limiter.filter(again)
    assert again.getMessage() == "down (9 more like it in the last 30 s held back)"
