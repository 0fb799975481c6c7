"""Durations and sizes as warnings print them."""

from __future__ import annotations

import pytest

from servicekit.formatting import byte_count, seconds

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "text"),
    [(2.74271, "2.7 s"), (5.0, "5 s"), (12.4, "12 s"), (0.6, "0.6 s"), (0.25, "0.25 s"), (0.004, "4 ms")],
)
def test_seconds_are_short_and_spaced(value: float, text: str) -> None:
    assert seconds(value) == text


def test_byte_counts_keep_the_exact_limit() -> None:
    assert byte_count(2_000_000) == "2,000,000 bytes"
