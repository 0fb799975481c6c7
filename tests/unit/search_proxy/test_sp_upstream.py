"""Upstream policy with an in-process transport: retries, Retry-After, https rule, error mapping."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from search_proxy.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from search_proxy.ratelimit import TokenBucket
from search_proxy.settings import HttpSettings
from search_proxy.upstream import Upstream, parse_retry_after, status_error

pytestmark = pytest.mark.unit

URL = "https://api.example.com/search"


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def upstream(
    handler: Callable[[httpx.Request], httpx.Response], sleeps: Sleeps, **http: float
) -> tuple[Upstream, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    settings = HttpSettings(**{"retries": 2, "backoff_base_s": 0.1, "backoff_max_s": 0.15, **http})
    return Upstream("demo", client, settings, TokenBucket(1000, 1000), max_wait_s=0, sleep=sleeps), client


def mapper(response: httpx.Response) -> ProviderUnavailable | ProviderRateLimited | ProviderBadResponse:
    return status_error("demo", response, response.text)  # type: ignore[return-value]


def scripted(*responses: httpx.Response) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    return handler, seen


async def test_5xx_is_retried_with_growing_jittered_backoff() -> None:
    sleeps = Sleeps()
    handler, seen = scripted(httpx.Response(503), httpx.Response(502), httpx.Response(200, json={}))
    up, client = upstream(handler, sleeps)
    response = await up.request("GET", URL, error_mapper=mapper)
    await client.aclose()
    assert response.status_code == 200 and len(seen) == 3
    assert 0.05 <= sleeps.calls[0] <= 0.1 and 0.075 <= sleeps.calls[1] <= 0.15


async def test_retry_after_seconds_are_honoured() -> None:
    sleeps = Sleeps()
    handler, _seen = scripted(httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200))
    up, client = upstream(handler, sleeps)
    await up.request("GET", URL, error_mapper=mapper)
    await client.aclose()
    assert sleeps.calls == [3.0]


async def test_retry_after_beyond_cap_fails_over_immediately() -> None:
    sleeps = Sleeps()
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "30"}))
    up, client = upstream(handler, sleeps, retry_after_cap_s=5)
    with pytest.raises(ProviderRateLimited):
        await up.request("GET", URL, error_mapper=mapper)
    await client.aclose()
    assert sleeps.calls == [] and len(seen) == 1


async def test_retries_are_bounded() -> None:
    handler, seen = scripted(*[httpx.Response(500)] * 5)
    up, client = upstream(handler, Sleeps())
    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        await up.request("GET", URL, error_mapper=mapper)
    await client.aclose()
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("status", "error"), [(401, ProviderAuthError), (403, ProviderAuthError), (400, ProviderBadResponse)]
)
async def test_client_errors_are_not_retried(status: int, error: type[Exception]) -> None:
    handler, seen = scripted(httpx.Response(status, text="nope"))
    up, client = upstream(handler, Sleeps())
    with pytest.raises(error):
        await up.request("GET", URL, error_mapper=mapper)
    await client.aclose()
    assert len(seen) == 1


async def test_read_timeout_is_not_retried_but_connect_errors_are() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append("x")
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        raise httpx.ReadTimeout("slow", request=request)

    up, client = upstream(handler, Sleeps())
    with pytest.raises(ProviderTimeout):
        await up.request("GET", URL, error_mapper=mapper)
    await client.aclose()
    assert len(calls) == 2


async def test_plain_http_is_refused_unless_allowed() -> None:
    handler, seen = scripted(httpx.Response(200))
    up, client = upstream(handler, Sleeps())
    with pytest.raises(ConfigError, match="non-https"):
        await up.request("GET", "http://api.example.com/search", error_mapper=mapper)
    await client.aclose()
    assert seen == []


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
