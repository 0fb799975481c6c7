"""The search proxy itself under a real uvicorn on 127.0.0.1, in front of the HTTPS fake providers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from search_proxy.app import create_app
from search_proxy.settings import HttpSettings, Settings
from tests.integration.search_proxy.sp_fakes import Reply, searxng_ok
from tests.integration.search_proxy.sp_pages import ARTICLE_SENTENCE, CHINESE_SENTENCE
from tests.integration.search_proxy.sp_servers import LOCAL, ServerThread

pytestmark = pytest.mark.integration

PROXY_KEY = "proxy-shared-secret-7f3a"
BOCHA_KEY = "sk-bocha-secret-9c1d"
AUTH = {"X-Search-Proxy-Key": PROXY_KEY}
Serve = Callable[..., str]


def proxy_settings(providers_url: str, http: HttpSettings, **overrides: Any) -> Settings:
    fast = {"rate_per_s": 1000, "burst": 1000}
    values: dict[str, Any] = {
        "server": {"api_key": PROXY_KEY},
        "http": http,
        "providers": {
            "order": ["searxng", "bocha"],
            "searxng": {"base_url": f"{providers_url}/searxng", **fast},
            "bocha": {"base_url": f"{providers_url}/bocha", "api_key": BOCHA_KEY, **fast},
        },
        "fetch": {"allow_networks": LOCAL, "page_timeout_s": 3.0, "deadline_s": 5.0},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def serve(providers_url: str, fast_http: HttpSettings) -> Iterator[Serve]:
    """Start the proxy app with the given setting overrides; returns its base URL."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> str:
            app = create_app(proxy_settings(providers_url, overrides.pop("http", fast_http), **overrides))
            return stack.enter_context(ServerThread(app)).base_url

        yield start


@pytest.fixture
def proxy(serve: Serve) -> str:
    return serve()


def page_results(pages_url: str) -> Reply:
    return Reply(
        body=searxng_ok(
            [
                ("Crane checklist", f"{pages_url}/article", "hydraulics and brakes"),
                ("起重机检查", f"{pages_url}/gbk", "液压系统"),
                ("Slow page", f"{pages_url}/slow?s=3", "takes long"),
            ]
        )
    )


def test_get_search_returns_documented_shape(proxy: str, providers: Any) -> None:
    reply = httpx.get(f"{proxy}/search", params={"q": " python  language ", "k": 3}, headers=AUTH)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"query", "provider", "results", "cached", "took_ms", "warnings"}
    assert body["query"] == "python language" and body["provider"] == "searxng" and body["cached"] is False
    assert body["results"][0] == {
        "rank": 1,
        "title": "Welcome to Python.org",
        "url": "https://www.python.org/",
        "snippet": "Python is a versatile language",
        "published_at": None,
        "site": "www.python.org",
        "content": None,
    }
    assert "searxng engine google unresponsive: timeout" in body["warnings"]
    assert isinstance(body["took_ms"], int)


def test_post_search_matches_get(proxy: str, providers: Any) -> None:
    reply = httpx.post(f"{proxy}/search", json={"q": "python", "k": 3, "lang": "en", "freshness": "week"}, headers=AUTH)
    assert reply.status_code == 200
    assert reply.json()["results"][0]["url"] == "https://www.python.org/"
    params = providers.calls("searxng")[0].params
    assert params["language"] == "en" and params["time_range"] == "week"


def test_shared_secret_is_required(proxy: str, providers: Any) -> None:
    for headers in ({}, {"X-Search-Proxy-Key": "wrong"}, {"X-Search-Proxy-Key": PROXY_KEY + "x"}):
        reply = httpx.get(f"{proxy}/search", params={"q": "python"}, headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"] == {
            "message": "The X-Search-Proxy-Key header is missing or wrong.",
            "type": "authentication_error",
            "code": "unauthorized",
            "warnings": [],
        }
    # Unauthenticated requests are rejected before validation or any provider call.
    assert httpx.get(f"{proxy}/search", params={"k": "0"}).status_code == 401
    assert providers.seen == []
    assert httpx.get(f"{proxy}/healthz").json() == {"status": "ok"}


def test_no_key_configured_means_open(serve: Serve, providers: Any) -> None:
    url = serve(server={"api_key": None})
    assert httpx.get(f"{url}/search", params={"q": "python"}).status_code == 200


