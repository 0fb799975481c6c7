"""Fetch the top result pages concurrently, under the SSRF guard, a byte limit and a deadline.

Every hop of a redirect chain is followed here, one at a time, so each new location goes through
``PinnedTransport`` again. A slow or failing page never holds the response past the deadline: it is
abandoned and named in the warnings. Bodies are read raw and decoded here by bounded decoders
(``decompress``), so the byte limit holds for the decompressed page, not only for what arrived.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from search_proxy.errors import FetchError, PageTooLarge, UnsupportedContent
from search_proxy.fetch.decompress import ACCEPT_ENCODING, decoder_for
from search_proxy.fetch.extract import HTML_TYPES, PDF_TYPES, TEXT_TYPES, RawPage, extract_text, media_type
from search_proxy.fetch.ssrf import AddressPolicy, PinnedTransport, Resolver, SystemResolver, check_url, redact_url
from search_proxy.settings import FetchSettings
from servicekit.formatting import byte_count, seconds

log = logging.getLogger("search_proxy.fetch")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_READABLE = HTML_TYPES | PDF_TYPES | TEXT_TYPES | {"", "application/octet-stream", "binary/octet-stream"}
_ACCEPT = "text/html,application/xhtml+xml;q=0.9,application/pdf;q=0.8,text/plain;q=0.7,*/*;q=0.1"


# Compressed bytes read per page may exceed the byte limit by this factor before reading stops:
# a body that decodes to almost nothing is junk, and the limit must not be dodged by it either.
WIRE_FACTOR = 2


@dataclass
class PageText:
    """Extracted text of one page; ``truncated`` when the page was larger than the byte limit."""

    text: str
    truncated: bool = False


@dataclass
class FetchOutcome:
    """Extracted text by position in the input list, one warning per page that failed, and notes
    about pages that were used only in part (truncated at the byte limit)."""

    contents: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class PageFetcher:
    """Owns one HTTP client for pages; ``aclose`` it on shutdown."""

    def __init__(
        self,
        settings: FetchSettings,
        *,
        ssl_context: ssl.SSLContext,
        resolver: Resolver | None = None,
    ) -> None:
        self._settings = settings
        # No keep-alive: connections are keyed by IP after pinning, and reusing one opened with
        # another host's SNI would send this host's request over that host's TLS session.
        inner = httpx.AsyncHTTPTransport(
            verify=ssl_context, limits=httpx.Limits(max_keepalive_connections=0), retries=0
        )
        transport = PinnedTransport(AddressPolicy(settings.allow_networks), resolver or SystemResolver(), inner)
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # an environment proxy would connect on our behalf, bypassing the pinning
            timeout=httpx.Timeout(settings.page_timeout_s),
            headers={"User-Agent": settings.user_agent, "Accept": _ACCEPT, "Accept-Encoding": ACCEPT_ENCODING},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch_raw(self, url: str) -> RawPage:
        """Follow redirects manually (bounded), checking every hop; read at most ``max_bytes``."""
        try:
            current = httpx.URL(url)
            for _hop in range(self._settings.max_redirects + 1):
                check_url(current)
                async with self._client.stream("GET", current) as response:
                    if response.status_code in REDIRECT_STATUSES and "location" in response.headers:
                        current = current.join(response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise FetchError(f"HTTP {response.status_code}")
                    return await self._read(response, str(current))
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL: {exc}") from exc
        raise FetchError(f"more than {self._settings.max_redirects} redirects")

    async def _read(self, response: httpx.Response, url: str) -> RawPage:
        content_type = response.headers.get("content-type")
        kind = media_type(content_type)
        if kind not in _READABLE:
            raise UnsupportedContent(f"content type {kind} is not extracted")
        limit = self._settings.max_bytes
        declared = response.headers.get("content-length", "")
        if kind in PDF_TYPES and declared.isdigit() and int(declared) > limit:
            raise PageTooLarge(f"PDF of {declared} bytes exceeds the {limit}-byte limit")
        decoder = decoder_for(response.headers.get("content-encoding"))
        chunks: list[bytes] = []
        size = wire = 0
        # One byte past the limit is asked for, so a page of exactly ``limit`` bytes is not "truncated".
        async for raw in response.aiter_raw():
            wire += len(raw)
            decoder.feed(raw)
            while size <= limit and (out := decoder.read(limit + 1 - size)):
                chunks.append(out)
                size += len(out)
            if size > limit or wire > limit * WIRE_FACTOR:
                break  # stop reading: the rest never leaves the socket buffer
        truncated = size > limit or wire > limit * WIRE_FACTOR
        body = b"".join(chunks)[:limit]
        return RawPage(url=url, content_type=content_type, body=body, truncated=truncated)

    async def fetch_text(self, url: str) -> PageText:
        page = await self.fetch_raw(url)
        text = await asyncio.to_thread(
            extract_text, page, max_chars=self._settings.max_chars, pdf=self._settings.extract_pdf
        )
        if page.truncated:
            log.info("page truncated at byte limit", extra={"bytes": self._settings.max_bytes})
        return PageText(text, truncated=page.truncated)

    async def fetch_many(self, urls: Sequence[str], *, deadline_s: float | None = None) -> FetchOutcome:
        """Fetch concurrently (bounded by ``concurrency``); give up on whatever is late at the deadline."""
        deadline = self._settings.deadline_s if deadline_s is None else min(deadline_s, self._settings.deadline_s)
        outcome = FetchOutcome()
        if not urls:
            return outcome
        gate = asyncio.Semaphore(self._settings.concurrency)
        started = time.monotonic()

        async def one(url: str) -> PageText:
            async with gate, asyncio.timeout(self._settings.page_timeout_s):
                return await self.fetch_text(url)

        tasks = {asyncio.create_task(one(url)): index for index, url in enumerate(urls)}
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline))
        for task in pending:
            task.cancel()
            task.add_done_callback(_swallow)
        for task, index in sorted(tasks.items(), key=lambda item: item[1]):
            label = f"result {index + 1} ({_short(urls[index])})"
            if task in pending:
                outcome.warnings.append(f"{label}: not fetched within the {seconds(deadline)} deadline")
                continue
            exc = task.exception()
            if exc is None:
                page = task.result()
                outcome.contents[index] = page.text
                if page.truncated:
                    limit = byte_count(self._settings.max_bytes)
                    outcome.notes.append(f"{label}: page cut at {limit} (the fetch limit)")
            else:
                outcome.warnings.append(f"{label}: {_describe(exc, self._settings.page_timeout_s)}")
        took_ms = round((time.monotonic() - started) * 1000)
        log.info("pages fetched", extra={"pages": len(urls), "ok": len(outcome.contents), "took_ms": took_ms})
        return outcome


def _describe(exc: BaseException, page_timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"timed out after {seconds(page_timeout_s)}"
    if isinstance(exc, FetchError):
        return str(exc)
    if isinstance(exc, httpx.HTTPError):
        return f"fetch failed: {type(exc).__name__}"
    log.error("unexpected fetch error", exc_info=exc)
    return f"fetch failed: {type(exc).__name__}"


def _short(url: str, limit: int = 120) -> str:
    url = redact_url(url)
    return url if len(url) <= limit else url[: limit - 1] + "…"


def _swallow(task: asyncio.Task[PageText]) -> None:
    """Abandoned fetches may still fail while winding down; that is expected, not worth a log line."""
    if not task.cancelled():
        task.exception()
