"""API keys: 401 without a valid key, 403 without the scope, and no route shows another team's
knowledge base (an unreadable one answers exactly like one that does not exist)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.api.auth import generate_key, hash_key
from rag.cli.keys import toml_record
from rag.errors import AuthConfigError
from rag.settings import ApiKeyRecord
from tests.integration.service.conftest import PEPPER, QUESTION, bearer, build_app, service_settings, write_key_file

pytestmark = pytest.mark.integration

PROTECTED = [
    ("POST", "/ask", {"question": QUESTION, "kb": "docs"}),
    ("GET", "/kbs", None),
    ("GET", "/v1/models", None),
    ("POST", "/v1/chat/completions", {"model": "kb:docs", "messages": [{"role": "user", "content": QUESTION}]}),
    ("GET", "/admin/keys", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_missing_or_wrong_key_is_401_with_a_bearer_challenge(api: str, method: str, path: str, body: Any) -> None:
    for headers, code in (({}, "missing_api_key"), ({"Authorization": "Bearer askd_wrong"}, "invalid_api_key")):
        response = httpx.request(method, f"{api}{path}", json=body, headers=headers, timeout=30)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"] == {
            "message": response.json()["error"]["message"],
            "type": "authentication_error",
            "code": code,
        }
    basic = httpx.request(method, f"{api}{path}", json=body, auth=("team", "secret"), timeout=30)
    assert basic.status_code == 401


def test_a_scoped_key_cannot_see_another_knowledge_base_by_any_route(api: str) -> None:
    team, admin = bearer("team"), bearer("admin")

    def ask(kb: str, **extra: Any) -> httpx.Response:
        return httpx.post(f"{api}/ask", json={"question": QUESTION, "kb": kb, **extra}, headers=team, timeout=30)

    def chat(model: str, stream: bool = False) -> httpx.Response:
        body = {"model": model, "messages": [{"role": "user", "content": QUESTION}], "stream": stream}
        return httpx.post(f"{api}/v1/chat/completions", json=body, headers=team, timeout=30)

    # The secret KB exists (the admin can read it) ...
    assert httpx.post(f"{api}/ask", json={"question": QUESTION, "kb": "secret"}, headers=admin, timeout=30).is_success
    # ... yet for the team key it is indistinguishable from a KB that does not exist.
    for stream in (False, True):
        hidden, absent = ask("secret", stream=stream), ask("nope", stream=stream)
        assert hidden.status_code == absent.status_code == 404
        assert hidden.text.replace("secret", "X") == absent.text.replace("nope", "X")
        hidden, absent = chat("kb:secret", stream), chat("kb:nope", stream)
        assert hidden.status_code == absent.status_code == 404
        assert hidden.text.replace("kb:secret", "X") == absent.text.replace("kb:nope", "X")
    assert ask("docs").status_code == 200

    names = [kb["name"] for kb in httpx.get(f"{api}/kbs", headers=team).json()["knowledge_bases"]]
    assert names == ["docs"]
    assert sorted(kb["name"] for kb in httpx.get(f"{api}/kbs", headers=admin).json()["knowledge_bases"]) == [
        "docs",
        "secret",
    ]
    assert [m["id"] for m in httpx.get(f"{api}/v1/models", headers=team).json()["data"]] == ["kb:docs"]
    assert [m["id"] for m in httpx.get(f"{api}/v1/models", headers=admin).json()["data"]] == ["kb:docs", "kb:secret"]
    hidden_model = httpx.get(f"{api}/v1/models/kb:secret", headers=team)
    absent_model = httpx.get(f"{api}/v1/models/kb:nope", headers=team)
    assert hidden_model.status_code == absent_model.status_code == 404
    assert httpx.get(f"{api}/v1/models/kb:secret", headers=admin).status_code == 200
    ready = httpx.get(f"{api}/readyz", headers=team).json()
    assert "knowledge_bases" not in str(ready) and ready["ready"] is True


def test_admin_scope_is_403_for_other_keys(api: str) -> None:
    refused = httpx.get(f"{api}/admin/keys", headers=bearer("team"))
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "permission_error"
    assert refused.json()["error"]["code"] == "permission_denied"
    listed = httpx.get(f"{api}/admin/keys", headers=bearer("admin"))
    assert listed.status_code == 200
    keys = {k["name"]: k for k in listed.json()["keys"]}
    assert keys["team"]["kbs"] == ["docs"] and "hash" not in keys["team"]
    assert "hmac-sha256" not in listed.text


def test_probes_and_metrics_need_no_key_but_show_no_details(api: str) -> None:
    assert httpx.get(f"{api}/healthz").status_code == 200
    anonymous = httpx.get(f"{api}/readyz").json()
    assert anonymous == {"ready": True, "checks": {"store": {"ok": True}}}
    full = httpx.get(f"{api}/readyz", headers=bearer("admin")).json()
    assert full["checks"]["store"]["knowledge_bases"] == 2 and full["checks"]["llm"]["profiles"]
    assert httpx.get(f"{api}/metrics").status_code == 200


def test_keys_added_to_the_file_work_without_a_restart(
    data_dir: Path, llm: Any, bundled_embedder: Any, tmp_path: Path
) -> None:
    from tests.fakes.servers import ServerThread

    key_file = write_key_file(tmp_path / "keys.toml", ["team"])
    settings = service_settings(data_dir, llm, auth={"keys_file": key_file, "pepper": PEPPER})
    with ServerThread(build_app(settings, bundled_embedder)) as server:
        fresh = generate_key()
        assert httpx.get(f"{server.base_url}/kbs", headers={"Authorization": f"Bearer {fresh}"}).status_code == 401
        record = ApiKeyRecord(name="late", hash=hash_key(fresh, PEPPER), kbs=["secret"])
        with key_file.open("a", encoding="utf-8") as handle:
            handle.write("\n" + toml_record(record) + "\n")
        os.utime(key_file, (time.time() + 5, time.time() + 5))
        time.sleep(1.1)  # the file is checked at most once a second
        listed = httpx.get(f"{server.base_url}/kbs", headers={"Authorization": f"Bearer {fresh}"})
        assert listed.status_code == 200
        assert [kb["name"] for kb in listed.json()["knowledge_bases"]] == ["secret"]


# -- the modes, through the ASGI interface so the caller's address can be chosen ---------------
@asynccontextmanager
async def _client(app: Any, host: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(host, 40000))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def test_without_keys_only_loopback_callers_are_served(data_dir: Path, bundled_embedder: Any) -> None:
    app = build_app(service_settings(data_dir, None), bundled_embedder)
    async with _client(app, "127.0.0.1") as local:
        assert (await local.get("/kbs")).status_code == 200
    async with _client(app, "10.0.0.7") as remote:
        refused = await remote.get("/kbs")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "authentication_not_configured"
        assert (await remote.get("/healthz")).status_code == 200


async def test_auth_off_must_be_explicit_and_is_logged(
    data_dir: Path, bundled_embedder: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_app(service_settings(data_dir, None, auth={"enabled": False}), bundled_embedder)
    with caplog.at_level(logging.WARNING, logger="rag.api.auth"):
        async with _client(app, "10.0.0.7") as remote:
            assert (await remote.get("/kbs")).status_code == 200
    assert any("AUTHENTICATION DISABLED" in r.getMessage() for r in caplog.records)


def test_auth_on_without_keys_fails_at_start(data_dir: Path, bundled_embedder: Any, tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="no API key"):
        build_app(service_settings(data_dir, None, auth={"enabled": True}), bundled_embedder)
    broken = tmp_path / "keys.json"
    broken.write_text('{"keys": [{"name": "x", "hash": "md5:abc"}]}', encoding="utf-8")
    with pytest.raises(AuthConfigError, match="not valid"):
        build_app(service_settings(data_dir, None, auth={"keys_file": broken}), bundled_embedder)


async def test_keys_from_the_environment_and_yaml_files(
    data_dir: Path, bundled_embedder: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.settings import RagSettings

    env_key, yaml_key = generate_key(), generate_key()
    record = ApiKeyRecord(name="env", hash=hash_key(env_key), kbs=["docs"])
    monkeypatch.setenv("RAG_AUTH__KEYS", f"[{record.model_dump_json()}]")
    yaml_file = tmp_path / "keys.yaml"
    yaml_file.write_text(f"keys:\n  - name: yaml\n    hash: {hash_key(yaml_key)}\n    kbs: ['*']\n", encoding="utf-8")
    monkeypatch.setenv("RAG_AUTH__KEYS_FILE", str(yaml_file))
    settings = RagSettings(data_dir=data_dir)
    assert [r.name for r in settings.auth.keys] == ["env"]
    app = build_app(settings, bundled_embedder)
    async with _client(app, "127.0.0.1") as client:  # keys configured: loopback needs one too
        assert (await client.get("/kbs")).status_code == 401
        env_kbs = (await client.get("/kbs", headers={"Authorization": f"Bearer {env_key}"})).json()
        assert [kb["name"] for kb in env_kbs["knowledge_bases"]] == ["docs"]
        yaml_kbs = (await client.get("/kbs", headers={"Authorization": f"Bearer {yaml_key}"})).json()
        assert len(yaml_kbs["knowledge_bases"]) == 2


async def test_cors_is_closed_unless_origins_are_listed(data_dir: Path, bundled_embedder: Any) -> None:
    preflight = {"Origin": "https://chat.example", "Access-Control-Request-Method": "POST"}
    closed = build_app(service_settings(data_dir, None), bundled_embedder)
    async with _client(closed, "127.0.0.1") as client:
        response = await client.options("/v1/chat/completions", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    opened = build_app(
        service_settings(data_dir, None, cors={"allow_origins": "https://chat.example"}), bundled_embedder
    )
    async with _client(opened, "127.0.0.1") as client:
        response = await client.options("/v1/chat/completions", headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://chat.example"
        other = await client.options("/v1/chat/completions", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_routes_on_one_knowledge_base_check_it_and_the_scope(data_dir: Path, bundled_embedder: Any) -> None:
    keys = {name: generate_key() for name in ("reader", "ingester", "boss")}
    records = [
        {"name": "reader", "hash": hash_key(keys["reader"]), "kbs": ["docs"]},
        {"name": "ingester", "hash": hash_key(keys["ingester"]), "kbs": ["docs"], "scopes": ["ingest"]},
        {"name": "boss", "hash": hash_key(keys["boss"]), "scopes": ["admin"]},
    ]
    app = build_app(service_settings(data_dir, None, auth={"keys": records}), bundled_embedder)

    def auth(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {keys[name]}"}

    async with _client(app, "127.0.0.1") as client:
        assert (await client.post("/kbs/docs/documents", headers=auth("reader"))).status_code == 403
        # past the key and scope checks, the real upload route wants its files (422)
        assert (await client.post("/kbs/docs/documents", headers=auth("ingester"))).status_code == 422
        hidden = await client.post("/kbs/secret/documents", headers=auth("ingester"))
        absent = await client.post("/kbs/nope/documents", headers=auth("ingester"))
        assert hidden.status_code == absent.status_code == 404
        assert hidden.text.replace("secret", "X") == absent.text.replace("nope", "X")
        assert (await client.post("/kbs/secret/documents", headers=auth("boss"))).status_code == 422
        assert (await client.post("/kbs/docs/documents")).status_code == 401
