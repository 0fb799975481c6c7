"""One request id per HTTP request, on every log record written while it is handled.

The id comes from the caller's ``X-Request-ID`` when it is sane (the answering service forwards
its own to the search proxy, so one id spans both) or is made here. It lives in a context
variable, so worker threads that copy the context (anyio does) see it too.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar, Token
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled, or ``None`` outside a request."""
    return _request_id.get()


def bind_request_id(incoming: str | None) -> tuple[str, Token[str | None]]:
    """Use the caller's id when it is sane, else a fresh one; returns it and a token for ``reset_request_id``."""
    value = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
    return value, _request_id.set(value)


def reset_request_id(token: Token[str | None]) -> None:
    _request_id.reset(token)


def install_record_factory() -> None:
    """Make every log record carry ``request_id`` while a request is handled (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_servicekit_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        request_id = _request_id.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return record

    factory._servicekit_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
