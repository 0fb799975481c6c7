"""The model's faults, each seen through the API as a client sees it: a clear status (JSON) or an
``error`` event (stream), never a traceback; failures after a stream has started are logged with
the request id, the kind of failure and the profile."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.llm.settings import LLMSettings
from tests.fakes.llm_server import FakeLLMServer, Script
from tests.fakes.servers import ServerThread
from tests.integration.service.conftest import (
    ANSWER,
    PEPPER,
    QUESTION,
    bearer,
    build_app,
    llm_settings,
    service_settings,
)

pytestmark = pytest.mark.integration

SLOW = "a slow but complete answer [citation:1]."


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    retry_after: str | None


def ask(api: str, *, stream: bool, request_id: str = "fault-test") -> Outcome:
    headers = {**bearer("team"), "X-Request-ID": request_id}
    body = {"question": QUESTION, "kb": "docs", "stream": stream}
    if not stream:
        response = httpx.post(f"{api}/ask", json=body, headers=headers, timeout=60)
        return Outcome(response.status_code, response.json(), [], response.headers.get("retry-after"))
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("POST", f"{api}/ask", json=body, headers=headers, timeout=60) as response:
        name = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.split(":", 1)[1])))
        return Outcome(response.status_code, {}, events, response.headers.get("retry-after"))


def answer_text(outcome: Outcome) -> str:
    return "".join(data["text"] for name, data in outcome.events if name == "answer")


def stream_error(outcome: Outcome) -> dict[str, Any]:
    assert outcome.status == 200
    names = [name for name, _ in outcome.events]
    assert names[0] == "sources" and names[-1] == "error", names
    return outcome.events[-1][1]


@pytest.fixture(scope="module")
def faulty_api(data_dir: Path, key_file: Path, llm: FakeLLMServer, bundled_embedder: Any) -> Iterator[str]:
    """As the package's service, with a short stall timeout to keep the matrix quick."""
    settings = service_settings(data_dir, llm, auth={"keys_file": key_file, "pepper": PEPPER})
    settings.llm = llm_settings(llm).model_copy(update={"stall_timeout": 1.0})
    with ServerThread(build_app(settings, bundled_embedder)) as server:
        yield server.base_url


# -- before the first token: retried, then the next profile, then a clear status ----------
def test_429_with_a_short_retry_after_is_waited_for(faulty_api: str, llm: FakeLLMServer) -> None:
    llm.push(Script(status=429, retry_after="1"))
    outcome = ask(faulty_api, stream=False)
    assert outcome.status == 200 and outcome.body["answer"] == ANSWER
    assert outcome.body["model"] == "primary:fake-r1"


def test_429_everywhere_without_retry_after_is_503_rate_limited(faulty_api: str, llm: FakeLLMServer) -> None:
    llm.push(*[Script(status=429) for _ in range(4)])  # two attempts on each of two profiles
    outcome = ask(faulty_api, stream=False)
    assert outcome.status == 503 and outcome.body["error"]["code"] == "llm_rate_limited"
    assert "every LLM profile is rate limited" in outcome.body["error"]["message"]


def test_429_everywhere_with_a_long_retry_after_passes_it_on(faulty_api: str, llm: FakeLLMServer) -> None:
    llm.push(*[Script(status=429, retry_after="90") for _ in range(2)])
    outcome = ask(faulty_api, stream=False)
    assert outcome.status == 503 and outcome.retry_after == "90"


def test_500_then_an_answer(faulty_api: str, llm: FakeLLMServer) -> None:
    llm.push(Script(status=500))
    outcome = ask(faulty_api, stream=False)
    assert outcome.status == 200 and outcome.body["model"] == "primary:fake-r1"


@pytest.mark.parametrize("stream", [False, True])
def test_500_everywhere(faulty_api: str, llm: FakeLLMServer, stream: bool) -> None:
    llm.push(*[Script(status=500) for _ in range(4)])
    outcome = ask(faulty_api, stream=stream)
    if stream:
        error = stream_error(outcome)
        assert error["code"] == "llm_unavailable" and answer_text(outcome) == ""
    else:
        assert outcome.status == 503 and outcome.body["error"]["code"] == "llm_unavailable"


def test_a_stall_before_the_first_token_hands_over_to_the_next_profile(faulty_api: str, llm: FakeLLMServer) -> None:
    llm.push(Script(stall_after=0, stall_seconds=3.0))
    outcome = ask(faulty_api, stream=False)
    assert outcome.status == 200 and outcome.body["model"] == "backup:fake-r1"


def test_a_slow_first_token_is_waited_for(faulty_api: str, llm: FakeLLMServer) -> None:
    llm.push(Script(headers_delay=0.6, answer=SLOW))
    outcome = ask(faulty_api, stream=False)
    assert outcome.status == 200 and outcome.body["answer"] == SLOW
    assert outcome.body["timings"]["llm_ttft_ms"] >= 600