def test_identical_query_is_served_from_cache(proxy: str, providers: Any) -> None:
    first = httpx.get(f"{proxy}/search", params={"q": "python", "k": 3}, headers=AUTH).json()
    second = httpx.get(f"{proxy}/search", params={"q": "python", "k": 3}, headers=AUTH).json()
    assert first["cached"] is False and second["cached"] is True
    assert second["results"] == first["results"]
    assert len(providers.calls("searxng")) == 1
    httpx.get(f"{proxy}/search", params={"q": "python", "k": 4}, headers=AUTH)
    assert len(providers.calls("searxng")) == 2  # a different k is a different query


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "python", "k": "0"}, "k"),
        ({"q": "python", "k": "abc"}, "k"),
        ({"k": "3"}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 401}, "q"),
        ({"q": "python", "fetch": "maybe"}, "fetch"),
        ({"q": "python", "fetch": "21"}, "fetch"),
        ({"q": "python", "lang": "e n"}, "lang"),
        ({"q": "python", "freshness": "decade"}, "freshness"),
        ({"q": "python", "page": "2"}, "page"),
    ],
)
def test_invalid_get_parameters_are_422_with_clear_message(
    proxy: str, providers: Any, params: dict[str, str], field: str
) -> None:
    reply = httpx.get(f"{proxy}/search", params=params, headers=AUTH)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "invalid_request" and error["message"].startswith(f"{field}:")
    assert "Traceback" not in reply.text
    assert providers.seen == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'["python"]', "body: Input should be a valid dictionary or object to extract fields from"),
        (b'{"q": "python", "k": 99}', "k: Input should be less than or equal to 20"),
        (b"", "body: a JSON object is required"),
    ],
)
def test_invalid_post_bodies_are_422(proxy: str, content: bytes, expected: str) -> None:
    reply = httpx.post(f"{proxy}/search", content=content, headers={**AUTH, "content-type": "application/json"})
    assert reply.status_code == 422
    assert reply.json()["error"] == {
        "message": expected,
        "type": "invalid_request_error",
        "code": "invalid_request",
        "warnings": [],
    }


