"""Numbers as people read them in warnings and error messages ("2.7 s", not "2.74271s")."""

from __future__ import annotations


def seconds(value: float) -> str:
    """A duration: whole seconds from 10 s up, one decimal below that, milliseconds under 0.01 s."""
    if value >= 10:
        return f"{value:.0f} s"
    if value >= 1:
        return f"{value:.1f}".removesuffix(".0") + " s"
    if value >= 0.01:
        return f"{value:.2f}".rstrip("0").rstrip(".") + " s"
    return f"{value * 1000:.0f} ms"


def byte_count(value: int) -> str:
    """A size in bytes with thousands separators, exact because limits are configured in bytes."""
    return f"{value:,} bytes"
