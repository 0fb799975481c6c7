"""JSON-lines logging with the request id on every record, and no secrets in it.

The request id lives in a context variable set by the HTTP middleware (``rag.metrics``); a log
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
import uuid
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from servicekit.logs import REDACTED, JsonFormatter
from servicekit.logs import RedactSecrets as _RedactSecrets

__all__ = ["REDACTED", "REQUEST_ID_HEADER", "JsonFormatter", "RedactSecrets", "configure_logging", "scrub"]

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("askdocs_request_id", default=None)

_API_KEY = re.compile(r"askd_[A-Za-z0-9_-]{20,}")


def current_request_id() -> str | None:
    """The id of the request being handled, or ``None`` outside a request."""
    return _request_id.get()


def bind_request_id(incoming: str | None) -> tuple[str, Any]:
    """Use the caller's id when it is sane (so one id spans services), else a fresh one.

    Returns the id and a token for :func:`reset_request_id`.
    """
    value = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
    return value, _request_id.set(value)


def reset_request_id(token: Any) -> None:
    _request_id.reset(token)


def install_record_factory() -> None:
    """Make every log record carry ``request_id`` while a request is handled (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_askdocs_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        request_id = _request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return record

    factory._askdocs_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


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
