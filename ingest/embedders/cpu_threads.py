"""How many threads a local model's forward pass uses on a CPU, set once per process.

torch starts one intra-op thread per core. A server's cores are shared with the event loop,
the vector store and BM25, so a pass split over all of them waits for whichever is busy: on two
busy cores one short query took 12-40 ms or ~480 ms, by luck. A server embeds concurrent
questions in one batch at a time (``rag.retrieval.query_batcher``), so one thread loses little
and never waits; ingest has the cores to itself and keeps torch's default.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def set_torch_threads(threads: int) -> None:
    """Intra-op threads of torch in this process."""
    if threads < 1:
        raise ValueError("threads must be at least 1")
    try:
        import torch
    except ImportError:  # an OpenAI-compatible embedder needs no torch
        return
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
        log.info("local model runs %d intra-op thread(s)", threads)
