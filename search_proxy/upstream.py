"""Outbound HTTP to search providers: TLS trust, rate limit, retries honouring Retry-After, time budget.

Every provider adapter sends through ``Upstream.request`` so the policy lives in one place and
vendor exceptions are translated to ``ProviderError`` at this boundary.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import Any

import certifi
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from search_proxy.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from search_proxy.ratelimit import TokenBucket
from search_proxy.settings import HttpSettings
from servicekit.formatting import seconds

log = logging.getLogger("search_proxy.upstream")

ErrorMapper = Callable[[httpx.Response], ProviderError]
# Raw provider text kept in an error (the chain scrubs and shortens it again for responses).
PROVIDER_TEXT_RAW = 2000
Sleep = Callable[[float], Awaitable[None]]


def build_ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Public roots plus an optional private CA; verification and hostname checks stay on."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        ctx.load_verify_locations(cafile=ca_bundle)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def build_provider_client(http: HttpSettings) -> httpx.AsyncClient:
    """The shared client for provider APIs; no redirects (an API that redirects is misconfigured)."""
    timeout = httpx.Timeout(http.read_timeout_s, connect=http.connect_timeout_s)
    return httpx.AsyncClient(
        verify=build_ssl_context(str(http.ca_bundle) if http.ca_bundle else None),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": http.user_agent},
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header, either delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def body_excerpt(response: httpx.Response) -> str:
    """The start of a non-JSON error body, for the error message."""
    return response.text[:PROVIDER_TEXT_RAW].strip()


def excerpt(value: object) -> str:
    """A provider-supplied message (from a JSON body), bounded before it goes into an error."""
    return str(value)[:PROVIDER_TEXT_RAW]


def json_body(provider: str, response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ProviderBadResponse(provider, f"HTTP {response.status_code} body is not JSON") from exc


def status_error(provider: str, response: httpx.Response, message: str) -> ProviderError:
    """Generic status → error mapping; adapters refine it for their documented codes."""
    status = response.status_code
    text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
    if status == 429:
        return ProviderRateLimited(provider, text, retry_after=parse_retry_after(response.headers.get("retry-after")))
    if status in (401, 403):
        return ProviderAuthError(provider, text, status=status)
    if status >= 500:
        return ProviderUnavailable(provider, text, status=status, retryable=status in (500, 502, 503, 504))
    return ProviderBadResponse(provider, text, status=status)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Upstream:
    """One provider's outbound policy. Constructed once per provider at start-up."""

    def __init__(
        self,
        provider: str,
        client: httpx.AsyncClient,
        http: HttpSettings,
        bucket: TokenBucket,
        *,
        max_wait_s: float,
        allow_http: bool = False,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.provider = provider
        self._client = client
        self._http = http
        self._bucket = bucket
        self._max_wait_s = max_wait_s
        self._allow_http = allow_http
        self._sleep = sleep

    async def request(
        self, method: str, url: str, *, error_mapper: ErrorMapper, deadline: float | None = None, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries; return a 2xx response or raise a ``ProviderError``.

        ``deadline`` (``time.monotonic()``) is the request's: no retry is waited for past it, so a
        provider that asks for a long Retry-After fails at once and leaves the time to the next one.
        """
        if not url.startswith("https://") and not (self._allow_http and url.startswith("http://")):
            raise ConfigError(f"{self.provider}: refusing non-https provider URL")
        deadline = min(time.monotonic() + self._http.provider_budget_s, deadline or float("inf"))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._http.retries + 1),
            retry=retry_if_exception(lambda exc: self._should_retry(exc, deadline)),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        try:
            async with asyncio.timeout(self._http.provider_budget_s):
                async for attempt in retrying:
                    with attempt:
                        return await self._attempt(method, url, error_mapper, **kwargs)
        except TimeoutError as exc:
            raise ProviderTimeout(self.provider, f"no answer within {seconds(self._http.provider_budget_s)}") from exc
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def _attempt(self, method: str, url: str, error_mapper: ErrorMapper, **kwargs: Any) -> httpx.Response:
        if not await self._bucket.acquire(self._max_wait_s):
            err = ProviderRateLimited(self.provider, "local rate limit reached", status=None)
            err.retryable = False
            raise err
        started = time.monotonic()
        try:
            response = await self._client.request(method, url, **kwargs)
        except (httpx.ConnectTimeout, httpx.ConnectError) as exc:
            if _is_tls_failure(exc):
                raise ProviderUnavailable(self.provider, "TLS verification failed", retryable=False) from exc
            raise ProviderUnavailable(self.provider, f"connection failed: {type(exc).__name__}") from exc
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(self.provider, f"{type(exc).__name__}") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(self.provider, f"transport error: {type(exc).__name__}") from exc
        log.info(
            "provider response",
            extra={
                "provider": self.provider,
                "status": response.status_code,
                "took_ms": round((time.monotonic() - started) * 1000),
            },
        )
        if response.is_success:
            return response
        raise error_mapper(response)

    def _should_retry(self, exc: BaseException, deadline: float) -> bool:
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        wait = self._http.backoff_base_s * 0.5  # the shortest jittered backoff
        if isinstance(exc, ProviderRateLimited) and exc.retry_after is not None:
            if exc.retry_after > self._http.retry_after_cap_s:
                return False
            wait = exc.retry_after
        return time.monotonic() + wait < deadline

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderRateLimited) and exc.retry_after is not None:
            return float(exc.retry_after)
        backoff = self._http.backoff_base_s * float(2 ** (state.attempt_number - 1))
        # Full jitter keeps many proxies from retrying in lockstep.
        return min(self._http.backoff_max_s, backoff) * random.uniform(0.5, 1.0)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "provider retry",
            extra={
                "provider": self.provider,
                "attempt": state.attempt_number,
                "error": type(exc).__name__,
                "detail": str(exc)[:200],
            },
        )
