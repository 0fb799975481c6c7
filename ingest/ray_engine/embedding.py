"""Embedding in long-lived Ray actors: each loads the model once and embeds the batches the job's
driver sends; the driver sees them as one ``Embedder``.

An actor lost mid-batch (its process killed, its node gone) is restarted by Ray, which loads the
model again and runs the lost call again, at most ``max_retries`` times (``max_restarts`` and
``max_task_retries``): nothing is written before its vectors are back, so nothing is lost or
written twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ingest.embedders.base import encoder_id
from ingest.errors import EmbeddingError
from ingest.failpoints import failpoint
from ingest.ray_engine.cluster import ClusterShape
from ingest.ray_engine.tokens import TokenCounter, token_counter_of
from ingest.settings import EmbeddingSettings, RaySettings


@dataclass(frozen=True, slots=True)
class EncoderFacts:
    """What the driver needs of the model without loading it."""

    model_id: str
    encoder_id: str
    dimension: int
    max_input_tokens: int
    counter: TokenCounter
    requested: str
    fallback_reason: str | None


class EmbeddingWorker:
    """The actor's class (made remote in ``start_actors``): the configured embedder, loaded once."""

    def __init__(self, settings: EmbeddingSettings, threads: int | None) -> None:
        from ingest.embedders.cpu_threads import set_torch_threads
        from ingest.embedders.factory import load_embedder

        set_torch_threads(threads or _node_cpus())
        self.choice = load_embedder(settings)
        self.embedder = self.choice.embedder

    def facts(self) -> EncoderFacts:
        embedder = self.embedder
        return EncoderFacts(
            model_id=embedder.model_id,
            encoder_id=encoder_id(embedder),
            dimension=embedder.dimension,
            max_input_tokens=embedder.max_input_tokens,
            counter=token_counter_of(embedder),
            requested=self.choice.requested,
            fallback_reason=self.choice.fallback_reason,
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        failpoint("actor_embed")  # crash tests: an actor lost mid-batch
        return np.asarray(self.embedder.embed_documents(texts), dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embedder.embed_queries(texts), dtype=np.float32)


def _node_cpus() -> int:
    """The CPUs Ray counts on this actor's node (a pod's limit under KubeRay), not the host's."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    for info in ray.nodes():  # type: ignore[no-untyped-call]
        if info.get("NodeID") == node:
            return max(1, int(info.get("Resources", {}).get("CPU", 1)))
    return os.cpu_count() or 1


@dataclass(frozen=True, slots=True)
class ActorPlan:
    """How many actors, what each asks of the cluster, and how the encoder runs in it."""

    count: int
    options: dict[str, Any]
    settings: EmbeddingSettings
    threads: int | None
    batch: int  # texts per call to one actor: one encoder batch


def plan_actors(settings: EmbeddingSettings, shape: ClusterShape, ray: RaySettings) -> ActorPlan:
    """One actor per GPU (torch on the GPU, batches of ``gpu_batch``, no token bound), else one
    per node with the node's cores as encoder threads.

    An actor reserves one CPU only while at least one is left for parsing: on a one-CPU instance
    a reserving actor would leave every parse task waiting for ever.
    """
    retries = {"max_restarts": ray.max_retries, "max_task_retries": ray.max_retries}
    threads, batch = ray.actor_threads, ray.gpu_batch_size
    if shape.gpus > 0:
        count = ray.embed_actors or shape.gpus
        on_gpu = settings.model_copy(update={"device": "cuda", "batch_size": batch, "batch_tokens": 0})
        reserve = 1 if shape.cpus > count else 0
        return ActorPlan(count, {"num_gpus": 1, "num_cpus": reserve, **retries}, on_gpu, threads, batch)
    count = ray.embed_actors or max(1, min(shape.nodes, shape.cpus))
    reserve = 1 if shape.cpus > count else 0
    return ActorPlan(count, {"num_cpus": reserve, **retries}, settings, threads, settings.batch_size)


class RayEmbedder:
    """An ``Embedder`` whose model lives in actors: a call's texts are cut into one contiguous
    part per actor (a window arrives sorted by tokens, so each part pads evenly) and embedded
    at once; vectors come back in order. Token counts are the model's own, counted here."""

    def __init__(self, actors: list[Any], facts: EncoderFacts) -> None:
        self._actors = actors
        self._facts = facts

    @property
    def model_id(self) -> str:
        return self._facts.model_id

    @property
    def encoder_id(self) -> str:
        return self._facts.encoder_id

    @property
    def dimension(self) -> int:
        return self._facts.dimension

    @property
    def max_input_tokens(self) -> int:
        return self._facts.max_input_tokens

    @property
    def counter(self) -> TokenCounter:
        return self._facts.counter

    @property
    def actors(self) -> int:
        return len(self._actors)

    @property
    def requested(self) -> str:
        return self._facts.requested

    @property
    def fallback_reason(self) -> str | None:
        """Why the actors embed with the fallback model, when they do."""
        return self._facts.fallback_reason

    def load(self) -> None:
        """The actors loaded the model when they started."""

    def count_tokens(self, text: str) -> int:
        return self._facts.counter(text)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._spread(texts, "embed")()

    def submit_documents(self, texts: list[str]) -> Callable[[], list[list[float]]]:
        """Returns at once: the job writes the last slice while the actors embed this one."""
        return self._spread(texts, "embed")

    def embed_query(self, text: str) -> list[float]:
        return self._spread([text], "embed_queries")()[0]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return self._spread(texts, "embed_queries")()

    def _spread(self, texts: list[str], method: str) -> Callable[[], list[list[float]]]:
        """Send one contiguous part of ``texts`` to each actor now; the call returned waits for them."""
        if not texts:
            return list
        import ray

        size = -(-len(texts) // len(self._actors))
        parts = [texts[start : start + size] for start in range(0, len(texts), size)]
        calls = [getattr(actor, method).remote(part) for actor, part in zip(self._actors, parts, strict=False)]

        def result() -> list[list[float]]:
            try:
                arrays = ray.get(calls)
            except ray.exceptions.RayError as exc:
                raise EmbeddingError(f"embedding on the Ray cluster failed: {_cause(exc)}") from exc
            return [row.tolist() for array in arrays for row in array]

        return result


def _cause(exc: BaseException) -> str:
    """The embedder's own message when an actor raised, else Ray's (an actor lost too often)."""
    cause = getattr(exc, "cause", None)
    return str(cause) if isinstance(cause, BaseException) else str(exc).splitlines()[0]


def start_actors(plan: ActorPlan) -> RayEmbedder:
    """Start the actors and wait until each has its model; ``EmbeddingError`` when it cannot load."""
    import ray

    remote: Any = ray.remote(EmbeddingWorker).options(**plan.options)
    actors: list[Any] = [remote.remote(plan.settings, plan.threads) for _ in range(plan.count)]
    try:
        facts = ray.get([actor.facts.remote() for actor in actors])
    except ray.exceptions.RayError as exc:
        for actor in actors:
            ray.kill(actor)
        raise EmbeddingError(f"the embedding actors could not load the model: {_cause(exc)}") from exc
    first = facts[0]
    if any(f.encoder_id != first.encoder_id for f in facts):
        raise EmbeddingError(
            "the embedding actors loaded different encoders: " + ", ".join(f.encoder_id for f in facts)
        )
    return RayEmbedder(actors, first)
