"""The wire protocol of OpenAI-compatible chat endpoints: SSE chunks, error bodies, Retry-After.

Everything here turns what an endpoint sends into ``ChatEvent``s or into a ``Failure`` that says
whether another attempt could help; the retry and fallback policy lives in ``rag.llm.client``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from rag.errors import LLMBadResponse, LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from rag.llm.events import ChatEvent, Usage
from rag.llm.reasoning import ReasoningSplitter
from rag.llm.settings import Profile
from rag.logging_setup import RedactSecrets

# How long the end of a finished stream may take to arrive before its connection is dropped.
_DRAIN_S = 0.5

RETRIABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class Failure(Exception):
    """One failed attempt, with what the retry loop needs to know about it."""

    def __init__(
        self, error: LLMError, *, retriable: bool, retry_after: float | None = None, endpoint_fault: bool = True
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.retriable = retriable
        self.retry_after = retry_after
        # False when the endpoint is fine and the request or our configuration is not (a rejected
        # request, a missing key): such failures do not count towards the profile's circuit breaker.
        self.endpoint_fault = endpoint_fault


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


ERROR_TEXT_CHARS = 300


def upstream_text(text: str, profile: Profile | None = None) -> str:
    """Text an endpoint sent, made fit for a response or a log line: without secrets (endpoints
    echo the key they refused, bearer tokens, our own API keys) and truncated."""
    key = os.environ.get(profile.api_key_env, "") if profile and profile.api_key_env else ""
    return RedactSecrets([key.strip()]).scrub(text)[:ERROR_TEXT_CHARS]


def _error_text(payload: Any, fallback: str, profile: Profile | None = None) -> str:
    """The human part of an OpenAI-style (or vLLM ``{"object": "error"}``) error body."""
    return upstream_text(_raw_error_text(payload, fallback), profile)


def _raw_error_text(payload: Any, fallback: str) -> str:
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, str):
            return error
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail")
            kind = error.get("type") or error.get("code")
            if message:
                return f"{message} ({kind})" if kind else str(message)
    return fallback.strip()[:300] or "no details"


def http_failure(profile: Profile, response: httpx.Response) -> Failure:
    status = response.status_code
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    text = f"{profile.name} ({profile.model}) answered HTTP {status}: {_error_text(payload, response.text, profile)}"
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    error: LLMError
    if status == 429:
        error = LLMRateLimited(text, retry_after=retry_after)
    elif status in (401, 403, 404) or status >= 500:
        error = LLMUnavailable(text)  # this profile cannot serve us: bad key, unknown model, server down
    else:
        error = LLMError(text)  # the request itself was rejected (context too long, bad parameter)
        return Failure(error, retriable=False, endpoint_fault=False)
    return Failure(error, retriable=status in RETRIABLE_STATUSES, retry_after=retry_after)


def _stream_error(profile: Profile, payload: dict[str, Any]) -> Failure:
    """An ``{"error": ...}`` event inside a 200 stream (SiliconFlow and OpenRouter send these)."""
    error = payload.get("error")
    code = str(error.get("code", "")) if isinstance(error, dict) else ""
    text = f"{profile.name} ({profile.model}) sent an error in the stream: {_error_text(payload, '', profile)}"
    if code == "429" or "rate" in code.lower():
        return Failure(LLMRateLimited(text), retriable=True)
    return Failure(LLMUnavailable(text), retriable=True)


def _usage(payload: Any) -> Usage | None:
    if not isinstance(payload, dict):
        return None
    details = payload.get("completion_tokens_details")
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    return Usage(
        prompt_tokens=int(payload.get("prompt_tokens") or 0),
        completion_tokens=int(payload.get("completion_tokens") or 0),
        reasoning_tokens=int(reasoning or 0),
    )


class UpstreamStream:
    """One open upstream response: SSE events in, normalised chat events out."""

    def __init__(self, profile: Profile, response: httpx.Response, stall_timeout: float) -> None:
        self.profile = profile
        self.response = response
        self.done = False
        self._stall = stall_timeout
        self._events = EventSource(response).aiter_sse()
        self._splitter = ReasoningSplitter(
            starts_open=profile.reasoning_starts_open, probe_chars=profile.reasoning_probe_chars
        )
        self._usage: Usage | None = None
        self._finished = False  # a choice reported finish_reason

    async def next_events(self) -> list[ChatEvent]:
        """Read SSE events until at least one chat event is ready or the stream ends."""
        while not self.done:
            sse = await self._next_sse()
            if sse is None or sse.data.strip() == "[DONE]":
                if sse is None and not self._finished:
                    raise Failure(
                        LLMUnavailable(f"{self._name}: the stream ended before the answer did"), retriable=True
                    )
                return self._finish()
            events = self._handle(sse)
            if events:
                return events
        return []

    async def _next_sse(self) -> ServerSentEvent | None:
        try:
            async with asyncio.timeout(self._stall):
                return await anext(self._events)
        except StopAsyncIteration:
            return None
        except TimeoutError as exc:
            raise Failure(LLMTimeout(f"{self._name}: no stream event for {self._stall:g} s"), retriable=False) from exc
        except httpx.TimeoutException as exc:
            raise Failure(LLMTimeout(f"{self._name}: read timed out ({exc!r})"), retriable=False) from exc
        except httpx.TransportError as exc:
            raise Failure(
                LLMUnavailable(f"{self._name}: connection lost mid-stream ({exc!r})"), retriable=True
            ) from exc
        except httpx.HTTPError as exc:  # e.g. a body that does not decode
            raise Failure(LLMBadResponse(f"{self._name}: unreadable stream ({exc!r})"), retriable=False) from exc

    def _handle(self, sse: ServerSentEvent) -> list[ChatEvent]:
        try:
            payload = json.loads(sse.data)
        except ValueError as exc:
            raise Failure(
                LLMBadResponse(f"{self._name}: stream event is not JSON: {upstream_text(sse.data, self.profile)!r}"),
                retriable=False,
            ) from exc
        if not isinstance(payload, dict):
            raise Failure(LLMBadResponse(f"{self._name}: stream event is not an object"), retriable=False)
        if payload.get("error"):
            raise _stream_error(self.profile, payload)
        self._usage = _usage(payload.get("usage")) or self._usage
        events: list[ChatEvent] = []
        choices = payload.get("choices")
        # R1 endpoints stream one choice; a usage-only chunk has none.
        choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else None
        if choice is not None:
            delta = choice.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            content = delta.get("content")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if reasoning is None and ("reasoning_content" in delta or "reasoning" in delta):
                reasoning = ""  # the endpoint has a reasoning field, empty in this chunk
            events.extend(
                self._splitter.feed(
                    content if isinstance(content, str) else None, reasoning if isinstance(reasoning, str) else None
                )
            )
            if choice.get("finish_reason"):
                self._finished = True
        return events

    def _finish(self) -> list[ChatEvent]:
        self.done = True
        events: list[ChatEvent] = list(self._splitter.finish())
        events.append(self._usage or Usage())
        return events

    @property
    def _name(self) -> str:
        return f"{self.profile.name} ({self.profile.model})"

    async def aclose(self) -> None:
        """Close the upstream response. After ``[DONE]`` the rest of the body (the end of the
        chunked encoding) is read first, so the connection goes back to the pool: httpx drops a
        connection whose body was left unread, and every answer paid a new TCP (and, to a hosted
        endpoint, TLS) handshake. Closed before its end, the connection is dropped, which is what
        stops the generation upstream."""
        try:
            if self.done:
                await self._drain()
            await self._events.aclose()
        finally:
            await self.response.aclose()

    async def _drain(self) -> None:
        """Read what follows ``[DONE]``, for at most ``_DRAIN_S``; an endpoint that keeps sending
        loses its connection instead."""
        with contextlib.suppress(TimeoutError, httpx.HTTPError):
            async with asyncio.timeout(_DRAIN_S):
                async for _ in self._events:
                    pass
