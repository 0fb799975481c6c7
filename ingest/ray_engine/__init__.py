"""The Ray engine of ``rag reindex --engine ray``: the same job (``ingest.reindex.ReindexJob``:
plan, lock, manifest, crash-safe writes, full rebuild and swap), its parsing and chunking run as
Ray tasks and its embedding in long-lived Ray actors.

Why Ray core (tasks and actors) rather than Ray Data: the job's driver must see each file's result
in order, with the manifest marker written before and committed after every store write, and
must stay bounded however large the corpus; ``ray.wait``/``ray.get`` over a window of object refs
gives exactly that in a few lines, while Ray Data's streaming executor would add a dataset
plan and its own batching around a loop whose batching (token-sorted windows, the embedding
cache, de-duplication) is already the job's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ingest.chunk_sources import JobEngine
from ingest.embedders.factory import EmbedderChoice
from ingest.errors import EngineUnavailable
from ingest.ray_engine.cluster import ClusterShape, ray_cluster
from ingest.ray_engine.embedding import plan_actors, start_actors
from ingest.ray_engine.parsing import RayChunkSource
from ingest.settings import IngestSettings
from ingest.stores.factory import is_server_uri
from ingest.writing import EMBED_WINDOW


@dataclass(frozen=True, slots=True)
class RayJobParts:
    """What a job on the cluster is opened with: the embedder choice and the engine."""

    choice: EmbedderChoice
    engine: JobEngine
    shape: ClusterShape


def check_store(settings: IngestSettings, shape: ClusterShape, *, store_on_driver: bool) -> None:
    """Refuse an embedded store when the cluster reaches past this machine.

    The driver writes every chunk itself, so an embedded store is written where the driver runs;
    on a cluster of other machines that is most often not where the API serves from (a driver
    submitted with ``ray job submit`` runs on the head node), so such a job is refused unless
    ``store_on_driver`` says the driver's own data directory is the one meant.
    """
    if is_server_uri(settings.store_uri()) or shape.local_only or store_on_driver:
        return
    raise EngineUnavailable(
        f"the Ray cluster spans {shape.nodes} nodes and the store is embedded ({settings.store_uri()}): "
        "only this driver could write it. Point RAG_STORE__URI at a Chroma or Milvus server, "
        "or pass --store-on-driver if this machine's data directory is the one the API serves"
    )


@contextmanager
def ray_job_parts(settings: IngestSettings, *, store_on_driver: bool = False) -> Iterator[RayJobParts]:
    """Connect (or start a local instance), check the store, start the embedding actors."""
    ray_settings = settings.ray
    with ray_cluster(ray_settings) as shape:
        check_store(settings, shape, store_on_driver=store_on_driver)
        plan = plan_actors(settings.embedding, shape, ray_settings)
        embedder = start_actors(plan)
        choice = EmbedderChoice(embedder, requested=embedder.requested, fallback_reason=embedder.fallback_reason)
        source = RayChunkSource(
            embedder.counter,
            in_flight=ray_settings.tasks_in_flight or 2 * shape.cpus,
            max_retries=ray_settings.max_retries,
        )
        slice_size = plan.batch * plan.count
        engine = JobEngine("ray", source, embed_slice=slice_size, embed_window=max(EMBED_WINDOW, 4 * slice_size))
        yield RayJobParts(choice, engine, shape)


__all__ = ["RayJobParts", "check_store", "ray_job_parts"]
