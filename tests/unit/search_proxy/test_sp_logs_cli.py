"""Log redaction and JSON shape; the CLI's provider listing."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from search_proxy.cli import app
from servicekit.logs import JsonFormatter, RedactSecrets, public_text

pytestmark = pytest.mark.unit


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("search_proxy.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_secrets_and_bearer_tokens_are_scrubbed_from_message_and_extras() -> None:
    redact = RedactSecrets(["BSA-secret-123", "sk-bocha-456"])
    rec = record("sent %s with Authorization: Bearer tvly-zzz", "BSA-secret-123", header="key sk-bocha-456")
    assert redact.filter(rec)
    line = JsonFormatter().format(rec)
    assert "BSA-secret-123" not in line and "sk-bocha-456" not in line and "tvly-zzz" not in line
    payload = json.loads(line)
    assert payload["msg"] == "sent [redacted] with Authorization: Bearer [redacted]"
    assert payload["header"] == "key [redacted]" and payload["level"] == "info"


def test_a_secret_cut_off_at_the_end_is_scrubbed_too() -> None:
    redact = RedactSecrets(["sk-bocha-secret-456"])
    assert redact.scrub("you sent sk-bocha-sec") == "you sent [redacted]"
    assert redact.scrub("ends with sk-") == "ends with sk-"  # three characters identify nothing


def test_public_text_is_scrubbed_then_shortened() -> None:
    redact = RedactSecrets(["tvly-abcdef-123456"])
    text = "error:  key\n tvly-abcdef-123456 rejected " + "y" * 500
    short = public_text(text, redact, 60)
    assert short.startswith("error: key [redacted] rejected yyy") and short.endswith("…") and len(short) == 60
    assert public_text("short", redact, 60) == "short"


def test_json_lines_carry_extra_fields() -> None:
    payload = json.loads(JsonFormatter().format(record("provider response", provider="brave", status=200)))
    assert payload["provider"] == "brave" and payload["status"] == 200 and payload["logger"] == "search_proxy.test"


def test_cli_lists_providers_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from search_proxy.settings import get_settings

    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__TAVILY__API_KEY", "tvly-cli-secret")
    monkeypatch.setenv("SEARCH_PROXY_PROVIDERS__ORDER", "tavily,brave")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["providers"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"order": ["tavily", "brave"], "configured": ["tavily"]}
    assert "tvly-cli-secret" not in result.stdout


def test_cli_serve_has_host_and_port_options() -> None:
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--port" in result.stdout and "--host" in result.stdout
