"""The workspace is served by the API itself: index.html never cached, hashed assets cached for a
year, a Content-Security-Policy without inline script or other origins, and nothing outside the
built folder reachable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingest.embedders.factory import EmbedderChoice
from rag.api.app import create_app
from rag.api.routes import workspace
from rag.components import build_components
from rag.settings import RagSettings
from tests.fakes.servers import ServerThread

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path) -> Path:
    built = tmp_path / "ui"
    (built / "assets").mkdir(parents=True)
    (built / "index.html").write_text('<!doctype html><script type="module" src="/assets/app-1a2b.js"></script>')
    (built / "assets" / "app-1a2b.js").write_text("console.log('workspace')")
    (built / "assets" / "pdf.worker-9f8e.mjs").write_text("self.onmessage = () => {}")
    (tmp_path / "secret.txt").write_text("not for the web")
    return built


@pytest.fixture
def api(tmp_path: Path, bundled_embedder: Any) -> Iterator[str]:
    settings = RagSettings(data_dir=tmp_path / "data")
    components = build_components(settings, embedder_choice=EmbedderChoice(bundled_embedder, "test"))
    with ServerThread(create_app(settings, components)) as server:
        yield server.base_url


def test_index_and_assets_with_cache_and_security_headers(
    api: str, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "UI_DIR", site)
    page = httpx.get(f"{api}/")
    assert page.status_code == 200 and "/assets/app-1a2b.js" in page.text
    assert page.headers["content-type"].startswith("text/html") and page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in directives["script-src"] and "http" not in csp  # no other origin anywhere

    script = httpx.get(f"{api}/assets/app-1a2b.js")
    assert script.status_code == 200 and script.text == "console.log('workspace')"
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert script.headers["x-content-type-options"] == "nosniff"
    worker = httpx.get(f"{api}/assets/pdf.worker-9f8e.mjs")  # a module worker must be served as JavaScript
    assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")


@pytest.mark.parametrize("path", ["../secret.txt", "..%2Fsecret.txt", "%2e%2e/secret.txt", ".hidden", "nope.js"])
def test_nothing_outside_the_assets_is_served(api: str, site: Path, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    monkeypatch.setattr(workspace, "UI_DIR", site)
    (site / "assets" / ".hidden").write_text("dotfile")
    response = httpx.get(f"{api}/assets/{path}")
    assert response.status_code == 404 and "not for the web" not in response.text and "dotfile" not in response.text


def test_without_a_build_the_page_says_how_to_build_it(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "UI_DIR", tmp_path / "never-built")
    page = httpx.get(f"{api}/")
    assert page.status_code == 503 and "scripts/install.sh" in page.text and "<script" not in page.text
    assert httpx.get(f"{api}/healthz").status_code == 200  # the API works without it
