"""Each provider adapter against a real HTTPS server (trustme CA) speaking that provider's wire shapes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from search_proxy.errors import (
    ProviderAuthError,
    ProviderBadResponse,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from search_proxy.models import ProviderQuery
from search_proxy.providers.base import SearchProvider
from search_proxy.providers.bocha import BochaProvider
from search_proxy.providers.brave import BraveProvider
from search_proxy.providers.searxng import SearxngProvider
from search_proxy.providers.tavily import TavilyProvider
from search_proxy.ratelimit import TokenBucket
from search_proxy.settings import (
    BochaSettings,
    BraveSettings,
    HttpSettings,
    SearxngSettings,
    TavilySettings,
)
from search_proxy.upstream import Upstream, build_provider_client
from tests.integration.search_proxy.sp_fakes import Reply, bocha_ok, brave_error, searxng_ok, tavily_ok

pytestmark = pytest.mark.integration

KEYS = {"bocha": "sk-bocha-test-0001", "brave": "BSA-test-0002", "tavily": "tvly-test-0003"}
QUERY = ProviderQuery(q="python", k=5)


class SleepLog:
    """Records requested back-off sleeps instead of sleeping, so Retry-After handling is observable."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


Make = Callable[..., SearchProvider]


@pytest.fixture
async def make(providers_url: str, fast_http: HttpSettings) -> AsyncIterator[Make]:
    clients: list[httpx.AsyncClient] = []

    def build(name: str, *, http: HttpSettings | None = None, sleep: SleepLog | None = None, **group: Any) -> Any:
        http = http or fast_http
        client = build_provider_client(http)
        clients.append(client)
        base = {"base_url": f"{providers_url}/{name}", "rate_per_s": 1000, "burst": 1000, **group}
        if name in KEYS:
            base.setdefault("api_key", KEYS[name])
        settings_cls = {
            "searxng": SearxngSettings,
            "bocha": BochaSettings,
            "brave": BraveSettings,
            "tavily": TavilySettings,
        }[name]
        settings = settings_cls(**base)
        bucket = TokenBucket(settings.rate_per_s, settings.burst)
        kwargs = {"sleep": sleep} if sleep is not None else {}
        upstream = Upstream(name, client, http, bucket, max_wait_s=settings.max_wait_s, **kwargs)
        provider_cls = {
            "searxng": SearxngProvider,
            "bocha": BochaProvider,
            "brave": BraveProvider,
            "tavily": TavilyProvider,
        }[name]
        return provider_cls(settings, upstream)

    yield build
    for client in clients:
        await client.aclose()


# --- SearXNG -----------------------------------------------------------------------------------


async def test_searxng_maps_documented_shape_and_sends_json_format(make: Make, providers: Any) -> None:
    providers.script(
        "searxng",
        Reply(
            body=searxng_ok(
                [
                    ("Low score", "https://b.example/low", "second"),
                    ("High score", "https://a.example/high", "first"),
                ]
            )
        ),
    )
    # The fake gives the first result the higher score; flip them to prove sorting by score.
    body = providers.queues["searxng"][0].body
    body["results"][0]["score"], body["results"][1]["score"] = 1.0, 5.0
    body["results"][1]["publishedDate"] = "2024-05-01T10:00:00"
    answer = await make("searxng").search(ProviderQuery(q="crane", k=1, lang="zh-CN", freshness="week"))
    assert [hit.url for hit in answer.hits] == ["https://a.example/high"]
    assert answer.hits[0].site == "a.example"
    assert answer.hits[0].published_at == datetime(2024, 5, 1, 10, 0)
    assert answer.notes == ["searxng engine google unresponsive: timeout"]
    params = providers.calls("searxng")[0].params
    assert params["format"] == "json" and params["q"] == "crane"
    assert params["language"] == "zh-CN" and params["time_range"] == "week"


async def test_searxng_403_html_means_json_disabled_and_is_not_retried(make: Make, providers: Any) -> None:
    providers.script("searxng", Reply(403, "<html><body>Forbidden</body></html>", content_type="text/html"))
    with pytest.raises(ProviderUnavailable, match="json format is not enabled"):
        await make("searxng").search(QUERY)
    assert len(providers.calls("searxng")) == 1


async def test_searxng_400_error_message_is_reported(make: Make, providers: Any) -> None:
    providers.script("searxng", Reply(400, {"error": "Invalid time_range"}))
    with pytest.raises(ProviderBadResponse, match="Invalid time_range"):
        await make("searxng").search(QUERY)


async def test_searxng_500_is_retried_then_succeeds(make: Make, providers: Any) -> None:
    providers.script("searxng", Reply(500, {"error": "search error"}))
    answer = await make("searxng").search(QUERY)
    assert answer.hits and len(providers.calls("searxng")) == 2


