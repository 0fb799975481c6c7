"""The soak benchmark in short form: concurrent streamed answers on a real ``rag serve`` process
for a few seconds. No error but documented 429s, memory steady after warm-up, /healthz answering
throughout. The full run (64 clients, 60 s) is ``bench/bench_soak.py``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "bench_soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_a_short_soak_holds() -> None:
    report = bench().run_soak(
        concurrency=16, seconds=8, warmup=4, chunk_delay=0.02, docs=ROOT / "tests" / "fixtures" / "mixed_batch"
    )
    assert report.passed, report.misses
    assert report.completed >= 16 and report.errors == {}
    assert report.healthz_probes >= 15 and report.healthz_failures == 0
    assert report.rss_growth <= 0.10
