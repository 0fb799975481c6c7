"""Settings: env names, nested groups, https rules, placeholder and file-borne secrets refused."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from pydantic import ValidationError

from search_proxy.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SEARCH_PROXY_"):
            monkeypatch.delenv(name)


def test_defaults_are_offline_and_safe() -> None:
    settings = Settings()
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8300)
    assert settings.server.api_key is None
    assert settings.configured_providers() == []  # nothing is called until configured
    assert settings.fetch.allow_networks == []  # the SSRF guard has no exemptions by default


def test_nested_env_with_csv_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__ORDER", "brave, searxng")
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__BRAVE__API_KEY", "BSA-real-key-123")
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__SEARXNG__BASE_URL", "https://searx.internal/")
    monkeypatch.setenv("SEARCH_PROXY_FETCH__ALLOW_NETWORKS", "127.0.0.1/32,::1/128")
    monkeypatch.setenv("SEARCH_PROXY_SERVER__PORT", "9000")
    settings = Settings()
    assert settings.configured_providers() == ["brave", "searxng"]
    assert settings.providers.searxng.base_url == "https://searx.internal"
    assert settings.fetch.allow_networks == [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]
    assert settings.server.port == 9000
    assert "BSA-real-key-123" not in repr(settings)
    assert settings.secret_values() == ["BSA-real-key-123"]


def test_json_list_is_accepted_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__ORDER", '["tavily"]')
    assert Settings().providers.order == ["tavily"]


def test_keyed_provider_without_key_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__BOCHA__API_KEY", "")  # empty counts as unset
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__TAVILY__API_KEY", "tvly-abc-123")
    assert Settings().configured_providers() == ["tavily"]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SEARCH_PROXY_PROVIDERS__ORDER", "searxng,google", r"unknown providers \['google'\]"),
        ("SEARCH_PROXY_PROVIDERS__ORDER", "brave,brave", "lists a provider twice"),
        ("SEARCH_PROXY_PROVIDERS__BRAVE__BASE_URL", "http://api.search.brave.com", "must use https"),
        ("SEARCH_PROXY_PROVIDERS__SEARXNG__BASE_URL", "http://searxng:8080", "must use https"),
        ("SEARCH_PROXY_PROVIDERS__TAVILY__BASE_URL", "https://u:p@api.tavily.com", "must not carry credentials"),
        ("SEARCH_PROXY_PROVIDERS__BOCHA__API_KEY", "changeme", "placeholder secret"),
        ("SEARCH_PROXY_SERVER__API_KEY", "<your key>", "placeholder secret"),
        ("SEARCH_PROXY_HTTP__CA_BUNDLE", "/nonexistent/ca.pem", "is not a file"),
    ],
)
def test_invalid_settings_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_searxng_may_use_http_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__SEARXNG__BASE_URL", "http://searxng:8080")
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__SEARXNG__ALLOW_HTTP", "true")
    assert Settings().providers.searxng.base_url == "http://searxng:8080"


def test_toml_file_supplies_non_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text('[providers]\norder = ["searxng"]\n[providers.searxng]\nbase_url = "https://s.example"\n')
    monkeypatch.setenv("SEARCH_PROXY_CONFIG_FILE", str(config))
    monkeypatch.setenv("SEARCH_PROXY_SERVER__PORT", "8400")
    settings = Settings()
    assert settings.configured_providers() == ["searxng"] and settings.server.port == 8400


def test_toml_file_with_a_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "proxy.toml"
    config.write_text('[providers.brave]\napi_key = "BSA-leaked"\n')
    monkeypatch.setenv("SEARCH_PROXY_CONFIG_FILE", str(config))
    with pytest.raises(ValueError, match=r"environment only; remove \['providers.brave.api_key'\]"):
        Settings()
