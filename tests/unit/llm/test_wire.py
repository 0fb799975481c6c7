"""Wire details that need no server: Retry-After, error bodies, error ranking, history cleaning."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from rag.errors import LLMBadResponse, LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from rag.llm.client import _most_telling, prepare_messages
from rag.llm.events import ChatMessage
from rag.llm.settings import Profile
from rag.llm.wire import http_failure, parse_retry_after

pytestmark = pytest.mark.unit

PROFILE = Profile(name="p", base_url="http://x/v1", model="m")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("Sun, 01 Nov 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Nov 2026 11:59:00 GMT", 0.0),
        ("soon", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def response(status: int, **kwargs: object) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", "http://x/v1/chat/completions"), **kwargs)  # type: ignore[arg-type]


def test_openai_error_body_becomes_the_message() -> None:
    body = {"error": {"message": "This model's maximum context length is 65536 tokens", "type": "invalid_request"}}
    failure = http_failure(PROFILE, response(400, json=body))
    assert type(failure.error) is LLMError
    assert "HTTP 400" in str(failure.error)
    assert "maximum context length is 65536 tokens (invalid_request)" in str(failure.error)
    assert not failure.retriable


def test_vllm_flat_error_body_and_plain_text() -> None:
    flat = http_failure(PROFILE, response(404, json={"object": "error", "message": "model m does not exist"}))
    assert isinstance(flat.error, LLMUnavailable) and "model m does not exist" in str(flat.error)
    text = http_failure(PROFILE, response(502, text="<html>Bad gateway</html>"))
    assert isinstance(text.error, LLMUnavailable) and "Bad gateway" in str(text.error) and text.retriable


def test_429_carries_retry_after() -> None:
    failure = http_failure(PROFILE, response(429, json={"error": "slow down"}, headers={"Retry-After": "7"}))
    assert isinstance(failure.error, LLMRateLimited)
    assert failure.error.retry_after == 7.0 and failure.retry_after == 7.0 and failure.retriable


def test_auth_failure_is_unavailable_and_not_retried() -> None:
    failure = http_failure(PROFILE, response(401, json={"error": {"message": "Authentication Fails"}}))
    assert isinstance(failure.error, LLMUnavailable) and not failure.retriable


def test_most_telling_error() -> None:
    limited = [("a", LLMRateLimited("a 429", retry_after=9)), ("b", LLMRateLimited("b 429", retry_after=4))]
    only_429 = _most_telling(limited)
    assert isinstance(only_429, LLMRateLimited) and only_429.retry_after == 4
    mixed = _most_telling([("a", LLMRateLimited("429")), ("b", LLMUnavailable("refused"))])
    assert type(mixed) is LLMUnavailable and "a: 429" in str(mixed) and "b: refused" in str(mixed)
    rejected = _most_telling(
        [("a", LLMTimeout("slow")), ("b", LLMError("context too long")), ("c", LLMBadResponse("x"))]
    )
    assert type(rejected) is LLMError
    single = LLMTimeout("only one")
    assert _most_telling([("a", single)]) is single


def test_a_conversation_goes_on_the_wire_as_given() -> None:
    history = [ChatMessage("user", "Q1"), ChatMessage("assistant", "A1 [citation:1]")]
    assert prepare_messages(history) == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1 [citation:1]"},
    ]
