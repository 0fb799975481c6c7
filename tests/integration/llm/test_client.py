"""The chat client against the fake OpenAI-compatible server over a real socket."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from rag.errors import LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from rag.llm.client import OpenAICompatibleChat, complete
from rag.llm.events import AnswerDelta, ChatEvent, ChatMessage, ReasoningDelta, StreamStart, Usage
from rag.llm.settings import LLMSettings, Profile
from tests.fakes.llm_server import FakeLLMServer, Script

pytestmark = pytest.mark.integration

QUESTION = [ChatMessage("user", "Say hello.")]
FAST = {"backoff_base": 0.01, "backoff_max": 0.05, "stall_timeout": 5.0}


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


MakeChat = Callable[..., OpenAICompatibleChat]


@pytest.fixture
def make_chat(server: FakeLLMServer, http: httpx.AsyncClient) -> MakeChat:
    """A client for the given profiles (default: one profile on the fake) with fast retries."""

    def make(*profiles: Profile, **settings: Any) -> OpenAICompatibleChat:
        profiles = profiles or (Profile(name="fake", base_url=server.base_url, model="fake-r1"),)
        return OpenAICompatibleChat(profiles, LLMSettings(**{**FAST, **settings}), client=http)

    return make


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def collect(chat: OpenAICompatibleChat, messages: list[ChatMessage] = QUESTION) -> list[ChatEvent]:
    return [event async for event in chat.stream(messages)]


def texts(events: list[ChatEvent]) -> tuple[str, str]:
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, AnswerDelta))
    return reasoning, answer


@pytest.mark.parametrize("shape", ["reasoning_content", "reasoning", "think_tags", "closing_tag"])
@pytest.mark.parametrize("chunk_size", [1, 7])
async def test_every_reasoning_shape(server: FakeLLMServer, make_chat: MakeChat, shape: str, chunk_size: int) -> None:
    script = Script(shape=shape, chunk_size=chunk_size)  # type: ignore[arg-type]
    server.push(script)
    events = await collect(make_chat())
    assert events[0] == StreamStart(profile="fake", model="fake-r1")
    assert texts(events) == (script.reasoning, script.answer)
    usages = [e for e in events if isinstance(e, Usage)]
    assert usages == [events[-1]]
    assert usages[0].prompt_tokens == script.prompt_tokens
    assert usages[0].completion_tokens == len(script.deltas())


@pytest.mark.parametrize("send_done", [True, False])
async def test_answers_one_after_another_reuse_one_connection(
    server: FakeLLMServer, make_chat: MakeChat, send_done: bool
) -> None:
    """A stream read to its end returns its connection to the pool; dropped, every answer to a
    hosted endpoint would pay a new TCP and TLS handshake."""
    chat = make_chat()
    for _ in range(4):
        server.push(Script(send_done=send_done))
        assert texts(await collect(chat)) == (Script().reasoning, Script().answer)
    assert server.connections == 1


async def test_an_answer_abandoned_half_way_drops_its_connection(server: FakeLLMServer, make_chat: MakeChat) -> None:
    """Closing a stream early must stop the generation upstream, so its connection is not kept."""
    chat = make_chat()
    server.push(Script(chunk_delay=0.05))
    stream = chat.stream(QUESTION)
    async for event in stream:
        if isinstance(event, ReasoningDelta):
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert server.wait_until(lambda: server.requests[-1].disconnected or server.requests[-1].completed)
    assert server.requests[-1].disconnected
    await collect(chat)
    assert server.connections == 2


async def test_plain_answer_and_missing_usage(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(shape="none", usage=False))
    events = await collect(make_chat())
    assert texts(events) == ("", Script().answer)
    assert events[-1] == Usage()


async def test_request_body_and_parameters(server: FakeLLMServer, make_chat: MakeChat) -> None:
    chat = make_chat()
    await complete(chat, QUESTION)
    await complete(chat, QUESTION, temperature=0.5, max_tokens=300)
    first, second = (r.body for r in server.requests)
    assert first["model"] == "fake-r1" and first["stream"] is True
    assert first["stream_options"] == {"include_usage": True}
    assert first["temperature"] == 0.6 and "max_tokens" not in first
    assert (second["temperature"], second["max_tokens"]) == (0.5, 300)
    assert server.requests[0].path == "/v1/chat/completions"


async def test_complete_returns_reasoning_answer_usage(server: FakeLLMServer, make_chat: MakeChat) -> None:
    reasoning, answer, usage = await complete(make_chat(), QUESTION)
    assert (reasoning, answer) == (Script().reasoning, Script().answer)
    assert usage.reasoning_tokens == sum(1 for d in Script().deltas() if d.get("reasoning_content"))


async def test_history_never_carries_reasoning(server: FakeLLMServer, make_chat: MakeChat) -> None:
    """The orchestrator fits every history (``/ask``, ``/v1``, CLI) before it reaches the client."""
    from rag.orchestrator import Orchestrator
    from rag.settings import RagSettings
    from rag.types import HistoryTurn

    turns = [
        HistoryTurn(role="user", content="Q1"),
        HistoryTurn(role="assistant", content="<think>private chain of thought</think>\n\nA1"),
        HistoryTurn(role="user", content="Q2"),
    ]
    orchestrator = Orchestrator(RagSettings(data_dir=Path("/nonexistent")), retriever=None, chat=None)  # type: ignore[arg-type]
    history, _ = orchestrator.fit_history(turns)
    await collect(make_chat(), history)
    sent = server.requests[0].body["messages"]
    assert sent[1] == {"role": "assistant", "content": "A1"}
    assert "private chain of thought" not in json.dumps(server.requests[0].body)
    assert all(set(m) == {"role", "content"} for m in sent)


async def test_auth_header_carries_key_from_env(
    server: FakeLLMServer, make_chat: MakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test-4242")
    profile = Profile(name="keyed", base_url=server.base_url, model="m", api_key_env="FAKE_LLM_KEY", key_required=True)
    await collect(make_chat(profile))
    assert server.requests[0].headers["authorization"] == "Bearer sk-test-4242"
    assert server.requests[0].headers["accept"] == "text/event-stream"


async def test_missing_key_skips_profile_without_a_request(
    server: FakeLLMServer, make_chat: MakeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ABSENT_KEY", raising=False)
    keyed = Profile(name="keyed", base_url=server.base_url, model="m", api_key_env="ABSENT_KEY", key_required=True)
    with pytest.raises(LLMUnavailable, match="ABSENT_KEY is not set"):
        await collect(make_chat(keyed))
    assert server.requests == []


async def test_429_retry_honours_retry_after(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(status=429, retry_after="1"), Script())
    started = time.monotonic()
    _, answer, _ = await complete(make_chat(), QUESTION)
    elapsed = time.monotonic() - started
    assert answer == Script().answer
    assert len(server.requests) == 2
    assert 1.0 <= elapsed < 3.0, elapsed  # backoff alone would wait ~0.01 s


async def test_500_then_success(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(status=500, error_message="worker crashed"), Script())
    _, answer, _ = await complete(make_chat(), QUESTION)
    assert answer == Script().answer and len(server.requests) == 2


async def test_retries_are_bounded(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.default = Script(status=503, error_message="overloaded")
    with pytest.raises(LLMUnavailable, match="HTTP 503: overloaded"):
        await collect(make_chat(max_retries=2))
    assert len(server.requests) == 3


async def test_rejected_request_is_not_retried(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(status=400, error_message="maximum context length exceeded"))
    with pytest.raises(LLMError, match="HTTP 400: maximum context length exceeded") as caught:
        await collect(make_chat())
    assert type(caught.value) is LLMError
    assert len(server.requests) == 1


async def test_429_everywhere_with_long_retry_after(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.default = Script(status=429, retry_after="120")
    second = Profile(name="second", base_url=server.base_url, model="other")
    started = time.monotonic()
    with pytest.raises(LLMRateLimited) as caught:
        await collect(make_chat(Profile(name="first", base_url=server.base_url, model="m"), second))
    assert time.monotonic() - started < 1.0, "a Retry-After beyond retry_after_max is not waited for"
    assert caught.value.retry_after == 120
    assert [r.body["model"] for r in server.requests] == ["m", "other"]


async def test_fallback_when_first_port_is_closed(server: FakeLLMServer, make_chat: MakeChat) -> None:
    dead = Profile(name="dead", base_url=f"http://127.0.0.1:{closed_port()}/v1", model="m")
    live = Profile(name="live", base_url=server.base_url, model="live-r1")
    events = await collect(make_chat(dead, live, max_retries=1))
    assert events[0] == StreamStart(profile="live", model="live-r1")
    assert texts(events)[1] == Script().answer


async def test_all_profiles_failing_raise_the_most_telling_error(server: FakeLLMServer, make_chat: MakeChat) -> None:
    dead = Profile(name="dead", base_url=f"http://127.0.0.1:{closed_port()}/v1", model="m")
    server.push(Script(status=400, error_message="bad temperature"))
    with pytest.raises(LLMError) as caught:
        await collect(make_chat(dead, Profile(name="live", base_url=server.base_url, model="m"), max_retries=0))
    assert type(caught.value) is LLMError
    assert "dead:" in str(caught.value) and "bad temperature" in str(caught.value)


async def test_stall_mid_stream_raises_timeout_after_partial_output(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(chunk_size=1, stall_after=5, stall_seconds=5))
    events: list[ChatEvent] = []
    started = time.monotonic()
    with pytest.raises(LLMTimeout, match="no stream event for 0.3 s"):
        async for event in make_chat(stall_timeout=0.3).stream(QUESTION):
            events.append(event)
    assert time.monotonic() - started < 2.5
    assert texts(events)[0] == Script().reasoning[:5]
    assert len(server.requests) == 1, "never silently restarted"
    assert await server.await_until(lambda: server.requests[0].disconnected)


async def test_stall_before_first_token_moves_on_without_retrying(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(stall_after=0, stall_seconds=5))
    with pytest.raises(LLMTimeout):
        await collect(make_chat(stall_timeout=0.3, max_retries=3))
    assert len(server.requests) == 1


async def test_drop_mid_stream_raises_after_partial_output(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(chunk_size=1, drop_after=9))
    events: list[ChatEvent] = []
    with pytest.raises(LLMError, match="connection lost mid-stream"):
        async for event in make_chat().stream(QUESTION):
            events.append(event)
    assert isinstance(events[0], StreamStart)
    assert texts(events)[0] == Script().reasoning[:9]
    assert len(server.requests) == 1 and server.requests[0].dropped


@pytest.mark.parametrize("failure", [Script(drop_after=0), Script(error_event_after=0)], ids=["drop", "error-event"])
async def test_failure_before_first_token_is_retried(
    server: FakeLLMServer, make_chat: MakeChat, failure: Script
) -> None:
    server.push(failure, Script())
    events = await collect(make_chat())
    assert [e for e in events if isinstance(e, StreamStart)] == [events[0]]
    assert texts(events) == (Script().reasoning, Script().answer)
    assert len(server.requests) == 2


async def test_closing_the_stream_disconnects_upstream(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(chunk_size=1, chunk_delay=0.02))
    stream = make_chat().stream(QUESTION)
    seen = [await anext(stream) for _ in range(4)]
    assert isinstance(seen[-1], ReasoningDelta)
    # Keep everything the generator holds alive (as a lingering traceback would), so that only
    # an explicit close, not garbage collection, can end the upstream request.
    pinned = dict(stream.ag_frame.f_locals)  # type: ignore[attr-defined]
    await stream.aclose()  # type: ignore[attr-defined]
    assert await server.await_until(lambda: server.requests[0].disconnected, seconds=2)
    assert not server.requests[0].completed
    assert server.requests[0].chunks_sent < len(Script().deltas())
    assert pinned


async def test_cancelling_the_consumer_disconnects_upstream(server: FakeLLMServer, make_chat: MakeChat) -> None:
    server.push(Script(chunk_size=1, chunk_delay=0.02))
    got_some = asyncio.Event()

    async def consume() -> None:
        async for event in make_chat().stream(QUESTION):
            if isinstance(event, ReasoningDelta):
                got_some.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_some.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await server.await_until(lambda: server.requests[0].disconnected, seconds=2)
    assert not server.requests[0].completed


def test_openai_sdk_parses_the_fake(server: FakeLLMServer) -> None:
    """The official SDK as client proves the fake speaks the real protocol."""
    script = Script(chunk_size=3)
    server.push(script, script, Script(status=429, retry_after="0", error_message="quota exceeded"))
    http_client = httpx.Client(trust_env=False)
    with openai.OpenAI(base_url=server.base_url, api_key="sk-sdk", max_retries=0, http_client=http_client) as sdk:
        stream = sdk.chat.completions.create(
            model="deepseek-reasoner",
            messages=[{"role": "user", "content": "Say hello."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
        completion = sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.RateLimitError, match="quota exceeded"):
            sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])

    deltas = [c.choices[0].delta for c in chunks if c.choices]
    reasoning = "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas)
    assert (reasoning, "".join(d.content or "" for d in deltas)) == (script.reasoning, script.answer)
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == script.prompt_tokens
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert completion.choices[0].message.content == script.answer
    assert (completion.choices[0].message.model_extra or {})["reasoning_content"] == script.reasoning
    assert server.requests[1].body.get("stream") in (None, False)
    assert server.requests[0].headers["authorization"] == "Bearer sk-sdk"
