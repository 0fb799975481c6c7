"""A dead primary profile is skipped once it has failed a few times in a row, so the fallback
answers at once; it is used again when a probe after the cool-down finds it back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from rag.errors import LLMUnavailable
from rag.llm.client import OpenAICompatibleChat
from rag.llm.events import ChatMessage, StreamStart
from rag.llm.settings import LLMSettings, Profile
from tests.fakes.llm_server import FakeLLMServer, Script

pytestmark = pytest.mark.integration

QUESTION = [ChatMessage("user", "Say hello.")]


@pytest.fixture
def servers() -> Iterator[tuple[FakeLLMServer, FakeLLMServer]]:
    with FakeLLMServer() as primary, FakeLLMServer() as backup:
        yield primary, backup


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def make_chat(
    primary: FakeLLMServer, backup: FakeLLMServer, http: httpx.AsyncClient, cooldown_s: float = 0.8
) -> OpenAICompatibleChat:
    profiles = (
        Profile(name="primary", base_url=primary.base_url, model="r1-local"),
        Profile(name="backup", base_url=backup.base_url, model="r1-hosted"),
    )
    settings = LLMSettings(
        max_retries=2,
        backoff_base=0.2,
        backoff_max=0.4,
        circuit_failures=2,
        circuit_cooldown_s=cooldown_s,
    )
    return OpenAICompatibleChat(profiles, settings, client=http)


async def answered_by(chat: OpenAICompatibleChat) -> tuple[str, float]:
    began = time.perf_counter()
    events = [event async for event in chat.stream(QUESTION)]
    start = events[0]
    assert isinstance(start, StreamStart)
    return start.profile, time.perf_counter() - began


async def test_a_dead_primary_is_skipped_then_probed_back(
    servers: tuple[FakeLLMServer, FakeLLMServer], http: httpx.AsyncClient
) -> None:
    primary, backup = servers
    primary.default = Script(status=503, error_message="model worker down")
    chat = make_chat(primary, backup, http)

    for attempt in (1, 2):  # each pays the primary's retries before the fallback answers
        profile, _ = await answered_by(chat)
        assert profile == "backup"
        assert len(primary.requests) == 3 * attempt
    assert chat.describe()["profiles"][0]["circuit"]["state"] == "open"

    profile, seconds = await answered_by(chat)
    assert profile == "backup"
    assert len(primary.requests) == 6, "an open circuit sends nothing to the dead profile"
    assert seconds < 0.3, f"the fallback should answer at once, took {seconds:.2f} s"

    primary.default = Script()  # the primary comes back
    await asyncio.sleep(0.9)
    assert chat.describe()["profiles"][0]["circuit"]["state"] == "half_open"
    profile, _ = await answered_by(chat)
    assert profile == "primary", "the probe after the cool-down finds the primary back"
    assert chat.describe()["profiles"][0]["circuit"] == {
        "state": "closed",
        "consecutive_failures": 0,
        "retry_in_s": 0.0,
        "opened_total": 1,
    }


async def test_when_every_profile_is_open_the_error_says_when_to_retry(
    servers: tuple[FakeLLMServer, FakeLLMServer], http: httpx.AsyncClient
) -> None:
    primary, backup = servers
    primary.default = backup.default = Script(status=502)
    # a cool-down far longer than the failing rounds take on a busy machine, so no circuit is
    # half-open (probing) by the third question
    chat = make_chat(primary, backup, http, cooldown_s=30.0)
    for _ in range(2):
        with pytest.raises(LLMUnavailable):
            _ = [event async for event in chat.stream(QUESTION)]
    sent = len(primary.requests) + len(backup.requests)
    with pytest.raises(LLMUnavailable, match="every LLM profile is failing") as caught:
        _ = [event async for event in chat.stream(QUESTION)]
    assert len(primary.requests) + len(backup.requests) == sent
    assert caught.value.retry_after is not None and 15.0 <= caught.value.retry_after <= 30.0
    assert caught.value.profile == "primary,backup"


async def test_a_rejected_request_does_not_count_against_the_endpoint(
    servers: tuple[FakeLLMServer, FakeLLMServer], http: httpx.AsyncClient
) -> None:
    primary, backup = servers
    primary.default = Script(status=400, error_message="maximum context length exceeded")
    chat = make_chat(primary, backup, http)
    for _ in range(3):
        await answered_by(chat)
    assert chat.describe()["profiles"][0]["circuit"]["state"] == "closed"
    assert len(primary.requests) == 3


async def test_an_error_body_that_echoes_the_key_reaches_no_one(
    servers: tuple[FakeLLMServer, FakeLLMServer], http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    primary, _ = servers
    monkeypatch.setenv("ECHO_KEY", "sk-live-0123456789abcdef")
    primary.default = Script(
        status=401, error_message="Incorrect API key: sk-live-0123456789abcdef (header Bearer sk-live-0123456789abcdef)"
    )
    profile = Profile(name="hosted", base_url=primary.base_url, model="m", api_key_env="ECHO_KEY", key_required=True)
    chat = OpenAICompatibleChat((profile,), LLMSettings(max_retries=0), client=http)
    with pytest.raises(LLMUnavailable) as caught:
        _ = [event async for event in chat.stream(QUESTION)]
    assert "0123456789abcdef" not in str(caught.value)
    assert "Incorrect API key" in str(caught.value) and "[redacted]" in str(caught.value)
