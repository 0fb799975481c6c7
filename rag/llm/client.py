"""The chat model client: one OpenAI-compatible implementation driven by ordered profiles.

Failure policy, in one place:

* Before anything has been yielded to the consumer, connection errors, 429, 408 and 5xx (also
  when they arrive as an ``{"error": ...}`` event inside a 200 stream, or as a stream cut
  before the first token) are retried with exponential backoff and jitter, honouring
  ``Retry-After`` up to ``retry_after_max``. A longer ``Retry-After``, a timeout, a refused key
  or a rejected request move on to the next profile at once.
* Once an event has been yielded, any failure is raised as an ``LLMError``: a half-shown
  answer is never silently restarted.
* When every profile fails, the most telling error is raised (``LLMRateLimited`` only when
  every profile answered 429), its message listing what each profile said.
* Each profile has a circuit breaker (``rag.llm.breaker``): after ``circuit_failures`` failures
  in a row it is skipped at once, so the fallback answers without the dead profile's retries,
  until one probe after the cool-down finds it back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, runtime_checkable

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from rag.errors import LLMBadResponse, LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from rag.llm.breaker import BreakerPolicy, CircuitBreaker
from rag.llm.events import AnswerDelta, ChatEvent, ChatMessage, ReasoningDelta, StreamStart, Usage
from rag.llm.settings import LLMSettings, Profile
from rag.llm.wire import Failure, UpstreamStream, http_failure, upstream_text

logger = logging.getLogger(__name__)


@runtime_checkable
class ChatModel(Protocol):
    """Streams one chat completion as typed events.

    Promises: ``StreamStart`` first (naming the profile that answered; sent with the first piece
    of output, so retries and fallback stay invisible), then ``ReasoningDelta`` and
    ``AnswerDelta`` pieces (all reasoning before any answer), then exactly one ``Usage``.
    Raises ``LLMError`` subclasses only.
    Closing the iterator early (``aclose()`` or cancellation) releases the upstream request.

    ``stream`` is declared without ``async`` so that async generator implementations match it.
    """

    def stream(
        self, messages: list[ChatMessage], *, temperature: float | None = None, max_tokens: int | None = None
    ) -> AsyncIterator[ChatEvent]: ...

    def describe(self) -> dict[str, Any]:
        """What is configured, for /readyz; never dials the endpoint and never shows a key."""
        ...


class OpenAICompatibleChat:
    """``ChatModel`` over any OpenAI-compatible ``/chat/completions`` (DeepSeek, SiliconFlow, Ollama, vLLM).

    Profiles are tried in order; see the module docstring for the retry and fallback policy.
    An injected ``httpx.AsyncClient`` is used as is (its owner closes it); otherwise one is
    created on first use and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        profiles: Sequence[Profile],
        settings: LLMSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not profiles:
            raise ValueError("OpenAICompatibleChat needs at least one profile")
        self.profiles = tuple(profiles)
        self.settings = settings or LLMSettings()
        self._client = client
        self._owns_client = client is None
        s = self.settings
        self._timeout = httpx.Timeout(
            connect=s.connect_timeout, read=s.read_timeout, write=s.read_timeout, pool=s.connect_timeout
        )
        self._backoff = wait_exponential_jitter(multiplier=s.backoff_base, max=s.backoff_max, jitter=s.backoff_base)
        policy = BreakerPolicy(s.circuit_failures, s.circuit_cooldown_s, s.circuit_max_cooldown_s)
        self.breakers = {p.name: CircuitBreaker(p.name, policy) for p in self.profiles}

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "openai-compatible",
            "profiles": [
                {
                    "name": p.name,
                    "base_url": p.base_url,
                    "model": p.model,
                    "api_key_env": p.api_key_env,
                    "api_key_set": bool(p.api_key_env and os.environ.get(p.api_key_env)),
                    "circuit": self.breakers[p.name].describe(),
                }
                for p in self.profiles
            ],
        }

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            # As many idle connections kept as may be open: httpx keeps 20 by default, so past 20
            # answers at once every stream to the model opened (and closed) a connection of its own.
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            self._client = httpx.AsyncClient(timeout=self._timeout, limits=limits)
        return self._client

    async def stream(
        self, messages: list[ChatMessage], *, temperature: float | None = None, max_tokens: int | None = None
    ) -> AsyncIterator[ChatEvent]:
        failures: list[tuple[str, LLMError]] = []
        skipped: list[LLMUnavailable] = []
        for profile in self.profiles:
            breaker = self.breakers[profile.name]
            if not breaker.allow():
                skipped.append(_skipped(profile, breaker))
                failures.append((profile.name, skipped[-1]))
                continue
            body = self._body(profile, messages, temperature, max_tokens)
            try:
                upstream, first = await self._open_with_retries(profile, body)
            except Failure as failure:
                logger.warning("LLM profile %s failed: %s", profile.name, failure.error)
                if failure.endpoint_fault:
                    breaker.failed(failure.retry_after)
                else:
                    breaker.abandoned()
                failures.append((profile.name, failure.error))
                continue
            except BaseException:
                breaker.abandoned()
                raise
            breaker.succeeded()
            try:
                yield StreamStart(profile=profile.name, model=profile.model)
                for event in first:
                    yield event
                while not upstream.done:
                    try:
                        events = await upstream.next_events()
                    except Failure as failure:
                        if failure.endpoint_fault:
                            breaker.failed()
                        failure.error.profile = profile.name
                        raise failure.error from failure.__cause__
                    for event in events:
                        yield event
            finally:
                await upstream.aclose()
            return
        if skipped and len(skipped) == len(failures):
            waits = [error.retry_after or 1.0 for error in skipped]
            summary = "; ".join(str(error) for error in skipped)
            every = LLMUnavailable(f"every LLM profile is failing: {summary}", retry_after=min(waits))
            every.profile = ",".join(name for name, _ in failures)
            raise every
        raise _most_telling(failures)

    def _body(
        self, profile: Profile, messages: list[ChatMessage], temperature: float | None, max_tokens: int | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": profile.model,
            "messages": prepare_messages(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": self.settings.temperature if temperature is None else temperature,
        }
        limit = self.settings.max_tokens if max_tokens is None else max_tokens
        if limit is not None:
            body["max_tokens"] = limit
        return body

    async def _open_with_retries(
        self, profile: Profile, body: dict[str, Any]
    ) -> tuple[UpstreamStream, list[ChatEvent]]:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            retry=retry_if_exception(self._should_retry),
            wait=self._wait,
            before_sleep=lambda state: logger.info(
                "LLM profile %s: attempt %d failed (%s), retrying",
                profile.name,
                state.attempt_number,
                state.outcome.exception() if state.outcome else None,
            ),
            reraise=True,
        )
        return await retrying(self._open, profile, body)

    def _should_retry(self, exc: BaseException) -> bool:
        if not isinstance(exc, Failure) or not exc.retriable:
            return False
        return exc.retry_after is None or exc.retry_after <= self.settings.retry_after_max

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Failure) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    async def _open(self, profile: Profile, body: dict[str, Any]) -> tuple[UpstreamStream, list[ChatEvent]]:
        """One attempt: send, check the answer, and read until the first chat event (still retriable)."""
        try:
            key = profile.api_key()
        except LLMUnavailable as exc:
            raise Failure(exc, retriable=False, endpoint_fault=False) from exc
        headers = {"Accept": "text/event-stream"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key.get_secret_value()}"
        client = self._http()
        request = client.build_request("POST", profile.chat_url, json=body, headers=headers, timeout=self._timeout)
        where = f"{profile.name} ({profile.chat_url})"
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectTimeout as exc:
            raise Failure(LLMTimeout(f"{where}: connect timed out"), retriable=True) from exc
        except httpx.TimeoutException as exc:
            raise Failure(LLMTimeout(f"{where}: timed out waiting for a response ({exc!r})"), retriable=False) from exc
        except httpx.TransportError as exc:
            raise Failure(LLMUnavailable(f"{where}: cannot connect ({exc!r})"), retriable=True) from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                raise http_failure(profile, response)
            content_type = response.headers.get("content-type", "")
            if "text/event-stream" not in content_type:
                await response.aread()
                raise Failure(
                    LLMBadResponse(
                        f"{where}: expected an event stream, got {content_type!r}: "
                        f"{upstream_text(response.text, profile)!r}"
                    ),
                    retriable=False,
                )
            upstream = UpstreamStream(profile, response, self.settings.stall_timeout)
            try:
                return upstream, await upstream.next_events()
            except BaseException:
                await upstream.aclose()
                raise
        except httpx.HTTPError as exc:  # reading an error body can fail too
            await response.aclose()
            raise Failure(LLMUnavailable(f"{where}: {exc!r}"), retriable=True) from exc
        except BaseException:
            await response.aclose()
            raise


