"""Citations in an answer: the one grammar of citation markers, read and rewritten here only.

A marker is ``[citation:N]`` (and the looser forms models also write: ``[citation: 3]``,
``[citation:1,2]``, ``【citation:3】``, ``[Citation 3]``, bare ``[3]`` or ``[1, 2]``). ``/ask``
and the CLI show every marker as ``[citation:N]``; the OpenAI-compatible API shows it as a
footnote ``[^N]``. Either way a number that matches no source is removed from the text, with
the space before it, and reported by ``map_citations``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from rag.types import Citation, Source

# Bare brackets take at most three digits so that a year such as [2023] is not read as a citation.
# ``space`` is the horizontal space before a marker, removed with a marker that is dropped.
_CITATION = re.compile(
    r"(?P<space>[ \t]*)[\[【]\s*(?:citation\s*[:：]?\s*(?P<tagged>\d+(?:\s*[,，、]\s*\d+)*)"
    r"|(?P<bare>\d{1,3}(?:\s*[,，、]\s*\d{1,3})*))\s*[\]】]",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(r"[,，、]")
# What may still follow an opening bracket for the text so far to become a marker.
_TAGGED_PREFIX = re.compile(r"\s*[:：]?\s*(?:\d+(?:\s*[,，、]\s*\d*)*)?\s*")
_BARE_PREFIX = re.compile(r"\d{1,3}(?:\s*[,，、]\s*\d{0,3})*\s*")
_LONGEST_PENDING = 48


def _numbers(match: re.Match[str]) -> list[int]:
    group = match.group("tagged") or match.group("bare")
    return [int(n) for n in _SEPARATOR.split(group) if n.strip()]


def cited_numbers(answer: str) -> list[int]:
    """Every cited number, in order of appearance, repeats included."""
    return [number for match in _CITATION.finditer(answer) for number in _numbers(match)]


def as_marker(number: int) -> str:
    """The canonical form, as ``/ask`` and the CLI show it."""
    return f"[citation:{number}]"


def as_footnote(number: int) -> str:
    """The Markdown footnote reference, as the OpenAI-compatible API shows it."""
    return f"[^{number}]"


class CitationRewriter:
    """Rewrites the markers of streamed text with ``render``, dropping numbers not in ``known``
    (``None``: keep all), whatever the deltas: a marker (or the space before one) split across
    deltas is held back until it is complete or cannot become one."""

    def __init__(self, known: set[int] | None = None, render: Callable[[int], str] = as_marker) -> None:
        self.known = known
        self.render = render
        self._pending = ""

    def feed(self, text: str) -> str:
        buffer = self._pending + text
        cut = _held_from(buffer)
        buffer, self._pending = buffer[:cut], buffer[cut:]
        return self._rewrite(buffer)

    def flush(self) -> str:
        rest, self._pending = self._pending, ""
        return self._rewrite(rest)

    def rewrite(self, text: str) -> str:
        """A whole text at once."""
        return self.feed(text) + self.flush()

    def _rewrite(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            kept = [n for n in _numbers(match) if self.known is None or n in self.known]
            return match.group("space") + "".join(self.render(n) for n in kept) if kept else ""

        return _CITATION.sub(replace, text)


def _held_from(buffer: str) -> int:
    """Where the tail that may still become a marker starts (``len(buffer)``: nothing to hold)."""
    cut = len(buffer)
    start = max(buffer.rfind("["), buffer.rfind("【"))
    if start != -1 and _could_become_marker(buffer[start:]):
        cut = start
    while cut > 0 and buffer[cut - 1] in " \t":  # a marker to be dropped takes its space along
        cut -= 1
    return cut


def _could_become_marker(tail: str) -> bool:
    if len(tail) > _LONGEST_PENDING or "]" in tail or "】" in tail:
        return False
    body = tail[1:].lstrip()
    if not body:
        return True
    if body[0].isdigit():
        return _BARE_PREFIX.fullmatch(body) is not None
    lowered = body.lower()
    if len(lowered) <= len("citation"):
        return "citation".startswith(lowered)
    return lowered.startswith("citation") and _TAGGED_PREFIX.fullmatch(lowered[len("citation") :]) is not None


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
