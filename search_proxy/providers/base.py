"""The ``SearchProvider`` Protocol and small helpers shared by the adapters."""

from __future__ import annotations

import html
import re
from datetime import datetime
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from pydantic import TypeAdapter, ValidationError

from search_proxy.models import ProviderAnswer, ProviderQuery

_TAG = re.compile(r"<[^>]{0,200}>")
_DATETIME = TypeAdapter(datetime)


@runtime_checkable
class SearchProvider(Protocol):
    """One web-search backend.

    ``search`` returns hits in the provider's own order (possibly empty) or raises a
    ``ProviderError`` subclass; it never raises vendor or transport exceptions.
    """

    name: str

    async def search(self, query: ProviderQuery) -> ProviderAnswer: ...


def clean_text(value: str | None) -> str:
    """Plain text from a snippet: tags such as Brave's ``<strong>`` removed, entities decoded."""
    if not value:
        return ""
    return " ".join(html.unescape(_TAG.sub("", value)).split())


def parse_datetime(value: object) -> datetime | None:
    """ISO 8601 (with or without zone) or None; providers send dates in loosely specified forms."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return _DATETIME.validate_python(value.strip())
    except ValidationError:
        return None


def host_of(url: str) -> str | None:
    return urlsplit(url).hostname


def is_web_url(url: str) -> bool:
    """Only http(s) links are worth returning; anything else cannot be cited or fetched."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)