async def test_searxng_limiter_429_plain_text_backs_off_and_retries(make: Make, providers: Any) -> None:
    sleep = SleepLog()
    providers.script("searxng", Reply(429, "Too Many Requests", content_type="text/plain"))
    answer = await make("searxng", sleep=sleep).search(QUERY)
    assert answer.hits
    assert len(sleep.calls) == 1 and 0 < sleep.calls[0] <= 0.02  # backoff, no Retry-After to honour


async def test_searxng_all_engines_failed_is_empty_with_notes(make: Make, providers: Any) -> None:
    body = searxng_ok()
    body["results"] = []
    body["unresponsive_engines"] = [["google", "timeout"], ["bing", "CAPTCHA"]]
    providers.script("searxng", Reply(body=body))
    answer = await make("searxng").search(QUERY)
    assert answer.hits == []
    assert "searxng engine bing unresponsive: CAPTCHA" in answer.notes


async def test_searxng_malformed_bodies_are_bad_responses(make: Make, providers: Any) -> None:
    providers.script("searxng", Reply(body='{"results": [', content_type="application/json"))
    with pytest.raises(ProviderBadResponse, match="not JSON"):
        await make("searxng").search(QUERY)
    providers.script("searxng", Reply(body={"query": "python"}))
    with pytest.raises(ProviderBadResponse, match="no results list"):
        await make("searxng").search(QUERY)


async def test_slow_reply_times_out(make: Make, providers: Any, fast_http: HttpSettings) -> None:
    http = fast_http.model_copy(update={"read_timeout_s": 0.3, "retries": 0})
    providers.script("searxng", Reply(body=searxng_ok(), delay=1.5))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await make("searxng", http=http).search(QUERY)
    assert time.monotonic() - started < 1.2


async def test_provider_budget_caps_retries(make: Make, providers: Any, fast_http: HttpSettings) -> None:
    http = fast_http.model_copy(update={"read_timeout_s": 5.0, "provider_budget_s": 0.4})
    providers.script("searxng", Reply(body=searxng_ok(), delay=2.0))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match="no answer within 0.4 s"):
        await make("searxng", http=http).search(QUERY)
    assert time.monotonic() - started < 1.0


async def test_certificate_is_verified_without_the_custom_ca(make: Make, providers: Any) -> None:
    untrusting = HttpSettings(retries=2, connect_timeout_s=1.0, read_timeout_s=1.0)
    with pytest.raises(ProviderUnavailable, match="TLS verification failed"):
        await make("searxng", http=untrusting).search(QUERY)
    assert providers.calls("searxng") == []  # the handshake failed before any request was sent


# --- Bocha -------------------------------------------------------------------------------------


async def test_bocha_request_and_response_shape(make: Make, providers: Any) -> None:
    body = bocha_ok([("新闻一", "https://news.example.cn/1", "摘要一"), ("新闻二", "https://news.example.cn/2", "")])
    second = body["data"]["webPages"]["value"][1]
    second["datePublished"] = None
    second["summary"] = "长摘要"
    providers.script("bocha", Reply(body=body))
    answer = await make("bocha").search(ProviderQuery(q="港口", k=7, freshness="month"))
    seen = providers.calls("bocha")[0]
    assert seen.headers["authorization"] == f"Bearer {KEYS['bocha']}"
    assert seen.json == {"query": "港口", "count": 7, "freshness": "oneMonth", "summary": False}
    first, other = answer.hits
    assert (first.title, first.snippet, first.site) == ("新闻一", "摘要一", "news.example.cn")
    assert first.published_at == datetime(2024, 7, 22, tzinfo=timezone(timedelta(hours=8)))
    # Missing datePublished falls back to dateLastCrawled, whose "Z" is really UTC+8.
    assert other.published_at is not None and other.published_at.utcoffset() == timedelta(hours=8)
    assert other.snippet == "长摘要"


@pytest.mark.parametrize(
    ("status", "message", "error"),
    [
        (401, "Invalid API KEY", ProviderAuthError),
        (403, "You do not have enough money", ProviderAuthError),
        (400, "Missing parameter query", ProviderBadResponse),
    ],
)
async def test_bocha_error_bodies_are_not_retried(
    make: Make, providers: Any, status: int, message: str, error: type[Exception]
) -> None:
    providers.script("bocha", Reply(status, {"code": str(status), "message": message, "log_id": "x"}))
    with pytest.raises(error, match=message):
        await make("bocha").search(QUERY)
    assert len(providers.calls("bocha")) == 1


async def test_bocha_429_is_retried(make: Make, providers: Any) -> None:
    sleep = SleepLog()
    providers.script("bocha", Reply(429, {"code": "429", "message": "You have reached the request limit"}))
    answer = await make("bocha", sleep=sleep).search(QUERY)
    assert answer.hits and len(providers.calls("bocha")) == 2 and len(sleep.calls) == 1


