"""Structured (JSON-lines) logging that cannot print API keys.

Keys are never passed to log calls, and as a second line of defence a filter scrubs every
configured secret and any bearer token from each record before it is formatted. The same
scrubbing (``RedactSecrets.scrub``, ``public_text``) cleans provider error text before it
reaches a response.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
# Record attributes that are not "extra" fields; uvicorn's color_message duplicates msg with ANSI codes.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}
REDACTED = "[redacted]"
_MIN_SECRET = 4  # shorter "secrets" would scrub ordinary words


class RedactSecrets(logging.Filter):
    """Replaces secret values (and ``Bearer …`` tokens) in the message and in extra fields."""

    def __init__(self, secrets: Iterable[str] = (), patterns: Iterable[re.Pattern[str]] = ()) -> None:
        super().__init__()
        # Longest first so a key that contains another is scrubbed whole.
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)
        self._patterns = list(patterns)  # shapes of secrets not known in advance (issued API keys)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = self._cut_off_secret(text)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return _BEARER.sub(rf"\g<1>{REDACTED}", text)

    def _cut_off_secret(self, text: str) -> str:
        """A secret cut off by an earlier truncation ends the text with its first characters."""
        for secret in self._secrets:
            for size in range(min(len(secret) - 1, len(text)), _MIN_SECRET - 1, -1):
                if text.endswith(secret[:size]):
                    return text[:-size] + REDACTED
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.scrub(value))
        return True


def public_text(text: str, redact: RedactSecrets, limit: int) -> str:
    """Text from outside (a provider's error body) fit for a response: scrubbed, then cut to ``limit``."""
    cleaned = " ".join(redact.scrub(text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD:
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


def configure_logging(level: str, *, json_lines: bool, secrets: Iterable[str]) -> None:
    """Root handler for our loggers and uvicorn's (which propagate when started with log_config=None)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; provider URLs are harmless but noisy.
    logging.getLogger("httpx").setLevel(logging.WARNING)
