"""Turning knowledge-base hits and web results into numbered sources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.types import Hit
from rag.prompting import Language, PromptSource
from rag.types import Source


def kb_location(hit: Hit, lang: Language) -> str:
    name = Path(hit.source).name or hit.source
    parts = [name]
    pages = hit.pages
    if pages:
        span = str(pages[0]) if len(pages) == 1 else f"{pages[0]}-{pages[-1]}"
        parts.append(f"第{span}页" if lang == "zh" else f"page {span}")
    if hit.section and hit.section != hit.title:
        parts.append(hit.section)
    return ", ".join(parts) if lang == "en" else "，".join(parts)


def kb_prompt_source(index: int, hit: Hit, lang: Language) -> PromptSource:
    return PromptSource(
        id=index, origin="kb", title=hit.title, location=kb_location(hit, lang), text=hit.text, key=hit.chunk_id
    )


def web_prompt_source(index: int, result: Any) -> PromptSource:
    text = (getattr(result, "content", None) or getattr(result, "snippet", "") or "").strip()
    return PromptSource(
        id=index,
        origin="web",
        title=str(result.title or result.url),
        location=str(result.url),
        text=text,
        key=str(result.url),
    )


def kb_source(source_id: int, hit: Hit) -> Source:
    return Source(
        id=source_id,
        origin="kb",
        title=hit.title,
        uri=hit.source,
        snippet=hit.text,
        score=round(hit.score, 4),
        doc_id=hit.doc_id,
        chunk_id=hit.chunk_id,
        pages=list(hit.pages),
        section=hit.section,
    )


def web_source(source_id: int, result: Any, text: str) -> Source:
    return Source(
        id=source_id,
        origin="web",
        title=str(result.title or result.url),
        uri=str(result.url),
        snippet=text,
        site=getattr(result, "site", None),
        published_at=getattr(result, "published_at", None),
    )
