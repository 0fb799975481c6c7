"""Prompt building: templates from ``prompts/``, numbered sources, a token budget."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

import jinja2

from ingest.embedders.tokens import estimate_tokens

Language = Literal["zh", "en"]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def detect_language(text: str) -> Language:
    """Chinese when CJK characters are a fair share of the letters (mixed questions are common)."""
    cjk = len(_CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    return "zh" if cjk and cjk >= latin_words else "en"


@dataclass(frozen=True, slots=True)
class PromptSource:
    """One source as the model sees it."""

    id: int
    origin: Literal["kb", "web"]
    title: str
    location: str
    text: str
    key: str = ""  # chunk id or URL: ties the packed source back to where it came from


@lru_cache(maxsize=8)
def _environment(prompts_dir: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(prompts_dir),
        autoescape=False,  # plain text for a model, not HTML
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=False,
        # Templates are read once per process: checking each file's mtime on every answer cost 3 %
        # of a request's CPU under load. Edit a prompt, then restart the server.
        auto_reload=False,
    )


def render_prompt(question: str, sources: list[PromptSource], lang: Language, prompts_dir: Path) -> str:
    template = _environment(str(prompts_dir)).get_template(f"answer.{lang}.j2")
    return template.render(
        question=question.strip(),
        sources=sources,
        has_web=any(s.origin == "web" for s in sources),
    ).strip()


def _truncate_to_tokens(text: str, budget: int) -> str:
    """Cut ``text`` to about ``budget`` tokens at a character boundary (binary search on the estimate)."""
    if estimate_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + " …"


def pack_sources(
    kb_sources: list[PromptSource], web_sources: list[PromptSource], budget: int, web_share: float
) -> tuple[list[PromptSource], list[str]]:
    """Fit sources into ``budget`` tokens, best first; web text gets at most ``web_share`` of it.

    A source that does not fit whole is truncated if a useful part (64+ tokens) fits, else left
    out; what was left out is reported. Ids are renumbered 1..n in the order kept.
    """
    warnings: list[str] = []
    web_budget = int(budget * web_share) if kb_sources else budget
    kept: list[PromptSource] = []
    used = 0
    dropped = 0

    def take(source: PromptSource, limit: int) -> int:
        nonlocal dropped
        overhead = estimate_tokens(source.title) + estimate_tokens(source.location) + 12
        room = min(limit, budget - used) - overhead
        cost = estimate_tokens(source.text)
        if cost <= room:
            kept.append(source)
            return cost + overhead
        if room >= 64:
            kept.append(replace(source, text=_truncate_to_tokens(source.text, room)))
            return room + overhead
        dropped += 1
        return 0

    web_used = 0
    for source in web_sources:
        cost = take(source, web_budget - web_used)
        web_used += cost
        used += cost
    kb_kept_before = len(kept)
    for source in kb_sources:
        used += take(source, budget - used)
    if dropped:
        warnings.append(f"{dropped} source(s) left out to fit the context budget of {budget} tokens")
    # Knowledge-base sources first: they are the user's own documents.
    ordered = kept[kb_kept_before:] + kept[:kb_kept_before]
    return [replace(s, id=i) for i, s in enumerate(ordered, start=1)], warnings
