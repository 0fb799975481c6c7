"""Fake search providers speaking each provider's documented wire shapes (see shared providers.md).

One Starlette app serves all four under path prefixes, so a provider's ``base_url`` is
``https://localhost:PORT/<name>``. Each provider has a queue of scripted replies; when the queue is
empty it answers with its documented success body. Every request is recorded for assertions.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

PROVIDERS = ("searxng", "bocha", "brave", "tavily")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes/str sent verbatim
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass
class Seen:
    provider: str
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    json: Any


def searxng_ok(results: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    results = results or [("Welcome to Python.org", "https://www.python.org/", "Python is a versatile language")]
    items = []
    for index, (title, url, content) in enumerate(results):
        host = url.split("/")[2]
        items.append(
            {
                "url": url,
                "title": title,
                "content": content,
                "engine": "bing",
                "parsed_url": ["https", host, "/", "", "", ""],
                "template": "default.html",
                "engines": ["bing", "duckduckgo"],
                "positions": [index + 1],
                "score": 9.0 - index,
                "category": "general",
                "publishedDate": None,
            }
        )
    return {
        "query": "python",
        "number_of_results": 0,
        "results": items,
        "answers": [],
        "corrections": [],
        "infoboxes": [],
        "suggestions": ["python download"],
        "unresponsive_engines": [["google", "timeout"]],
    }


def bocha_ok(results: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    results = results or [
        (
            "阿里巴巴发布2024年ESG报告",
            "https://www.alibabagroup.com/document-1752073403914780672",
            "阿里巴巴集团发布《2024财年环境、社会和治理（ESG）报告》",
        )
    ]
    value = [
        {
            "id": None,
            "name": title,
            "url": url,
            "displayUrl": url,
            "snippet": snippet,
            "siteName": url.split("/")[2],
            "siteIcon": "https://th.bochaai.com/favicon?domain_url=x",
            "datePublished": "2024-07-22T00:00:00+08:00",
            "dateLastCrawled": "2024-07-22T00:00:00Z",
            "cachedPageUrl": None,
            "language": None,
            "isFamilyFriendly": None,
            "isNavigational": None,
        }
        for title, url, snippet in results
    ]
    return {
        "code": 200,
        "log_id": "d71841ad20095f61",
        "msg": None,
        "data": {
            "_type": "SearchResponse",
            "queryContext": {"originalQuery": "q"},
            "webPages": {
                "webSearchUrl": "",
                "totalEstimatedMatches": 8912791,
                "someResultsRemoved": True,
                "value": value,
            },
            "images": {"id": None, "readLink": None, "webSearchUrl": None, "value": []},
            "videos": None,
        },
    }


def brave_ok(results: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    results = results or [
        (
            "Welcome to Python.org",
            "https://www.python.org",
            "The official home of the <strong>Python</strong> Programming Language",
        )
    ]
    items = [
        {
            "type": "search_result",
            "subtype": "generic",
            "title": title,
            "url": url,
            "description": description,
            "page_age": "2023-09-09T15:55:05",
            "age": "September 9, 2023",
            "language": "en",
            "family_friendly": True,
            "profile": {
                "name": "Python",
                "url": url,
                "long_name": "python.org",
                "img": "https://imgs.search.brave.com/x",
            },
            "meta_url": {
                "scheme": "https",
                "netloc": url.split("/")[2],
                "hostname": url.split("/")[2],
                "favicon": "https://imgs.search.brave.com/x",
                "path": "",
            },
            "extra_snippets": ["Calculations are simple with Python"],
        }
        for title, url, description in results
    ]
    return {
        "type": "search",
        "query": {"original": "python", "more_results_available": True, "country": "us"},
        "mixed": {"type": "mixed", "main": [{"type": "web", "index": 0, "all": False}], "top": [], "side": []},
        "web": {"type": "search", "results": items},
    }


def tavily_ok(results: list[tuple[str, str, str]] | None = None) -> dict[str, Any]:
    results = results or [
        (
            "Lionel Messi Facts | Britannica",
            "https://www.britannica.com/facts/Lionel-Messi",
            "Lionel Messi, an Argentine footballer, is widely regarded",
        )
    ]
    items = [
        {
            "title": title,
            "url": url,
            "content": content,
            "score": 0.81025416,
            "raw_content": None,
            "favicon": "https://britannica.com/favicon.png",
        }
        for title, url, content in results
    ]
    return {
        "query": "Who is Leo Messi?",
        "follow_up_questions": None,
        "answer": None,
        "images": [],
        "results": items,
        "response_time": 1.67,
        "usage": {"credits": 1},
        "request_id": "123e4567-e89b-12d3-a456-426614174111",
    }


def brave_error(status: int, code: str, detail: str) -> dict[str, Any]:
    return {
        "type": "ErrorResponse",
        "error": {"id": "c6e0a0b5", "status": status, "code": code, "detail": detail, "meta": {}},
        "time": 1700000000,
    }


OK_BODIES = {"searxng": searxng_ok, "bocha": bocha_ok, "brave": brave_ok, "tavily": tavily_ok}


class FakeProviders:
    """Scripted replies and a log of every request, across all four providers in arrival order."""

    def __init__(self) -> None:
        self.queues: dict[str, deque[Reply]] = {name: deque() for name in PROVIDERS}
        self.defaults: dict[str, Reply] = {}
        self.seen: list[Seen] = []
        self.app = Starlette(
            routes=[
                Route("/searxng/search", self._handler("searxng"), methods=["GET"]),
                Route("/bocha/v1/web-search", self._handler("bocha"), methods=["POST"]),
                Route("/brave/res/v1/web/search", self._handler("brave"), methods=["GET"]),
                Route("/tavily/search", self._handler("tavily"), methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        for queue in self.queues.values():
            queue.clear()
        self.defaults.clear()
        self.seen.clear()

    def script(self, provider: str, *replies: Reply) -> None:
        self.queues[provider].extend(replies)

    def calls(self, provider: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.provider == provider]

    def order(self) -> list[str]:
        """Providers in the order they were first contacted."""
        out: list[str] = []
        for seen in self.seen:
            if seen.provider not in out:
                out.append(seen.provider)
        return out

    def _handler(self, provider: str) -> Any:
        async def handle(request: Request) -> Response:
            raw = await request.body()
            self.seen.append(
                Seen(
                    provider=provider,
                    method=request.method,
                    path=request.url.path,
                    params=dict(request.query_params),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    json=json.loads(raw) if raw and raw.startswith(b"{") else None,
                )
            )
            queue = self.queues[provider]
            reply = queue.popleft() if queue else self.defaults.get(provider, Reply(body=OK_BODIES[provider]()))
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if isinstance(reply.body, bytes | str):
                content = reply.body.encode() if isinstance(reply.body, str) else reply.body
            else:
                content = json.dumps(reply.body, ensure_ascii=False).encode()
            return Response(content, status_code=reply.status, headers=reply.headers, media_type=reply.content_type)

        return handle


class Impostor:
    """What can answer at the proxy's address when the proxy is sick: POST ``/{kind}/search``.

    ``shape`` valid JSON of the wrong shape, ``html`` an HTML 200, ``truncated`` JSON cut off,
    ``error500``/``error503`` HTML and plain-text 5xx from a gateway, ``error502`` the proxy's own
    error shape, ``oddjson`` a 500 with an ``error`` string, ``stall`` no answer for 10 s,
    ``drop`` a connection closed in the middle of the body.
    """

    def __init__(self) -> None:
        self.app = Starlette(routes=[Route("/{kind}/search", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        kind = request.path_params["kind"]
        if kind == "stall":
            await asyncio.sleep(10)
        if kind == "drop":
            return StreamingResponse(self._dropped(), media_type="application/json")
        status, content, media = _IMPOSTOR_REPLIES.get(kind, _IMPOSTOR_REPLIES["shape"])
        return Response(content, status_code=status, media_type=media)

    @staticmethod
    async def _dropped() -> AsyncIterator[bytes]:
        yield b'{"query": "python", "provider": "searxng", "results": ['
        raise ConnectionResetError("impostor hangs up mid-body")


_PROXY_ERROR = {
    "error": {
        "message": "every search provider failed",
        "type": "server_error",
        "code": "all_providers_failed",
        "warnings": ["searxng failed (provider_unavailable): HTTP 500: search error"],
    }
}
_IMPOSTOR_REPLIES: dict[str, tuple[int, str, str]] = {
    "shape": (200, '{"hello": "world"}', "application/json"),
    "html": (200, "<html>proxy error page</html>", "text/html"),
    "truncated": (200, '{"query": "python", "provider": "searxng", "results": [{"rank": 1,', "application/json"),
    "error500": (500, "<html><body>Internal Server Error</body></html>", "text/html"),
    "error503": (503, "upstream connect error or disconnect/reset", "text/plain"),
    "error502": (502, json.dumps(_PROXY_ERROR), "application/json"),
    "oddjson": (500, '{"error": "boom"}', "application/json"),
}
