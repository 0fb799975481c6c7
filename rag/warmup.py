"""Everything a first question would pay for, paid once before the server reports ready.

A process loads lazily: jieba's dictionary (about a second), the model's first forward pass,
each knowledge base's BM25 matrix and vector index, the store's collection handles. uvicorn
accepts no connection until the app's start-up ends, so warming there keeps ``/readyz`` honest:
once it answers, the first Chinese question costs what the second does. Each knowledge base is
asked one question through the real retriever, within a time budget so a server with many
knowledge bases still starts; one that fails is logged and left to fail on its own requests.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ingest.lexical.tokenize import load_dictionaries
from rag.retrieval.base import Retriever

log = logging.getLogger(__name__)

# English and Chinese, so both tokenizer paths and the embedding of both scripts run once.
WARM_UP_QUESTION = "What is the warranty period? 保修期是多久？"


@dataclass(frozen=True, slots=True)
class WarmUp:
    warmed: list[str]
    skipped: list[str]
    failed: dict[str, str]
    seconds: float


def warm_up(retriever: Retriever, kbs: list[str], budget_s: float) -> WarmUp:
    """Load the dictionaries and ask each of ``kbs`` one question until ``budget_s`` is spent."""
    began = time.perf_counter()
    load_dictionaries()
    if retriever.embeds_questions:
        retriever.embedder.embed_queries([WARM_UP_QUESTION])
    warmed: list[str] = []
    failed: dict[str, str] = {}
    for i, kb in enumerate(kbs):
        if time.perf_counter() - began >= budget_s:
            return _done(began, warmed, kbs[i:], failed)
        try:
            retriever.retrieve(WARM_UP_QUESTION, kb, 1)
            warmed.append(kb)
        except Exception as exc:  # an unreadable knowledge base must not keep the server down
            failed[kb] = str(exc)
    return _done(began, warmed, [], failed)


def _done(began: float, warmed: list[str], skipped: list[str], failed: dict[str, str]) -> WarmUp:
    result = WarmUp(warmed, skipped, failed, time.perf_counter() - began)
    log.info(
        "warmed up in %.1f s: %d knowledge base(s)%s",
        result.seconds,
        len(warmed),
        f", {len(skipped)} left cold (api.warm_up_s spent)" if skipped else "",
    )
    for kb, reason in failed.items():
        log.warning("warm-up of knowledge base %r failed: %s", kb, reason)
    return result
