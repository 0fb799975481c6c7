"""The deployment files cannot run here, so they are held to the code: every variable they set is
a real setting (and the values parse), every command exists in the CLI, and the generated
``.env.example`` and the Grafana dashboard match the settings models and the metrics."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
import yaml
from prometheus_client import CollectorRegistry

from rag.metrics import RagMetrics
from rag.settings import RagSettings
from search_proxy.metrics import ProxyMetrics
from search_proxy.settings import Settings as ProxySettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"
# Variables read by the Python runtime, pip or the model libraries, not by our settings.
THIRD_PARTY_PREFIXES = ("PYTHON", "PIP_", "HF_", "DO_NOT_TRACK", "TOKENIZERS_PARALLELISM")
ASKDOCS_IMAGE = "askdocs:latest"


def _load_env_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("env_example", ROOT / "deploy" / "env_example.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


ENV_EXAMPLE = _load_env_example()
KNOWN = ENV_EXAMPLE.env_names()
_PATTERNS = [
    re.compile("^" + re.escape(name).replace(re.escape(ENV_EXAMPLE.ANY_KEY), "[A-Z0-9_-]+?") + "$")
    for name in KNOWN
    if ENV_EXAMPLE.ANY_KEY in name
]


def is_setting(name: str) -> bool:
    upper = name.upper()
    return upper in KNOWN or any(p.match(upper) for p in _PATTERNS)


def check_env_names(names: list[str], where: str) -> None:
    unknown = [n for n in names if not is_setting(n) and not n.startswith(THIRD_PARTY_PREFIXES)]
    assert not unknown, f"{where} sets variables no settings model reads: {unknown}"


def check_command(argv: list[str], where: str) -> None:
    """The program is a [project.scripts] entry and the arguments parse with its typer app."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert argv[0] in scripts, f"{where}: {argv[0]!r} is not an entry point ({sorted(scripts)})"
    module, attr = scripts[argv[0]].split(":")
    # typer ships its own copy of click, so groups and usage errors are recognised by shape.
    command: Any = typer.main.get_command(getattr(importlib.import_module(module), attr))
    args = list(argv[1:])
    name = argv[0]
    while hasattr(command, "commands"):
        assert args and args[0] in command.commands, f"{where}: {' '.join(argv)}: no such command {args[:1]}"
        name, command, args = args[0], command.commands[args[0]], args[1:]
    try:
        command.make_context(name, args)
    except Exception as exc:  # unknown option, missing argument, bad value
        if not hasattr(exc, "format_message"):
            raise
        raise AssertionError(f"{where}: {' '.join(argv)}: {exc.format_message()}") from exc


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path.name, doc) for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return docs