async def test_bocha_without_web_pages_is_empty(make: Make, providers: Any) -> None:
    body = bocha_ok()
    body["data"]["webPages"] = None
    providers.script("bocha", Reply(body=body))
    assert (await make("bocha").search(QUERY)).hits == []


# --- Brave -------------------------------------------------------------------------------------


async def test_brave_request_and_response_shape(make: Make, providers: Any) -> None:
    answer = await make("brave", country="DE").search(ProviderQuery(q="python", k=30, lang="zh-CN", freshness="day"))
    seen = providers.calls("brave")[0]
    assert seen.headers["x-subscription-token"] == KEYS["brave"]
    assert seen.params["count"] == "20"  # Brave's maximum
    assert seen.params["search_lang"] == "zh-hans" and seen.params["freshness"] == "pd"
    assert seen.params["text_decorations"] == "false" and seen.params["country"] == "DE"
    hit = answer.hits[0]
    assert hit.snippet == "The official home of the Python Programming Language"  # <strong> stripped
    assert hit.site == "www.python.org"
    assert hit.published_at == datetime(2023, 9, 9, 15, 55, 5)


async def test_brave_invalid_key_is_422_auth_error(make: Make, providers: Any) -> None:
    providers.script("brave", Reply(422, brave_error(422, "SUBSCRIPTION_TOKEN_INVALID", "The token is invalid")))
    with pytest.raises(ProviderAuthError, match="SUBSCRIPTION_TOKEN_INVALID"):
        await make("brave").search(QUERY)
    assert len(providers.calls("brave")) == 1


async def test_brave_rate_limit_waits_for_the_exhausted_window(make: Make, providers: Any) -> None:
    sleep = SleepLog()
    headers = {"X-RateLimit-Limit": "1, 15000", "X-RateLimit-Remaining": "0, 1000", "X-RateLimit-Reset": "1, 1419704"}
    providers.script(
        "brave", Reply(429, brave_error(429, "RATE_LIMITED", "Request rate limit exceeded"), headers=headers)
    )
    answer = await make("brave", sleep=sleep).search(QUERY)
    assert answer.hits
    assert sleep.calls == [1.0]


async def test_brave_quota_limit_is_not_retried(make: Make, providers: Any) -> None:
    providers.script("brave", Reply(429, brave_error(429, "QUOTA_LIMITED", "Monthly quota exceeded")))
    with pytest.raises(ProviderRateLimited, match="QUOTA_LIMITED"):
        await make("brave").search(QUERY)
    assert len(providers.calls("brave")) == 1


async def test_brave_errors_array_variant_is_understood(make: Make, providers: Any) -> None:
    body = {"type": "ErrorResponse", "errors": [{"code": "SUBSCRIPTION_NOT_FOUND", "detail": "no subscription"}]}
    providers.script("brave", Reply(404, body))
    with pytest.raises(ProviderAuthError, match="SUBSCRIPTION_NOT_FOUND"):
        await make("brave").search(QUERY)


async def test_brave_without_web_section_is_empty(make: Make, providers: Any) -> None:
    providers.script("brave", Reply(body={"type": "search", "query": {"original": "zzzz"}}))
    assert (await make("brave").search(QUERY)).hits == []


# --- Tavily ------------------------------------------------------------------------------------


async def test_tavily_request_and_response_shape(make: Make, providers: Any) -> None:
    answer = await make("tavily").search(ProviderQuery(q="messi", k=3, freshness="year"))
    seen = providers.calls("tavily")[0]
    assert seen.headers["authorization"] == f"Bearer {KEYS['tavily']}"
    assert seen.json is not None and seen.json["max_results"] == 3 and seen.json["time_range"] == "year"
    assert "api_key" not in seen.json  # key travels in the header, not the body
    hit = answer.hits[0]
    assert hit.site == "www.britannica.com" and hit.snippet.startswith("Lionel Messi")


async def test_tavily_429_honours_retry_after(make: Make, providers: Any) -> None:
    sleep = SleepLog()
    detail = {"detail": {"error": "Your request has been blocked due to excessive requests."}}
    providers.script("tavily", Reply(429, detail, headers={"retry-after": "2"}))
    answer = await make("tavily", sleep=sleep).search(QUERY)
    assert answer.hits and sleep.calls == [2.0]


async def test_tavily_long_retry_after_is_not_waited_for(make: Make, providers: Any) -> None:
    sleep = SleepLog()
    detail = {"detail": {"error": "Your request has been blocked due to excessive requests."}}
    providers.script("tavily", Reply(429, detail, headers={"retry-after": "60"}))
    with pytest.raises(ProviderRateLimited) as caught:
        await make("tavily", sleep=sleep).search(QUERY)
    assert caught.value.retry_after == 60.0 and sleep.calls == []


