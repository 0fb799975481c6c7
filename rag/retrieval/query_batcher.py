"""Questions asked at about the same moment are embedded together, in one forward pass.

A forward pass over a few short questions costs little more than over one, and one pass at a
time keeps a server's cores from being oversubscribed by parallel passes. A question waits at
most ``window_s`` for company; a batch never holds more than ``max_batch`` questions; while
``max_running`` batches are in the model, new questions gather for the next one, so a busy
server batches more without waiting longer. A caller that gives up (its request was cancelled)
leaves its question out of a batch not yet started; an exception in a batch reaches each of its
callers. Results are matched to callers by position, never by text.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from rag.metrics import observe_stage

EmbedMany = Callable[[list[str]], list[list[float]]]


@dataclass
class _Pending:
    text: str
    future: asyncio.Future[list[float]]


@dataclass
class _LoopState:
    """What one event loop's callers share: futures belong to the loop that made them."""

    pending: list[_Pending] = field(default_factory=list)
    running: int = 0
    timer: asyncio.TimerHandle | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


class QueryBatcher:
    """``await batcher.embed(question)``: the question's vector, computed in a batch."""

    def __init__(
        self, embed_many: EmbedMany, *, window_s: float = 0.002, max_batch: int = 32, max_running: int = 1
    ) -> None:
        if max_batch < 1 or max_running < 1 or window_s < 0:
            raise ValueError("max_batch and max_running must be at least 1, window_s not negative")
        self.embed_many = embed_many
        self.window_s = window_s
        self.max_batch = max_batch
        self.max_running = max_running
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()

    async def embed(self, text: str) -> list[float]:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        item = _Pending(text, loop.create_future())
        state.pending.append(item)
        self._schedule(loop, state)
        return await item.future  # a cancelled caller cancels its future: _start leaves it out

    def _schedule(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        state.pending = [p for p in state.pending if not p.future.done()]
        if not state.pending or state.running >= self.max_running:
            return  # the batch in the model schedules the next when it ends
        if len(state.pending) >= self.max_batch or self.window_s == 0:
            if state.timer is not None:
                state.timer.cancel()
                state.timer = None
            self._start(loop, state)
        elif state.timer is None:
            state.timer = loop.call_later(self.window_s, self._start, loop, state)

    def _start(self, loop: asyncio.AbstractEventLoop, state: _LoopState) -> None:
        state.timer = None
        live = [p for p in state.pending if not p.future.done()]
        batch, state.pending = live[: self.max_batch], live[self.max_batch :]
        if not batch:
            return
        state.running += 1
        task = loop.create_task(self._run(loop, state, batch))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    async def _run(self, loop: asyncio.AbstractEventLoop, state: _LoopState, batch: list[_Pending]) -> None:
        began = time.perf_counter()
        try:
            vectors = await anyio.to_thread.run_sync(self.embed_many, [p.text for p in batch])
            if len(vectors) != len(batch):
                raise RuntimeError(f"the embedder returned {len(vectors)} vectors for {len(batch)} questions")
        except BaseException as exc:  # each caller hears it; a cancelled batch cancels its callers
            for p in batch:
                if not p.future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        p.future.cancel()
                    else:
                        p.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for p, vector in zip(batch, vectors, strict=True):
                if not p.future.done():
                    p.future.set_result(vector)
        finally:
            state.running -= 1
            observe_stage("embed_query", time.perf_counter() - began)  # once per batch
            self._schedule(loop, state)