def pod_specs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file, workload, pod spec) for every Deployment, CronJob and RayJob pod group."""
    specs = []
    for name, doc in k8s_documents():
        if doc["kind"] == "Deployment":
            specs.append((name, doc, doc["spec"]["template"]["spec"]))
        elif doc["kind"] == "CronJob":
            specs.append((name, doc, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
        elif doc["kind"] == "RayJob":
            cluster = doc["spec"]["rayClusterSpec"]
            for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
                specs.append((name, doc, group["template"]["spec"]))
    return specs


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


# -- the checks themselves can fail ---------------------------------------------------------------
def test_the_name_check_rejects_what_no_model_reads() -> None:
    for good in (
        "RAG_API__PORT",
        "RAG_LLM__OVERRIDES__VLLM__MODEL",
        "SEARCH_PROXY_FETCH__MAX_PAGES",
        "DEEPSEEK_API_KEY",
    ):
        assert is_setting(good), good
    for bad in ("RAG_API__PORTS", "RAG_NOPE", "RAG_LLM__OVERRIDES__VLLM__MODELS", "SEARCH_PROXY_SERVER__KEY"):
        assert not is_setting(bad), bad
    with pytest.raises(AssertionError, match="no such command"):
        check_command(["rag", "srve"], "test")
    with pytest.raises(AssertionError, match="No such option"):
        check_command(["search-proxy", "serve", "--hots", "0.0.0.0"], "test")


# -- .env.example --------------------------------------------------------------------------------
def test_env_example_is_generated_from_the_settings_and_lists_every_field() -> None:
    committed = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert committed == ENV_EXAMPLE.generate(), "stale: run `python deploy/env_example.py > .env.example`"
    listed = set(re.findall(r"^# ([A-Z][A-Z0-9_<>]*)=", committed, flags=re.MULTILINE))
    assert KNOWN <= listed
    for leaf in ("RAG_AUTH__KEYS_FILE", "RAG_RATE_LIMIT__CONCURRENT_STREAMS", "RAG_CORS__ALLOW_ORIGINS"):
        assert leaf in listed
    assert "RAG_RETRIEVAL__TOP_K" in listed and "SEARCH_PROXY_PROVIDERS__BRAVE__API_KEY" in listed
    assert "RAG_LLM__OVERRIDES__<NAME>__BASE_URL" in listed


# -- docker-compose.yml -----------------------------------------------------------------------
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


def test_compose_services_use_real_settings_and_commands() -> None:
    services = compose()["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == ASKDOCS_IMAGE}
    assert set(ours) == {"api", "search-proxy", "ingest"}
    for name, service in ours.items():
        check_env_names(list(service.get("environment", {})), f"compose service {name}")
        check_command(service["command"], f"compose service {name}")
    assert services["api"]["command"][:2] == ["rag", "serve"]
    assert services["ingest"]["command"][:2] == ["rag", "ingest"] and services["ingest"]["profiles"] == ["ingest"]
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    check_env_names(re.findall(r"\$\{([A-Z0-9_]+)", text), "compose interpolation")
    # The wiring between services points at services and ports that exist.
    env = services["api"]["environment"]
    assert env["RAG_WEB__PROXY_URL"] == "http://search-proxy:8300" and "search-proxy" in services
    assert env["RAG_STORE__URI"] == "http://milvus:19530" and {"milvus", "etcd", "minio"} <= set(services)
    assert services["search-proxy"]["environment"]["SEARCH_PROXY_PROVIDERS__SEARXNG__BASE_URL"].startswith(
        "http://searxng:"
    )
    assert {"vllm", "ollama"} <= set(services)
    assert services["vllm"]["profiles"] == ["vllm"] and services["ollama"]["profiles"] == ["ollama"]
    for path in ("deploy/searxng/settings.yml", "deploy/prometheus/prometheus.yml", "deploy/grafana/askdocs.json"):
        assert path in text and (ROOT / path).is_file()


def test_compose_values_parse_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    for key, value in services["api"]["environment"].items():
        monkeypatch.setenv(key, "x-shared-secret" if "${" in str(value) else str(value))
    settings = RagSettings()
    assert settings.store.backend == "milvus" and settings.auth.keys_file == Path("/etc/askdocs/keys.toml")
    for key, value in services["search-proxy"]["environment"].items():
        monkeypatch.setenv(key, "x-shared-secret" if "${" in str(value) else str(value))
    assert ProxySettings().configured_providers() == ["searxng"]


# -- Kubernetes ---------------------------------------------------------------------------------
def test_k8s_manifests_use_real_settings_commands_and_objects() -> None:
    config_maps, secrets = by_kind("ConfigMap"), by_kind("Secret")
    for data in [*config_maps.values(), *secrets.values()]:
        keys = list(data.get("data", {})) + list(data.get("stringData", {}))
        if data["metadata"]["name"] != "askdocs-api-keys":  # a file, not variables
            check_env_names(keys, f"k8s {data['kind']} {data['metadata']['name']}")
    workloads = pod_specs()
    assert {doc["kind"] for _, doc, _ in workloads} == {"Deployment", "CronJob", "RayJob"}
    for file, doc, spec in workloads:
        where = f"{file} {doc['metadata']['name']}"
        for container in spec["containers"]:
            if "command" in container or doc["kind"] != "RayJob":  # KubeRay starts Ray in its pods
                check_command(container["command"], where)
            assert container["image"] == ASKDOCS_IMAGE, f"{where}: {container['image']}"
            check_env_names([e["name"] for e in container.get("env", [])], where)
            for source in container.get("envFrom", []):
                ref = source.get("configMapRef") or source.get("secretRef")
                assert ref["name"] in {**config_maps, **secrets}, f"{where}: {ref['name']} is not defined"
            ports = {p["containerPort"] for p in container.get("ports", [])}
            if "--port" in container.get("command", []):
                assert int(container["command"][container["command"].index("--port") + 1]) in ports
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                assert volume["secret"]["secretName"] in secrets
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in by_kind("PersistentVolumeClaim")
    commands = {" ".join(c["command"][:2]) for _, _, spec in workloads for c in spec["containers"] if "command" in c}
    assert commands == {"rag serve", "search-proxy serve", "rag ingest"}
    deployments = by_kind("Deployment")
    for service in by_kind("Service").values():
        selector = service["spec"]["selector"]
        assert any(
            selector.items() <= d["spec"]["template"]["metadata"]["labels"].items() for d in deployments.values()
        ), f"service {service['metadata']['name']} selects no pods"
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    api_config = config_maps["askdocs-config"]["data"]
    assert api_config["RAG_WEB__PROXY_URL"].startswith("http://askdocs-search-proxy:8300")
    assert api_config["RAG_AUTH__KEYS_FILE"].startswith("/etc/askdocs/keys/")


def test_the_ray_job_runs_a_real_ray_reindex_on_the_pinned_ray() -> None:
    """The RayJob's entrypoint parses as a ``rag reindex --engine ray`` joining its own cluster, its
    Ray version is the one the [ray] extra pins, the head (the driver) mounts the data and every
    pod the documents at one path, and the store it writes is a server."""
    (job,) = by_kind("RayJob").values()
    entrypoint = shlex.split(job["spec"]["entrypoint"])
    check_command(entrypoint, "RayJob entrypoint")
    assert entrypoint[:2] == ["rag", "reindex"]
    assert entrypoint[entrypoint.index("--engine") + 1] == "ray"
    assert entrypoint[entrypoint.index("--ray-address") + 1] == "auto"
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert f"ray=={job['spec']['rayClusterSpec']['rayVersion']}" in extras["ray"]
    cluster = job["spec"]["rayClusterSpec"]
    head = cluster["headGroupSpec"]["template"]["spec"]
    mounts = {m["mountPath"]: m["name"] for m in head["containers"][0]["volumeMounts"]}
    assert mounts.get("/data") == "data" and "/docs" in mounts
    docs_root = entrypoint[2]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        # Ray places a parse task on any pod with a free CPU, GPU pods included
        spec = group["template"]["spec"]
        paths = [m["mountPath"] for c in spec["containers"] for m in c.get("volumeMounts", [])]
        assert docs_root in paths, f"{group.get('groupName', 'head')} cannot read {docs_root}"
    config = by_kind("ConfigMap")["askdocs-config"]["data"]
    assert config["RAG_STORE__URI"].startswith("http"), "a cluster job must write a store server"
    assert any("nvidia.com/gpu" in str(g) for g in cluster["workerGroupSpecs"])  # embedding actors per GPU


def test_k8s_config_values_parse_and_placeholder_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    config_maps, secrets = by_kind("ConfigMap"), by_kind("Secret")
    for key, value in config_maps["askdocs-config"]["data"].items():
        monkeypatch.setenv(key, str(value))
    settings = RagSettings()
    assert [p.name for p in settings.llm.resolved_profiles()] == ["vllm", "siliconflow"]
    assert settings.rate_limit.concurrent_streams == 4
    for key, value in config_maps["askdocs-search-proxy-config"]["data"].items():
        monkeypatch.setenv(key, str(value))
    assert ProxySettings().providers.order == ["searxng", "bocha", "brave", "tavily"]
    # The example secrets cannot be deployed as they are.
    monkeypatch.setenv("RAG_AUTH__PEPPER", secrets["askdocs-secrets"]["stringData"]["RAG_AUTH__PEPPER"])
    with pytest.raises(ValueError, match="placeholder"):
        RagSettings()
    monkeypatch.delenv("RAG_AUTH__PEPPER")
    secret = secrets["askdocs-search-proxy-secrets"]["stringData"]["SEARCH_PROXY_SERVER__API_KEY"]
    monkeypatch.setenv("SEARCH_PROXY_SERVER__API_KEY", secret)
    with pytest.raises(ValueError, match="placeholder"):
        ProxySettings()


# -- Dockerfile ------------------------------------------------------------------------------------
def test_dockerfile_installs_cpu_torch_first_and_runs_real_commands() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.replace("\\\n", " ").splitlines() if not line.strip().startswith("#")]
    torch = next(i for i, line in enumerate(lines) if "-r requirements-torch.txt" in line)
    project = next(i for i, line in enumerate(lines) if re.search(r'pip install (\.|"\.\[[a-z0-9,]+\]")(\s|$)', line))
    assert torch < project, "CPU torch must be installed before the project"
    assert '--no-deps "unstructured-inference==1.6.14"' in lines[project]
    pinned = (ROOT / "requirements-torch.txt").read_text(encoding="utf-8")
    project_deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    torch_pin = next(d for d in project_deps if d.startswith("torch=="))
    assert torch_pin in pinned.split()
    cmd = next(line for line in lines if line.startswith("CMD "))
    check_command(json.loads(cmd[4:]), "Dockerfile CMD")
    env_line = next(line for line in lines if line.startswith("ENV "))
    assignments = dict(part.split("=", 1) for part in shlex.split(env_line[4:]))
    check_env_names(list(assignments), "Dockerfile ENV")
    assert assignments["RAG_PROMPT__PROMPTS_DIR"] == "/app/prompts"
    assert "WORKDIR /app" in lines and "COPY prompts ./prompts" in lines
    for line in lines:
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored and ".venv" in ignored and "prompts" not in ignored


# -- dashboards and scraping ----------------------------------------------------------------
def _sample_names(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names |= {sample.name for sample in family.samples}
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
        names |= {family.name + suffix for suffix in suffixes.get(family.type, [""])}
    return names


def test_grafana_dashboard_queries_only_metrics_that_exist() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "askdocs.json").read_text(encoding="utf-8"))
    exposed = _sample_names(RagMetrics().registry) | _sample_names(ProxyMetrics().registry)
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {m for expr in exprs for m in re.findall(r"\b((?:askdocs|search_proxy|process)_[a-z_]+)\b", expr)}
    assert used and used <= exposed, f"dashboard queries unknown metrics: {sorted(used - exposed)}"
    families = {re.sub(r"_(total|bucket|count|sum)$", "", m) for m in used}
    for wanted in (
        "askdocs_stage_duration_seconds",
        "askdocs_llm_tokens",
        "askdocs_llm_errors",
        "askdocs_ingest_files",
    ):
        assert wanted in families, f"no panel shows {wanted}"
    assert "search_proxy_provider_duration_seconds" in families
    assert all(p.get("datasource") for p in dashboard["panels"] if p["type"] != "row")


def test_prometheus_scrapes_the_compose_services() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert targets == {"api:8000", "search-proxy:8300"}
    assert set(compose()["services"]) >= {"api", "search-proxy", "prometheus", "grafana"}