_SEVERITY: tuple[type[LLMError], ...] = (LLMRateLimited, LLMUnavailable, LLMTimeout, LLMBadResponse)


def _severity(error: LLMError) -> int:
    """Higher is more telling: a rejected request says more than an unreachable host."""
    for rank, cls in enumerate(_SEVERITY):
        if type(error) is cls:
            return rank
    return len(_SEVERITY)


def _skipped(profile: Profile, breaker: CircuitBreaker) -> LLMUnavailable:
    wait = breaker.retry_in()
    state = breaker.describe()
    return LLMUnavailable(
        f"{profile.name}: skipped after {state['consecutive_failures']} failures in a row"
        + (f"; tried again in {wait:.0f} s" if wait >= 1 else "; being probed"),
        retry_after=max(wait, 1.0),
    )


def _most_telling(failures: list[tuple[str, LLMError]]) -> LLMError:
    if not failures:
        return LLMUnavailable("no LLM profile configured")
    error = _pick(failures)
    error.profile = ",".join(name for name, _ in failures)
    return error


def _pick(failures: list[tuple[str, LLMError]]) -> LLMError:
    if len(failures) == 1:
        return failures[0][1]
    summary = "; ".join(f"{name}: {error}" for name, error in failures)
    errors = [error for _, error in failures]
    if all(isinstance(error, LLMRateLimited) for error in errors):
        hints = [e.retry_after for e in errors if isinstance(e, LLMRateLimited) and e.retry_after is not None]
        return LLMRateLimited(
            f"every LLM profile is rate limited: {summary}", retry_after=min(hints) if hints else None
        )
    best = max(errors, key=_severity)  # max keeps the first (primary) profile on ties
    return type(best)(f"no LLM profile answered: {summary}")


def prepare_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """The wire form of a conversation (earlier reasoning was removed by ``Orchestrator.fit_history``)."""
    return [{"role": m.role, "content": m.content} for m in messages]


def build_chat_model(settings: LLMSettings, client: httpx.AsyncClient | None = None) -> ChatModel | None:
    """The configured chat model, or None when no profile is listed (retrieval-only answers)."""
    profiles = settings.resolved_profiles()
    if not profiles:
        return None
    return OpenAICompatibleChat(profiles, settings, client=client)


async def complete(
    model: ChatModel,
    messages: list[ChatMessage],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> tuple[str, str, Usage]:
    """Collect a whole stream: ``(reasoning, answer, usage)``."""
    reasoning: list[str] = []
    answer: list[str] = []
    usage = Usage()
    async for event in model.stream(messages, temperature=temperature, max_tokens=max_tokens):
        if isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
        elif isinstance(event, AnswerDelta):
            answer.append(event.text)
        elif isinstance(event, Usage):
            usage = event
    return "".join(reasoning), "".join(answer), usage
