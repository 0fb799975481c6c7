"""The OpenAI-compatible routes driven by the official ``openai`` SDK, streamed and not."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.fakes.llm_server import FakeLLMServer, Script
from tests.integration.service.conftest import QUESTION, REASONING, bearer, key

pytestmark = pytest.mark.integration


@pytest.fixture
def client(api: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{api}/v1", api_key=key("team"), max_retries=0, timeout=30)


def test_models_are_the_knowledge_bases_the_key_may_read(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["kb:docs"]
    assert client.models.retrieve("kb:docs").id == "kb:docs"


def test_completion_has_reasoning_footnotes_and_sources(client: openai.OpenAI, llm: FakeLLMServer) -> None:
    before = len(llm.requests)
    completion = client.chat.completions.create(model="kb:docs", messages=[{"role": "user", "content": QUESTION}])
    message = completion.choices[0].message
    assert message.role == "assistant" and completion.choices[0].finish_reason == "stop"
    assert getattr(message, "reasoning_content", None) == REASONING
    answer, _, notes = (message.content or "").partition("\n\n")
    assert answer == "The dock needs a dedicated 16 A circuit [^1]."
    assert notes.startswith("[^1]: ") and notes.rstrip().endswith("dock_checklist.md")
    extra = completion.model_extra or {}
    assert extra["sources"][0]["uri"].endswith("dock_checklist.md")
    assert [c["source_id"] for c in extra["citations"]] == [1]
    assert completion.model == "kb:docs" and extra["askdocs"]["llm"] == "primary:fake-r1"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    sent = llm.requests[before].body
    assert [m["role"] for m in sent["messages"]] == ["user"] and QUESTION in sent["messages"][0]["content"]


def test_stream_sends_reasoning_then_answer_then_sources(client: openai.OpenAI) -> None:
    reasoning: list[str] = []
    content: list[str] = []
    last: Any = None
    usage: Any = None
    stream = client.chat.completions.create(
        model="kb:docs",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        piece = getattr(delta, "reasoning_content", None)
        if piece:
            assert not content, "reasoning must come before the answer"
            reasoning.append(piece)
        if delta.content:
            content.append(delta.content)
        if chunk.choices[0].finish_reason is not None:
            last = chunk
    assert "".join(reasoning) == REASONING
    text = "".join(content)
    assert text.startswith("The dock needs a dedicated 16 A circuit [^1].")
    assert "\n\n[^1]: " in text and "citation" not in text
    assert last.choices[0].finish_reason == "stop"
    extra = last.model_extra or {}
    assert extra["sources"][0]["uri"].endswith("dock_checklist.md")
    assert extra["citations"][0]["source_id"] == 1
    assert usage is not None and usage.prompt_tokens > 0


def test_a_citation_split_across_deltas_still_becomes_a_footnote(client: openai.OpenAI, llm: FakeLLMServer) -> None:
    llm.push(Script(answer="Use a 16 A circuit [citation:1] and an unknown [citation:7].", chunk_size=3))
    stream = client.chat.completions.create(
        model="kb:docs", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text.startswith("Use a 16 A circuit [^1] and an unknown.")  # no stray space where [7] was
    assert "[^7]" not in text and "citation" not in text


def test_history_drops_system_prompts_reasoning_and_footnotes(client: openai.OpenAI, llm: FakeLLMServer) -> None:
    before = len(llm.requests)
    client.chat.completions.create(
        model="kb:docs",
        messages=[
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "Where is the dock?"},
            {"role": "assistant", "content": "<think>secret chain</think>Near bay 3 [^1].\n\n[^1]: Dock — /x.md"},
            {"role": "user", "content": [{"type": "text", "text": QUESTION}]},
        ],
    )
    messages = llm.requests[before].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    flat = str(messages)
    assert "secret chain" not in flat and "pirate" not in flat and "[^1]: Dock" not in flat
    assert messages[1]["content"] == "Near bay 3 [^1]."
    assert QUESTION in messages[2]["content"]


def test_web_is_an_extra_parameter_or_a_model_suffix(client: openai.OpenAI) -> None:
    # No search proxy is configured here, so asking for the web adds a warning: proof the flag arrived.
    plain = client.chat.completions.create(model="kb:docs", messages=[{"role": "user", "content": QUESTION}])
    assert not any("web search" in w for w in (plain.model_extra or {})["warnings"])
    extra = client.chat.completions.create(
        model="kb:docs", messages=[{"role": "user", "content": QUESTION}], extra_body={"web": True}
    )
    assert any("no search proxy is configured" in w for w in (extra.model_extra or {})["warnings"])
    with pytest.raises(openai.NotFoundError):  # +web is listed only when a proxy is configured, but parses
        client.models.retrieve("kb:docs+web")
    suffixed = client.chat.completions.create(model="kb:docs+web", messages=[{"role": "user", "content": QUESTION}])
    assert any("no search proxy is configured" in w for w in (suffixed.model_extra or {})["warnings"])


def test_errors_have_openai_shape_and_status(client: openai.OpenAI, api: str) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": QUESTION}])
    assert missing.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="kb:docs", messages=[{"role": "assistant", "content": "hi"}])
    assert "last message" in str(bad.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="kb:docs", messages=[])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{api}/v1", api_key="askd_not-a-real-key-aaaaaaaaaaaaaaaa", max_retries=0).models.list()
    raw = httpx.post(f"{api}/v1/chat/completions", json={"model": "kb:docs"}, headers=bearer("team"), timeout=30)
    assert raw.status_code == 400
    error = raw.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "messages" and error["message"]


def test_upstream_failure_is_a_json_error_and_a_stream_error(client: openai.OpenAI, llm: FakeLLMServer) -> None:
    llm.push(*[Script(status=500) for _ in range(4)])
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="kb:docs", messages=[{"role": "user", "content": QUESTION}])
    assert failed.value.status_code == 503  # every attempt answered 500: the model is unavailable
    assert failed.value.body["type"] == "server_error"  # type: ignore[index]
    llm.push(Script(chunk_size=2, drop_after=5))
    stream = client.chat.completions.create(
        model="kb:docs", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_retrieval_only_answer_lists_the_sources(data_dir: Any, key_file: Any, bundled_embedder: Any) -> None:
    from tests.fakes.servers import ServerThread
    from tests.integration.service.conftest import PEPPER, build_app, service_settings

    settings = service_settings(data_dir, None, auth={"keys_file": key_file, "pepper": PEPPER})
    with ServerThread(build_app(settings, bundled_embedder)) as server:
        sdk = openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key("team"), max_retries=0)
        completion = sdk.chat.completions.create(model="kb:docs", messages=[{"role": "user", "content": QUESTION}])
    content = completion.choices[0].message.content or ""
    assert content.startswith("No language model is configured")
    assert "1. " in content and "dock_checklist.md" in content and "> " in content
    assert (completion.model_extra or {})["askdocs"]["mode"] == "retrieval_only"