async def test_tavily_retry_after_http_date(make: Make, providers: Any) -> None:
    sleep = SleepLog()
    when = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    providers.script("tavily", Reply(429, {"detail": {"error": "slow down"}}, headers={"retry-after": when}))
    await make("tavily", sleep=sleep).search(QUERY)
    assert len(sleep.calls) == 1 and 1.0 <= sleep.calls[0] <= 3.0


@pytest.mark.parametrize("status", [432, 433])
async def test_tavily_plan_limits_are_auth_errors(make: Make, providers: Any, status: int) -> None:
    providers.script("tavily", Reply(status, {"detail": {"error": "This request exceeds your plan's set usage limit"}}))
    with pytest.raises(ProviderAuthError, match="usage limit"):
        await make("tavily").search(QUERY)
    assert len(providers.calls("tavily")) == 1


async def test_tavily_401_and_422_shapes(make: Make, providers: Any) -> None:
    providers.script("tavily", Reply(401, {"detail": {"error": "Unauthorized: missing or invalid API key."}}))
    with pytest.raises(ProviderAuthError, match="missing or invalid API key"):
        await make("tavily").search(QUERY)
    validation = {"detail": [{"loc": ["body", "max_results"], "msg": "Input should be less than or equal to 20"}]}
    providers.script("tavily", Reply(422, validation))
    with pytest.raises(ProviderBadResponse, match="less than or equal to 20"):
        await make("tavily").search(QUERY)


async def test_tavily_5xx_exhausts_retries(make: Make, providers: Any) -> None:
    providers.script("tavily", *[Reply(502, "Bad Gateway", content_type="text/plain")] * 3)
    with pytest.raises(ProviderUnavailable, match="HTTP 502"):
        await make("tavily").search(QUERY)
    assert len(providers.calls("tavily")) == 3  # one try plus two retries


async def test_tavily_results_missing_is_bad_response(make: Make, providers: Any) -> None:
    body = tavily_ok()
    del body["results"]
    providers.script("tavily", Reply(body=body))
    with pytest.raises(ProviderBadResponse):
        await make("tavily").search(QUERY)


# --- upstream rate limit -------------------------------------------------------------------------


async def test_local_rate_limit_falls_through_instead_of_queueing(make: Make, providers: Any) -> None:
    provider = make("brave", rate_per_s=0.5, burst=1, max_wait_s=0.1)
    await provider.search(QUERY)
    with pytest.raises(ProviderRateLimited, match="local rate limit"):
        await provider.search(QUERY)
    assert len(providers.calls("brave")) == 1  # the second call never reached the provider


# --- every provider: Retry-After, slow and malformed replies ---------------------------------------

RATE_LIMIT_BODIES: dict[str, tuple[Any, str]] = {
    "searxng": ("Too Many Requests", "text/plain"),
    "bocha": ({"code": "429", "message": "You have reached the request limit", "log_id": "x"}, "application/json"),
    "brave": (brave_error(429, "RATE_LIMITED", "Request rate limit exceeded"), "application/json"),
    "tavily": ({"detail": {"error": "Your request has been blocked due to excessive requests."}}, "application/json"),
}


@pytest.mark.parametrize("name", ["searxng", "bocha", "brave", "tavily"])
async def test_every_provider_honours_retry_after(make: Make, providers: Any, name: str) -> None:
    sleep = SleepLog()
    body, content_type = RATE_LIMIT_BODIES[name]
    providers.script(name, Reply(429, body, headers={"Retry-After": "1"}, content_type=content_type))
    answer = await make(name, sleep=sleep).search(QUERY)
    assert answer.hits and sleep.calls == [1.0] and len(providers.calls(name)) == 2


@pytest.mark.parametrize("name", ["searxng", "bocha", "brave", "tavily"])
async def test_every_provider_times_out_on_a_stalled_reply(
    make: Make, providers: Any, fast_http: HttpSettings, name: str
) -> None:
    http = fast_http.model_copy(update={"read_timeout_s": 0.3})
    providers.script(name, Reply(body={}, delay=1.5))
    started = time.monotonic()
    with pytest.raises(ProviderTimeout):
        await make(name, http=http).search(QUERY)
    assert time.monotonic() - started < 1.2 and len(providers.calls(name)) == 1


@pytest.mark.parametrize("name", ["searxng", "bocha", "brave", "tavily"])
@pytest.mark.parametrize("body", ['{"results": [', "<html>Service moved</html>", "[1, 2, 3]"])
async def test_every_provider_rejects_malformed_bodies(make: Make, providers: Any, name: str, body: str) -> None:
    providers.script(name, Reply(body=body, content_type="application/json"))
    with pytest.raises(ProviderBadResponse):
        await make(name).search(QUERY)
