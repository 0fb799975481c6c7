"""The query micro-batcher: each caller gets its own question's vector, batches respect the cap,
a caller that gives up is left out, and a failure reaches every caller of its batch."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rag.retrieval.query_batcher import QueryBatcher

pytestmark = pytest.mark.unit


class Recorder:
    """An embedder that records each batch it is given; a text's vector is [len, first letter]."""

    def __init__(self, gate: threading.Event | None = None, fail: Exception | None = None) -> None:
        self.batches: list[list[str]] = []
        self.gate = gate
        self.fail = fail
        self.started = threading.Event()

    def __call__(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(list(texts))
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail is not None:
            raise self.fail
        return [[float(len(t)), float(ord(t[0]))] for t in texts]


def vector(text: str) -> list[float]:
    return [float(len(text)), float(ord(text[0]))]


async def test_concurrent_questions_share_one_pass_and_each_gets_its_own_vector() -> None:
    embed = Recorder()
    batcher = QueryBatcher(embed, window_s=0.05)
    texts = ["a", "bb", "ccc", "dddd", "a"]  # a repeated question is embedded per caller, in place
    results = await asyncio.gather(*(batcher.embed(t) for t in texts))
    assert results == [vector(t) for t in texts]
    assert embed.batches == [texts]


async def test_a_batch_never_exceeds_the_cap() -> None:
    embed = Recorder()
    batcher = QueryBatcher(embed, window_s=0.05, max_batch=2)
    texts = [f"{c}{i}" for i, c in enumerate("abcde")]
    results = await asyncio.gather(*(batcher.embed(t) for t in texts))
    assert results == [vector(t) for t in texts]
    assert [len(b) for b in embed.batches] == [2, 2, 1]
    assert [t for b in embed.batches for t in b] == texts  # in arrival order


async def test_questions_arriving_while_a_batch_runs_gather_for_the_next() -> None:
    gate = threading.Event()
    embed = Recorder(gate)
    batcher = QueryBatcher(embed, window_s=0.0, max_running=1)
    first = asyncio.ensure_future(batcher.embed("first"))
    await asyncio.to_thread(embed.started.wait, 10)
    later = [asyncio.ensure_future(batcher.embed(t)) for t in ("x", "yy", "zzz")]
    await asyncio.sleep(0.02)
    assert embed.batches == [["first"]]  # one pass at a time
    gate.set()
    assert await first == vector("first")
    assert [await f for f in later] == [vector(t) for t in ("x", "yy", "zzz")]
    assert embed.batches == [["first"], ["x", "yy", "zzz"]]


async def test_a_caller_that_gives_up_is_left_out_of_the_batch() -> None:
    embed = Recorder()
    batcher = QueryBatcher(embed, window_s=0.05)
    tasks = [asyncio.ensure_future(batcher.embed(t)) for t in ("keep", "drop", "also")]
    await asyncio.sleep(0)  # all three are waiting for the window
    tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert done[0] == vector("keep") and done[2] == vector("also")
    assert embed.batches == [["keep", "also"]]


async def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_runs() -> None:
    embed = Recorder(fail=RuntimeError("model server went away"))
    batcher = QueryBatcher(embed, window_s=0.05)
    done = await asyncio.gather(*(batcher.embed(t) for t in ("a", "b", "c")), return_exceptions=True)
    assert [str(e) for e in done] == ["model server went away"] * 3
    assert all(isinstance(e, RuntimeError) for e in done)
    embed.fail = None
    assert await batcher.embed("again") == vector("again")


async def test_a_wrong_number_of_vectors_is_an_error_not_a_shifted_answer() -> None:
    batcher = QueryBatcher(lambda texts: [[1.0]] * (len(texts) - 1), window_s=0.05)
    done = await asyncio.gather(*(batcher.embed(t) for t in ("a", "b")), return_exceptions=True)
    assert all(isinstance(e, RuntimeError) and "1 vectors for 2 questions" in str(e) for e in done)


def test_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError):
        QueryBatcher(lambda texts: [], max_batch=0)