# -- after the first token: the partial answer stays, an error ends it, the log says why ----
@pytest.mark.parametrize(
    ("script", "code", "kind"),
    [
        (Script(chunk_size=2, stall_after=4, stall_seconds=3.0), "llm_timeout", "timeout"),
        (Script(chunk_size=2, drop_after=4), "llm_unavailable", "unavailable"),
        (Script(chunk_size=2, garbage_after=4), "llm_bad_response", "bad_response"),
        (Script(chunk_size=2, error_event_after=4), "llm_unavailable", "unavailable"),
    ],
    ids=["stall", "drop", "malformed-sse", "error-event"],
)
def test_a_failure_mid_stream_is_an_error_event_and_a_log_line(
    faulty_api: str, llm: FakeLLMServer, json_logs: io.StringIO, script: Script, code: str, kind: str
) -> None:
    script.reasoning, script.answer = "", "The dock needs a dedicated circuit."
    llm.push(script)
    outcome = ask(faulty_api, stream=True, request_id=f"mid-stream-{kind}")
    error = stream_error(outcome)
    assert error["code"] == code and error["type"] == "server_error"
    assert answer_text(outcome) == "The dock needs a dedicated circuit."[:8], "what arrived before the fault stays"
    records = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.strip()]
    failed = [r for r in records if r["msg"].startswith("answer stream failed after it started")]
    assert len(failed) == 1, records
    assert failed[0]["request_id"] == f"mid-stream-{kind}"
    assert failed[0]["kind"] == kind and failed[0]["code"] == code and failed[0]["profile"] == "primary"
    assert failed[0]["level"] in ("warning", "error")


@pytest.mark.parametrize("fault", ["drop", "stall"])
def test_a_failure_mid_stream_without_streaming_is_a_5xx(faulty_api: str, llm: FakeLLMServer, fault: str) -> None:
    script = (
        Script(chunk_size=2, drop_after=4) if fault == "drop" else Script(chunk_size=2, stall_after=4, stall_seconds=3)
    )
    llm.push(script)
    outcome = ask(faulty_api, stream=False)
    assert (outcome.status, outcome.body["error"]["code"]) == (
        (503, "llm_unavailable") if fault == "drop" else (504, "llm_timeout")
    )


def test_the_openai_route_logs_its_mid_stream_failures_too(
    faulty_api: str, llm: FakeLLMServer, json_logs: io.StringIO
) -> None:
    llm.push(Script(chunk_size=2, drop_after=4))
    body = {"model": "kb:docs", "messages": [{"role": "user", "content": QUESTION}], "stream": True}
    headers = {**bearer("team"), "X-Request-ID": "openai-drop"}
    with httpx.stream("POST", f"{faulty_api}/v1/chat/completions", json=body, headers=headers, timeout=60) as response:
        frames = [line for line in response.iter_lines() if line.startswith("data:")]
    assert json.loads(frames[-1][5:])["error"]["code"] == "llm_unavailable"
    records = [json.loads(line) for line in json_logs.getvalue().splitlines() if line.strip()]
    failed = [r for r in records if r["msg"].startswith("answer stream failed after it started")]
    assert [(r["request_id"], r["api"], r["profile"]) for r in failed] == [("openai-drop", "openai", "primary")]


def test_a_dead_primary_shows_as_an_open_circuit_to_admins_and_in_metrics(
    data_dir: Path, key_file: Path, llm: FakeLLMServer, bundled_embedder: Any
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    settings = service_settings(data_dir, llm, auth={"keys_file": key_file, "pepper": PEPPER})
    overrides = {
        "primary": {"base_url": f"http://127.0.0.1:{dead}/v1", "model": "fake-r1"},
        "backup": {"base_url": llm.base_url, "model": "fake-r1"},
    }
    settings.llm = LLMSettings(**{**llm_settings(llm).model_dump(), "overrides": overrides, "circuit_failures": 1})
    with ServerThread(build_app(settings, bundled_embedder)) as server:
        assert ask(server.base_url, stream=False).body["model"] == "backup:fake-r1"
        ready = httpx.get(f"{server.base_url}/readyz", headers=bearer("admin")).json()
        circuits = {p["name"]: p["circuit"]["state"] for p in ready["checks"]["llm"]["profiles"]}
        assert circuits == {"primary": "open", "backup": "closed"}
        assert "profiles" not in httpx.get(f"{server.base_url}/readyz", headers=bearer("team")).text
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert 'askdocs_llm_circuit_state{profile="primary"} 2.0' in metrics
        assert 'askdocs_llm_circuit_opened_total{profile="primary"} 1.0' in metrics
        assert 'askdocs_llm_circuit_state{profile="backup"} 0.0' in metrics
