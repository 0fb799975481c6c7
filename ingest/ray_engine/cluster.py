"""Joining a Ray cluster, or starting a local instance sized to this machine, for one job."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ingest.errors import EngineUnavailable
from ingest.settings import RaySettings

log = logging.getLogger(__name__)

# Passed to the job's workers, so that a cluster started elsewhere runs them as this process runs
# (offline or through a hub mirror, the same S3-compatible endpoint; crash-test failpoints).
# Settings travel as arguments; cache folders and credentials stay each node's own.
FORWARDED_ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "RAG_FAILPOINT",
    "RAG_FAILPOINT_ONCE",
)


@dataclass(frozen=True, slots=True)
class ClusterShape:
    """What the job may use: the cluster's CPUs and GPUs, and whether all of it is this machine."""

    cpus: int
    gpus: int
    nodes: int
    local_only: bool  # every node is this machine: an embedded store here is the driver's own


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise EngineUnavailable(
            "the Ray engine needs the 'ray' extra: pip install 'askdocs[ray]' (or use --engine local)"
        ) from exc
    return ray


def _this_host_addresses() -> set[str]:
    names = {"127.0.0.1", "localhost", "::1"}
    try:
        names.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    return {str(name) for name in names}


def shape_of(ray: Any) -> ClusterShape:
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    resources = ray.cluster_resources()
    here = _this_host_addresses() | {ray.util.get_node_ip_address()}
    return ClusterShape(
        cpus=int(resources.get("CPU", 0)),
        gpus=int(resources.get("GPU", 0)),
        nodes=len(nodes),
        local_only=all(node.get("NodeManagerAddress") in here for node in nodes),
    )


@contextmanager
def ray_cluster(settings: RaySettings) -> Iterator[ClusterShape]:
    """Connected for the ``with`` block; a local instance started here is stopped at its end.

    ``EngineUnavailable`` when Ray is missing or the cluster cannot be reached.
    """
    ray = import_ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env = {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
    options: dict[str, Any] = {
        "runtime_env": {"env_vars": env} if env else None,
        "log_to_driver": False,  # worker output is not the job's; failures reach the driver as errors
        "logging_level": logging.WARNING,
        "namespace": "askdocs",
    }
    if settings.address:
        options["address"] = settings.address
    else:
        options.update(num_cpus=settings.local_cpus or os.cpu_count() or 1, include_dashboard=False)
    try:
        ray.init(**options)
    except Exception as exc:  # ConnectionError, RuntimeError, a timeout: all mean "no cluster"
        where = settings.address or "a local instance"
        raise EngineUnavailable(f"cannot start the Ray engine on {where}: {exc}") from exc
    try:
        shape = shape_of(ray)
        log.info("Ray cluster: %d node(s), %d CPUs, %d GPUs", shape.nodes, shape.cpus, shape.gpus)
        if shape.cpus < 1:
            raise EngineUnavailable("the Ray cluster has no CPUs for parsing")
        yield shape
    finally:
        ray.shutdown()
