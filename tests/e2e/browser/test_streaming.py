"""The stream under bad conditions: Chinese split mid-character by the network, Stop (the server
cancels the model's request), a network that drops mid-answer, a model that is down, and a 429
with its Retry-After. Each leaves what the analyst already has on screen and says what to do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.browser.conftest import Serve, ask, screenshot, wait_answer_ended
from tests.fakes.byte_relay import ByteRelay
from tests.fakes.llm_server import FakeLLMServer, Script

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHINESE_REASONING = "用户问年假。先查员工手册，再核对入职指南。"
CHINESE_ANSWER = "入职满一年的员工享有十天带薪年假 [citation:1]，每多工作一年增加一天，最多十五天。"
LONG_ANSWER = " ".join(f"Clause {i} keeps the warranty [citation:1]." for i in range(400))


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_scripts_left(llm: FakeLLMServer) -> None:
    llm.default = Script(reasoning="Short.", answer="Done [citation:1].")
    with llm._lock:  # noqa: SLF001 - drop scripts a failed test left queued
        llm._queue.clear()  # noqa: SLF001


@pytest.fixture(scope="module")
def app_port(serve: Serve, docs_data: Path, llm: FakeLLMServer) -> Iterator[int]:
    with serve(docs_data, llm, rate_limit={"requests_per_minute": 1000, "concurrent_streams": 1}) as url:
        yield int(url.rsplit(":", 1)[1])


def test_chinese_split_across_one_byte_reads_arrives_intact(app_port: int, page: Any, llm: FakeLLMServer) -> None:
    llm.push(Script(reasoning=CHINESE_REASONING, answer=CHINESE_ANSWER, chunk_size=1))
    with ByteRelay(app_port) as relay:
        page.goto(f"{relay.base_url}/")
        ask(page, "入职满一年有几天年假？")
        assert relay.stats.streams == 1 and relay.stats.split_characters > 100  # it really was cut mid-character
    answer = page.get_by_test_id("answer").inner_text()
    assert "\ufffd" not in answer
    assert "入职满一年的员工享有十天带薪年假" in answer and "最多十五天。" in answer
    page.get_by_test_id("thinking-toggle").click()
    thinking = page.get_by_test_id("thinking-panel").inner_text()
    assert CHINESE_REASONING in thinking and "\ufffd" not in thinking
    assert page.get_by_test_id("source-item").count() >= 1
    assert page.problems == []


def test_stop_keeps_the_partial_answer_and_the_server_cancels_the_model(
    app_port: int, page: Any, llm: FakeLLMServer
) -> None:
    llm.push(Script(reasoning="Thinking.", answer=LONG_ANSWER, chunk_size=12, chunk_delay=0.05))
    page.goto(f"http://127.0.0.1:{app_port}/")
    ask(page, "What keeps the warranty?", wait_done=False)
    page.wait_for_function("() => document.querySelector('[data-testid=answer]')?.innerText.includes('Clause 3')")
    page.get_by_test_id("stop-button").click()
    wait_answer_ended(page)
    assert "stopped" in page.get_by_test_id("answer-incomplete").inner_text().lower()
    kept = page.get_by_test_id("answer").inner_text()
    assert "Clause 3" in kept and "Clause 399" not in kept
    assert llm.wait_until(lambda: llm.requests[-1].disconnected, seconds=10), "the model was not cancelled"
    assert not llm.requests[-1].completed
    page.get_by_test_id("ask-button").wait_for()  # ready for the next question
    screenshot(page, "stopped")
    assert page.problems == []


def test_a_network_drop_mid_answer_keeps_the_partial_answer_marked_incomplete(
    app_port: int, page: Any, llm: FakeLLMServer
) -> None:
    llm.push(Script(reasoning="Thinking.", answer=LONG_ANSWER, chunk_size=12, chunk_delay=0.03))
    with ByteRelay(app_port, trickle=False, cut_after=5) as relay:
        page.goto(f"{relay.base_url}/")
        ask(page, "What keeps the warranty?")
        assert relay.stats.cut == 1
    assert "cut off" in page.get_by_test_id("answer-incomplete").inner_text()
    assert "Clause 0" in page.get_by_test_id("answer").inner_text()
    assert page.get_by_test_id("source-item").count() >= 1
    assert page.get_by_test_id("error-message").count() == 0  # the answer stays, marked: not replaced by an error
    assert page.problems == []


def test_a_model_that_is_down_leaves_the_sources_and_says_so(app_port: int, page: Any, llm: FakeLLMServer) -> None:
    llm.default = Script(status=503, error_message="overloaded")
    page.goto(f"http://127.0.0.1:{app_port}/")
    ask(page, "How long is the battery warranty?")
    assert page.get_by_test_id("source-item").count() >= 1
    error = page.get_by_test_id("error-message").inner_text()
    assert "language model is unavailable" in error and "sources above are still valid" in error
    screenshot(page, "model-down")
    assert page.problems == []


def test_too_many_answers_at_once_say_how_long_to_wait(app_port: int, page: Any, llm: FakeLLMServer) -> None:
    """concurrent_streams is 1: while another client's answer streams, the page's ask is a 429."""
    llm.push(Script(reasoning="Busy.", answer=LONG_ANSWER, chunk_size=12, chunk_delay=0.05))
    streaming, release = threading.Event(), threading.Event()

    def occupy() -> None:
        body = {"question": "Hold the slot", "kb": "docs", "stream": True}
        with httpx.stream("POST", f"http://127.0.0.1:{app_port}/ask", json=body, timeout=60) as response:
            for _line in response.iter_lines():
                streaming.set()
                if release.is_set():
                    return  # closing the stream frees the slot

    holder = threading.Thread(target=occupy, daemon=True)
    holder.start()
    assert streaming.wait(20)
    retry_after: list[str] = []
    page.on("response", lambda r: retry_after.append(r.headers.get("retry-after", "")) if r.status == 429 else None)
    page.goto(f"http://127.0.0.1:{app_port}/")
    ask(page, "How long is the battery warranty?")
    assert retry_after and retry_after[0].isdigit()
    error = page.get_by_test_id("error-message").inner_text()
    assert f"Wait {retry_after[0]} s" in error
    release.set()
    holder.join(20)
    assert page.problems == []
