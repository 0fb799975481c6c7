"""Per-key limits: requests per minute and answers in flight, both 429 with ``Retry-After``."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from rag.api.ratelimit import RateLimiter
from rag.errors import TooManyRequests
from rag.settings import RateLimitSettings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.integration.service.conftest import QUESTION, bearer, key

pytestmark = pytest.mark.integration

CHAT = {"model": "kb:docs", "messages": [{"role": "user", "content": QUESTION}]}


def test_requests_per_minute_per_key(api: str) -> None:
    statuses = [httpx.get(f"{api}/kbs", headers=bearer("tiny")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = httpx.get(f"{api}/kbs", headers=bearer("tiny"))
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    sdk = openai.OpenAI(base_url=f"{api}/v1", api_key=key("tiny"), max_retries=0)
    with pytest.raises(openai.RateLimitError):
        sdk.models.list()
    assert httpx.get(f"{api}/kbs", headers=bearer("team")).status_code == 200  # other keys are unaffected


def test_concurrent_answers_per_key(api: str, llm: FakeLLMServer) -> None:
    llm.push(Script(chunk_size=1, chunk_delay=0.05, answer="a slow answer " * 40))
    url = f"{api}/v1/chat/completions"
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", url, json={**CHAT, "stream": True}, headers=bearer("single")) as first:
            assert first.status_code == 200
            lines = first.iter_lines()  # keep the iterator: dropping it closes the response
            next(lines)  # the answer is under way
            second = httpx.post(url, json=CHAT, headers=bearer("single"), timeout=30)
            assert second.status_code == 429, second.text
            assert 1 <= int(second.headers["retry-after"]) <= 20  # when the running answer should end
            assert "in progress" in second.json()["error"]["message"]
            ask = httpx.post(
                f"{api}/ask", json={"question": QUESTION, "kb": "docs"}, headers=bearer("single"), timeout=30
            )
            assert ask.status_code == 429  # the limit spans both answer routes
            assert httpx.post(url, json=CHAT, headers=bearer("team"), timeout=30).status_code == 200
    # Leaving the stream early releases the slot.
    deadline = time.monotonic() + 15
    status = 0
    while time.monotonic() < deadline:
        status = httpx.post(url, json=CHAT, headers=bearer("single"), timeout=30).status_code
        if status != 429:
            break
        time.sleep(0.2)
    assert status == 200


def test_token_bucket_refills_and_slots_release_once() -> None:
    now = [0.0]
    limiter = RateLimiter(RateLimitSettings(requests_per_minute=60, concurrent_streams=2), clock=lambda: now[0])
    for _ in range(60):
        limiter.hit("k")
    with pytest.raises(TooManyRequests) as limited:
        limiter.hit("k")
    assert limited.value.retry_after == 1
    now[0] += 2.0  # one token per second
    limiter.hit("k")
    limiter.hit("k")
    with pytest.raises(TooManyRequests):
        limiter.hit("k")
    a, b = limiter.acquire_stream("k"), limiter.acquire_stream("k")
    with pytest.raises(TooManyRequests):
        limiter.acquire_stream("k")
    a.release()
    a.release()  # idempotent: does not free b's slot
    assert limiter.in_flight("k") == 1
    b.release()
    assert limiter.in_flight("k") == 0
    off = RateLimiter(RateLimitSettings(enabled=False, requests_per_minute=1))
    for _ in range(5):
        off.hit("k")


def test_retry_after_for_answers_in_flight_follows_how_long_answers_take() -> None:
    now = [1000.0]
    settings = RateLimitSettings(concurrent_streams=1, typical_answer_s=20.0)
    limiter = RateLimiter(settings, clock=lambda: now[0])
    first = limiter.acquire_stream("k")
    now[0] += 5.0
    with pytest.raises(TooManyRequests) as limited:
        limiter.acquire_stream("k")
    assert limited.value.retry_after == 15, "the prior (20 s) less the 5 s the answer has run"
    # answers here take a minute: the estimate moves towards it, and a retry is advised later
    for _ in range(12):
        now[0] += 55.0
        first.release()
        first = limiter.acquire_stream("k")
    assert 50.0 <= limiter.typical_answer_s <= 60.0
    now[0] += 10.0
    with pytest.raises(TooManyRequests) as limited:
        limiter.acquire_stream("k")
    assert 40 <= limited.value.retry_after <= 50
    now[0] += 120.0  # the answer runs far past the mean: retry soon, never 0
    with pytest.raises(TooManyRequests) as limited:
        limiter.acquire_stream("k")
    assert limited.value.retry_after == 1
    first.release()
    assert limiter.in_flight("k") == 0
