"""Questions searched at once are bounded by ``retrieval.threads``; the rest queue, none is lost."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.components import build_components
from rag.settings import RagSettings
from rag.types import AskRequest

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[3] / "data"


class Overlap:
    """Wraps a retriever's ``retrieve`` to record how many ran at once (each made to last 50 ms)."""

    def __init__(self, retrieve: Any) -> None:
        self.retrieve = retrieve
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)
            return self.retrieve(*args, **kwargs)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, bundled_embedder: Any) -> Path:
    data_dir = tmp_path_factory.mktemp("slots")
    components = build_components(
        RagSettings(data_dir=data_dir), embedder_choice=EmbedderChoice(bundled_embedder, "bundled")
    )
    with components.jobs.open("docs", job="test") as job:
        job.run([DATA / "fleet_manager_3.4_release_notes.txt", DATA / "nw200_datasheet.md"])
    return data_dir


@pytest.mark.parametrize("threads", [1, 3])
async def test_searches_at_once_never_exceed_the_setting(indexed: Path, bundled_embedder: Any, threads: int) -> None:
    settings = RagSettings(data_dir=indexed, retrieval={"threads": threads})
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "bundled"))
    overlap = Overlap(components.retriever.retrieve)
    components.retriever.retrieve = overlap  # type: ignore[method-assign]
    questions = [f"What is the payload of the NW200, case {i}?" for i in range(8)]
    answers = await asyncio.gather(*(components.orchestrator.ask(AskRequest(question=q, kb="docs")) for q in questions))
    assert all(a.sources for a in answers), "every queued question is answered"
    assert overlap.most == threads
