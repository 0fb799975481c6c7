"""Citation parsing and mapping to sources."""

from __future__ import annotations

import pytest

from rag.citations import cited_numbers, map_citations
from rag.types import Source

pytestmark = pytest.mark.unit


def sources(n: int) -> list[Source]:
    return [
        Source(id=i, title=f"T{i}", uri=f"/docs/{i}.md", snippet="s", origin="web" if i == 3 else "kb")
        for i in range(1, n + 1)
    ]


@pytest.mark.parametrize(
    ("answer", "numbers"),
    [
        ("A [citation:1].", [1]),
        ("A [citation: 2] and [citation:1,3].", [2, 1, 3]),
        ("中文【citation:2】回答[citation：1]。", [2, 1]),
        ("Loose [2] and [1, 3] forms.", [2, 1, 3]),
        ("Years like [2023] are not citations.", []),
        ("[Citation 4]", [4]),
        ("No citations at all.", []),
    ],
)
def test_cited_numbers(answer: str, numbers: list[int]) -> None:
    assert cited_numbers(answer) == numbers


def test_mapping_counts_orders_and_keeps_origin() -> None:
    citations, warnings = map_citations("x [citation:3] y [citation:1] z [citation:3]", sources(3))
    assert [(c.source_id, c.count, c.origin) for c in citations] == [(3, 2, "web"), (1, 1, "kb")]
    assert citations[1].uri == "/docs/1.md" and citations[1].title == "T1"
    assert warnings == []


def test_numbers_without_a_source_are_dropped_and_reported() -> None:
    citations, warnings = map_citations("x [citation:2] y [citation:7][citation:0]", sources(2))
    assert [c.source_id for c in citations] == [2]
    assert len(warnings) == 1 and "7, 0" in warnings[0]