@pytest.mark.parametrize(
    ("content", "code", "expected"),
    [
        (
            b'{"q": "python", "k": ',
            "invalid_json",
            "The request body is not valid JSON (Expecting value at character 21).",
        ),
        (
            b'{"q": "caf\xe9"}',
            "invalid_body",
            "The request body is not valid UTF-8 (byte 0xe9 at position 10); send UTF-8 JSON.",
        ),
    ],
)
def test_unreadable_post_bodies_are_400_and_say_why(proxy: str, content: bytes, code: str, expected: str) -> None:
    reply = httpx.post(f"{proxy}/search", content=content, headers={**AUTH, "content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": {"message": expected, "type": "invalid_request_error", "code": code, "warnings": []}
    }


@pytest.mark.parametrize(
    ("kwargs", "got"),
    [
        ({"content": b'{"q": "python"}', "headers": {"content-type": "text/plain"}}, "text/plain"),
        ({"data": {"q": "python"}}, "application/x-www-form-urlencoded"),
        ({"content": b'{"q": "python"}'}, "no Content-Type"),
    ],
)
def test_a_post_that_is_not_json_is_415(proxy: str, providers: Any, kwargs: dict[str, Any], got: str) -> None:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    reply = httpx.post(f"{proxy}/search", headers=headers, **kwargs)
    assert reply.status_code == 415
    error = reply.json()["error"]
    assert error["code"] == "unsupported_media_type" and error["type"] == "invalid_request_error"
    assert error["message"] == f"POST /search takes a JSON body (Content-Type: application/json), not {got}."
    assert providers.seen == []


def test_unknown_routes_and_methods_have_the_error_shape(proxy: str) -> None:
    missing = httpx.get(f"{proxy}/v1/search", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["message"].startswith("There is no route /v1/search. The routes are: GET /search,")
    wrong = httpx.delete(f"{proxy}/search", headers=AUTH)
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET, POST"
    assert wrong.json()["error"] == {
        "message": "DELETE is not allowed on /search; use GET, POST.",
        "type": "invalid_request_error",
        "code": "method_not_allowed",
        "warnings": [],
    }


def test_documented_statuses_match_the_routes(proxy: str) -> None:
    spec = httpx.get(f"{proxy}/openapi.json").json()
    documented = {path: {m: sorted(op["responses"]) for m, op in ops.items()} for path, ops in spec["paths"].items()}
    assert documented == {
        "/search": {
            "get": ["200", "401", "422", "502", "503", "504"],
            "post": ["200", "400", "401", "415", "422", "502", "503", "504"],
        },
        "/healthz": {"get": ["200"]},
        "/readyz": {"get": ["200", "503"]},
    }
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-Search-Proxy-Key"


def test_fetch_adds_page_text_for_top_n(proxy: str, providers: Any, pages: Any, pages_url: str) -> None:
    providers.script("searxng", page_results(pages_url))
    body = httpx.get(f"{proxy}/search", params={"q": "crane", "fetch": "2"}, headers=AUTH, timeout=10).json()
    contents = [result["content"] for result in body["results"]]
    assert ARTICLE_SENTENCE in contents[0]
    assert CHINESE_SENTENCE in contents[1]
    assert contents[2] is None
    assert "/slow" not in pages.paths()


def test_truncated_page_is_named_in_the_response_warnings(
    serve: Serve, providers: Any, pages: Any, pages_url: str
) -> None:
    url = serve(fetch={"allow_networks": LOCAL, "max_bytes": 65536})
    providers.script("searxng", Reply(body=searxng_ok([("Bomb", f"{pages_url}/bomb/zstd", "compressed")])))
    body = httpx.get(f"{url}/search", params={"q": "bomb", "fetch": "1"}, headers=AUTH, timeout=10).json()
    assert ARTICLE_SENTENCE in body["results"][0]["content"]
    assert f"result 1 ({pages_url}/bomb/zstd): page cut at 65,536 bytes (the fetch limit)" in body["warnings"]


def test_slow_page_is_cut_at_the_fetch_deadline(serve: Serve, providers: Any, pages: Any, pages_url: str) -> None:
    url = serve(fetch={"allow_networks": LOCAL, "page_timeout_s": 5.0, "deadline_s": 0.8})
    providers.script("searxng", page_results(pages_url))
    started = time.monotonic()
    body = httpx.get(f"{url}/search", params={"q": "crane", "fetch": "true", "k": 3}, headers=AUTH).json()
    assert time.monotonic() - started < 1.8
    assert body["results"][0]["content"] and body["results"][2]["content"] is None
    assert any(w.startswith("result 3 (") and "deadline" in w for w in body["warnings"])


def test_callers_deadline_shortens_page_fetching(proxy: str, providers: Any, pages: Any, pages_url: str) -> None:
    providers.script("searxng", page_results(pages_url))
    started = time.monotonic()
    reply = httpx.post(f"{proxy}/search", json={"q": "crane", "fetch": 3, "deadline_s": 1.0}, headers=AUTH)
    # The slow page takes 3 s; the proxy keeps 0.25 s back, so the reply lands near the 1 s deadline.
    assert time.monotonic() - started < 1.5
    assert reply.status_code == 200 and reply.json()["results"][2]["content"] is None


def stalling_http(fast_http: HttpSettings) -> HttpSettings:
    """Provider timeouts far longer than the deadlines below, as in production."""
    return fast_http.model_copy(update={"read_timeout_s": 8.0, "provider_budget_s": 12.0})


def test_stalled_provider_is_abandoned_at_the_callers_deadline(
    serve: Serve, providers: Any, fast_http: HttpSettings
) -> None:
    url = serve(http=stalling_http(fast_http))
    providers.script("searxng", Reply(body=searxng_ok(), delay=4.0))
    started = time.monotonic()
    reply = httpx.post(f"{url}/search", json={"q": "python", "deadline_s": 1.0}, headers=AUTH, timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 1.3, elapsed
    assert reply.status_code == 504
    error = reply.json()["error"]
    assert error["code"] == "deadline_exceeded"
    assert error["warnings"] == [
        "searxng gave no answer in the 0.75 s left before the deadline",
        "not tried because the request's deadline was reached: bocha",
    ]
    assert providers.calls("bocha") == []


def test_without_a_deadline_the_configured_budget_bounds_four_stalled_providers(
    serve: Serve, providers: Any, providers_url: str, fast_http: HttpSettings
) -> None:
    fast = {"rate_per_s": 1000, "burst": 1000}
    names = ["searxng", "bocha", "brave", "tavily"]
    url = serve(
        server={"api_key": PROXY_KEY, "default_deadline_s": 1.5},
        http=stalling_http(fast_http),
        providers={
            "order": names,
            "searxng": {"base_url": f"{providers_url}/searxng", **fast},
            "bocha": {"base_url": f"{providers_url}/bocha", "api_key": BOCHA_KEY, **fast},
            "brave": {"base_url": f"{providers_url}/brave", "api_key": "BSA-test-key", **fast},
            "tavily": {"base_url": f"{providers_url}/tavily", "api_key": "tvly-test-key", **fast},
        },
    )
    for name in names:
        providers.script(name, Reply(body={}, delay=4.0))
    started = time.monotonic()
    reply = httpx.get(f"{url}/search", params={"q": "python"}, headers=AUTH, timeout=10)
    assert time.monotonic() - started < 1.8
    assert reply.status_code == 504
    assert reply.json()["error"]["warnings"] == [
        "searxng gave no answer in the 1.2 s left before the deadline",
        "not tried because the request's deadline was reached: bocha, brave, tavily",
    ]


def test_a_retry_that_cannot_finish_in_time_is_not_waited_for(
    serve: Serve, providers: Any, fast_http: HttpSettings
) -> None:
    url = serve(http=stalling_http(fast_http))
    providers.script("searxng", Reply(429, {"error": "slow down"}, headers={"Retry-After": "3"}))
    started = time.monotonic()
    reply = httpx.post(f"{url}/search", json={"q": "python", "deadline_s": 2.0}, headers=AUTH, timeout=10)
    assert time.monotonic() - started < 1.0  # the 3 s Retry-After would end past the deadline
    body = reply.json()
    assert reply.status_code == 200 and body["provider"] == "bocha"
    assert body["warnings"][0] == "searxng failed (provider_rate_limited): HTTP 429: slow down"
    assert len(providers.calls("searxng")) == 1


def test_fetch_refuses_loopback_without_allowlist(serve: Serve, providers: Any, pages: Any, pages_url: str) -> None:
    url = serve(fetch={"allow_networks": []})
    providers.script("searxng", page_results(pages_url))
    body = httpx.get(f"{url}/search", params={"q": "crane", "fetch": "1"}, headers=AUTH).json()
    assert body["results"][0]["content"] is None
    assert any("blocked" in w and "Loopback, 127.0.0.0/8" in w for w in body["warnings"])
    assert pages.hits == []


def test_fallback_is_reported(proxy: str, providers: Any) -> None:
    providers.script("searxng", Reply(403, "<html>Forbidden</html>", content_type="text/html"))
    body = httpx.get(f"{proxy}/search", params={"q": "python"}, headers=AUTH).json()
    assert body["provider"] == "bocha"
    assert any(w.startswith("searxng failed") for w in body["warnings"])


def test_all_providers_failing_is_502(proxy: str, providers: Any) -> None:
    providers.script("searxng", *[Reply(500, {"error": "search error"})] * 3)
    providers.script("bocha", Reply(401, {"code": "401", "message": "Invalid API KEY"}))
    reply = httpx.get(f"{proxy}/search", params={"q": "python"}, headers=AUTH)
    assert reply.status_code == 502
    error = reply.json()["error"]
    assert error["code"] == "all_providers_failed" and len(error["warnings"]) == 2


def test_provider_error_text_is_scrubbed_and_shortened_before_it_reaches_the_caller(proxy: str, providers: Any) -> None:
    echo = f"Invalid API KEY: Authorization: Bearer {BOCHA_KEY}; you sent {BOCHA_KEY} and {PROXY_KEY}. "
    providers.script("searxng", *[Reply(500, echo * 50, content_type="text/plain")] * 3)
    providers.script("bocha", Reply(401, {"code": "401", "message": echo + "x" * 5000}))
    reply = httpx.get(f"{proxy}/search", params={"q": "python"}, headers=AUTH)
    assert reply.status_code == 502
    warnings = reply.json()["error"]["warnings"]
    assert [w.split(" ")[0] for w in warnings] == ["searxng", "bocha"]
    assert BOCHA_KEY not in reply.text and PROXY_KEY not in reply.text and "sk-bocha" not in reply.text
    assert "Bearer [redacted]; you sent [redacted] and [redacted]" in warnings[1]
    assert all(len(w) < 400 and w.endswith("…") for w in warnings)


def test_readyz_lists_configured_providers(proxy: str, serve: Serve) -> None:
    ready = httpx.get(f"{proxy}/readyz")
    assert ready.status_code == 200
    assert ready.json()["providers"] == ["searxng", "bocha"]
    assert BOCHA_KEY not in ready.text
    empty = serve(providers={"order": ["searxng", "brave"]})  # neither has an endpoint/key here
    assert httpx.get(f"{empty}/readyz").status_code == 503
    reply = httpx.get(f"{empty}/search", params={"q": "python"}, headers=AUTH)
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "no_provider_configured"


def test_logs_never_contain_keys(proxy: str, providers: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    providers.script("searxng", Reply(500, {"error": "search error"}), Reply(500, {"error": "x"}), Reply(500, {}))
    providers.script("bocha", Reply(401, {"code": "401", "message": "Invalid API KEY"}))
    httpx.get(f"{proxy}/search", params={"q": "python"}, headers=AUTH)
    httpx.get(f"{proxy}/search", params={"q": "python"}, headers={"X-Search-Proxy-Key": "bad"})
    assert providers.calls("bocha")[0].headers["authorization"] == f"Bearer {BOCHA_KEY}"
    assert "provider response" in caplog.text  # the upstream really logged
    assert BOCHA_KEY not in caplog.text and PROXY_KEY not in caplog.text
