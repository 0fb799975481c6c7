"""The Ray engine's decisions that need no cluster: where actors go, which stores a cluster job may
write, token counts away from the model, and a failpoint that fires once across processes."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import EngineUnavailable
from ingest.ray_engine import check_store
from ingest.ray_engine.cluster import ClusterShape, import_ray
from ingest.ray_engine.embedding import plan_actors
from ingest.ray_engine.tokens import token_counter_of
from ingest.settings import EmbeddingSettings, IngestSettings, RaySettings

pytestmark = pytest.mark.unit


def _plan(gpus: int, cpus: int = 16, nodes: int = 3, actors: int | None = None) -> Any:
    shape = ClusterShape(cpus=cpus, gpus=gpus, nodes=nodes, local_only=False)
    ray = RaySettings(embed_actors=actors, gpu_batch_size=256, max_retries=2)
    return plan_actors(EmbeddingSettings(batch_size=32), shape, ray)


def test_one_gpu_actor_per_gpu_with_gpu_batches_and_no_token_bound() -> None:
    plan = _plan(gpus=4)
    assert plan.count == 4 and plan.options["num_gpus"] == 1
    assert (plan.settings.device, plan.settings.batch_size, plan.settings.batch_tokens) == ("cuda", 256, 0)
    assert plan.batch == 256 and plan.options["max_restarts"] == 2 and plan.options["max_task_retries"] == 2


def test_one_cpu_actor_per_node_keeps_the_configured_cpu_batching() -> None:
    plan = _plan(gpus=0)
    assert plan.count == 3 and "num_gpus" not in plan.options and plan.options["num_cpus"] == 1
    assert plan.settings.device is None and plan.settings.batch_tokens is None and plan.batch == 32
    assert _plan(gpus=0, actors=5).count == 5
    alone = _plan(gpus=0, cpus=1, nodes=1)
    assert alone.count == 1 and alone.options["num_cpus"] == 0  # the one CPU stays free for parsing
    assert _plan(gpus=2, cpus=2).options["num_cpus"] == 0


@pytest.mark.parametrize(
    ("uri", "local_only", "on_driver", "refused"),
    [
        (None, False, False, True),  # embedded Chroma, a cluster of other machines
        (None, True, False, False),  # a local instance: the driver owns the embedded store
        (None, False, True, False),  # said explicitly
        ("http://chroma:8000", False, False, False),  # a server every node could reach
    ],
)
def test_an_embedded_store_is_refused_only_on_a_cluster_of_other_machines(
    tmp_path: Path, uri: str | None, local_only: bool, on_driver: bool, refused: bool
) -> None:
    settings = IngestSettings(data_dir=tmp_path, store={"uri": uri})  # type: ignore[arg-type]
    shape = ClusterShape(cpus=8, gpus=0, nodes=3, local_only=local_only)
    if refused:
        with pytest.raises(EngineUnavailable, match=r"spans 3 nodes.*embedded.*--store-on-driver"):
            check_store(settings, shape, store_on_driver=on_driver)
    else:
        check_store(settings, shape, store_on_driver=on_driver)


def test_counts_away_from_the_model_are_the_models_own(bundled_embedder: Any) -> None:
    counter = pickle.loads(pickle.dumps(token_counter_of(bundled_embedder)))
    texts = ["The NW-200 carries 200 kg.", "仓库机器人的保修期为两年。", "x" * 3000, "", "naïve café — 3.14%"]
    assert [counter(t) for t in texts] == [bundled_embedder.count_tokens(t) for t in texts]
    serialised = (counter.tokenizer_json or "").encode()
    assert len(pickle.dumps(counter)) < len(serialised) + 1000  # the JSON alone: no built tokenizer, no counts


def test_an_api_model_is_counted_by_the_same_estimate_everywhere() -> None:
    from ingest.embedders.openai_compat import OpenAIEmbedder

    api = OpenAIEmbedder("http://127.0.0.1:9/v1", "bge-m3")
    counter = token_counter_of(api)
    assert counter.tokenizer_json is None
    assert counter("检索增强生成 works well") == api.count_tokens("检索增强生成 works well") > 0


def test_without_ray_the_engine_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import fails as if not installed
    with pytest.raises(EngineUnavailable, match=r"askdocs\[ray\]"):
        import_ray()


def test_a_once_failpoint_fires_in_the_first_process_only(tmp_path: Path) -> None:
    marker = tmp_path / "fired"
    code = "from ingest.failpoints import failpoint; failpoint('point'); print('survived')"
    env = {"RAG_FAILPOINT": "point", "RAG_FAILPOINT_ONCE": str(marker), "PYTHONPATH": str(Path.cwd())}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == -signal.SIGKILL and marker.exists()
    assert second.returncode == 0 and second.stdout.strip() == "survived"


def test_parse_tasks_take_runs_of_small_files_and_a_large_file_alone(tmp_path: Path) -> None:
    from ingest.ray_engine.parsing import BYTES_PER_TASK, FILES_PER_TASK, task_batches

    small = [tmp_path / f"s{i:03}.txt" for i in range(FILES_PER_TASK + 5)]
    for path in small:
        path.write_text("a few words\n", encoding="utf-8")
    large = tmp_path / "large.txt"
    large.write_bytes(b"x" * BYTES_PER_TASK)
    paths = [str(p) for p in small[:3]] + [str(large)] + [str(p) for p in small[3:]] + [str(tmp_path / "gone.txt")]
    batches = list(task_batches(paths))
    assert [p for batch in batches for p in batch] == paths  # every path once, in order
    assert batches[0] == paths[:4]  # the large file closes the run it ends
    assert len(batches[1]) == FILES_PER_TASK and batches[2] == paths[4 + FILES_PER_TASK :]


def test_cluster_options_without_the_ray_engine_are_an_error_not_ignored(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rag.cli.commands import app

    for option in (["--ray-address", "auto"], ["--store-on-driver"]):
        result = CliRunner().invoke(app, ["reindex", str(tmp_path), "--kb", "kb", *option])
        assert result.exit_code == 1 and "go with --engine ray" in result.output, result.output
    assert not (tmp_path / "kb").exists() and list(tmp_path.iterdir()) == []  # nothing written
