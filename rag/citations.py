"""Citations in an answer: ``[citation:N]`` (and the looser forms models also write) mapped to sources."""

from __future__ import annotations

import re
from collections import Counter

from rag.types import Citation, Source

# [citation:3], [citation: 3], [citation:1,2], 【citation:3】, [Citation 3], and bare [3] / [1, 2].
# Bare brackets take at most three digits so that a year such as [2023] is not read as a citation.
_CITATION = re.compile(
    r"[\[【]\s*(?:citation\s*[:：]?\s*(\d+(?:\s*[,，、]\s*\d+)*)|(\d{1,3}(?:\s*[,，、]\s*\d{1,3})*))\s*[\]】]",
    re.IGNORECASE,
)


def cited_numbers(answer: str) -> list[int]:
    """Every cited number, in order of appearance, repeats included."""
    numbers: list[int] = []
    for match in _CITATION.finditer(answer):
        group = match.group(1) or match.group(2)
        numbers.extend(int(n) for n in re.split(r"[,，、]", group) if n.strip())
    return numbers


def map_citations(answer: str, sources: list[Source]) -> tuple[list[Citation], list[str]]:
    """Citations in first-cited order; numbers that match no source are dropped with a warning."""
    by_id = {s.id: s for s in sources}
    counts = Counter(cited_numbers(answer))
    citations: list[Citation] = []
    unknown: list[int] = []
    for number in dict.fromkeys(cited_numbers(answer)):
        source = by_id.get(number)
        if source is None:
            unknown.append(number)
            continue
        citations.append(
            Citation(source_id=number, title=source.title, uri=source.uri, origin=source.origin, count=counts[number])
        )
    warnings = []
    if unknown:
        listed = ", ".join(str(n) for n in unknown)
        warnings.append(f"the answer cites source number(s) {listed}, which do not exist; those citations were dropped")
    return citations, warnings
