"""JSON-lines logging with the request id on every record, and no secrets in it.

The request id lives in a context variable set by the HTTP middleware (``servicekit``); a log
record factory copies it onto every record made while the request is handled, including in
worker threads (anyio copies the context), and ``rag.web_client`` forwards it to the search
proxy as ``X-Request-ID``. Questions, documents and answers are never logged at INFO: log
calls name sizes and ids, and a filter scrubs bearer tokens and API keys as a second defence.
The JSON formatter and the scrubbing filter are shared with the search proxy (``servicekit.logs``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

from servicekit.logs import REDACTED, JsonFormatter
from servicekit.logs import RedactSecrets as _RedactSecrets
from servicekit.request_ids import install_record_factory

__all__ = [
    "REDACTED",
    "JsonFormatter",
    "RedactSecrets",
    "configure_logging",
    "install_record_factory",
    "scrub",
]


_API_KEY = re.compile(r"askd_[A-Za-z0-9_-]{20,}")


def scrub(text: str) -> str:
    """Remove bearer tokens and anything shaped like one of our API keys."""
    return RedactSecrets().scrub(text)


class RedactSecrets(_RedactSecrets):
    """The search proxy's filter, also scrubbing anything shaped like one of our API keys."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets, patterns=[_API_KEY])


def configure_logging(level: str = "info", *, json_lines: bool = True, stream: Any = None) -> logging.Handler:
    """One root handler for our loggers and uvicorn's (run uvicorn with ``log_config=None``)."""
    install_record_factory()
    handler = logging.StreamHandler(stream or sys.stderr)
    formatter: logging.Formatter = (
        JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    handler.setFormatter(formatter)
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO, and the sentence-transformers stack is chatty.
    for noisy in ("httpx", "httpcore", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
