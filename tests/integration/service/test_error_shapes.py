"""Every error either service path can produce has one shape, ``{"error": {"message", "type",
"code"}}``, with a sentence a person understands: bad bytes, bad JSON, the wrong content type,
unknown routes, methods and fields. An over-long history is trimmed the same way on both APIs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.service.conftest import QUESTION, bearer

pytestmark = pytest.mark.integration

ASK = "/ask"
CHAT = "/v1/chat/completions"
ASK_BODY = {"question": QUESTION, "kb": "docs"}
CHAT_BODY = {"model": "kb:docs", "messages": [{"role": "user", "content": QUESTION}]}


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert {"message", "type", "code"} <= set(error), error
    assert "detail" not in body and "Traceback" not in response.text
    return dict(error)


def post(api: str, path: str, content: bytes, content_type: str | None) -> httpx.Response:
    headers = {**bearer("team"), **({"Content-Type": content_type} if content_type else {})}
    return httpx.post(f"{api}{path}", content=content, headers=headers, timeout=30)


@pytest.mark.parametrize("path", [ASK, CHAT])
def test_a_body_that_is_not_utf8_is_a_400_that_says_so(api: str, path: str) -> None:
    latin1 = '{"question": "caf\xe9?", "kb": "docs", "model": "kb:docs"}'.encode("latin-1")
    error = error_of(post(api, path, latin1, "application/json"), 400)
    assert error["code"] == "invalid_body" and "UTF-8" in error["message"]
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("path", [ASK, CHAT])
def test_malformed_json_is_the_same_400_on_both_apis(api: str, path: str) -> None:
    error = error_of(post(api, path, b'{"question": "x", "kb": "docs",}', "application/json"), 400)
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("the request body is not valid JSON at position 31")


@pytest.mark.parametrize("path", [ASK, CHAT])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_json_sent_as_another_type_is_415(api: str, path: str, content_type: str) -> None:
    body = httpx.Request("POST", "/", json=ASK_BODY if path == ASK else CHAT_BODY).content
    error = error_of(post(api, path, body, content_type), 415)
    assert error["code"] == "unsupported_media_type" and "application/json" in error["message"]


def test_json_without_a_content_type_is_415_too(api: str) -> None:
    body = httpx.Request("POST", "/", json=ASK_BODY).content
    error = error_of(post(api, ASK, body, None), 415)
    assert "Content-Type: application/json" in error["message"]
    assert post(api, ASK, body, "application/json; charset=utf-8").status_code == 200


def test_an_upload_that_is_not_multipart_is_415(api: str) -> None:
    response = httpx.post(f"{api}/kbs/docs/documents", json={"files": []}, headers=bearer("admin"), timeout=30)
    error = error_of(response, 415)
    assert "multipart/form-data" in error["message"]


def test_unknown_routes_and_methods(api: str) -> None:
    error = error_of(httpx.get(f"{api}/nothing/here", headers=bearer("team")), 404)
    assert error["code"] == "not_found" and "/nothing/here" in error["message"]
    wrong = httpx.get(f"{api}{ASK}", headers=bearer("team"))
    error = error_of(wrong, 405)
    assert error["code"] == "method_not_allowed" and "POST" in error["message"]
    assert wrong.headers["allow"] == "POST"
    error = error_of(httpx.delete(f"{api}/kbs", headers=bearer("team")), 405)
    assert "DELETE is not allowed on /kbs" in error["message"]


def test_unknown_fields_are_refused_by_name(api: str) -> None:
    body = {**ASK_BODY, "topk": 3, "history": [{"role": "user", "content": "hi", "reasoning": "x"}]}
    error = error_of(httpx.post(f"{api}{ASK}", json=body, headers=bearer("team"), timeout=30), 422)
    assert error["message"].startswith("unknown fields: ")
    assert "topk" in error["message"] and "history.0.reasoning" in error["message"]
    assert {p["field"] for p in error["details"]} == {"topk", "history.0.reasoning"}


def test_a_body_that_is_not_an_object(api: str) -> None:
    error = error_of(httpx.post(f"{api}{ASK}", json=[1, 2], headers=bearer("team"), timeout=30), 422)
    assert "JSON object" in error["message"]


def test_an_over_long_history_loses_its_oldest_turns_the_same_way_on_both_apis(api: str) -> None:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(30)]
    asked = httpx.post(f"{api}{ASK}", json={**ASK_BODY, "history": turns}, headers=bearer("team"), timeout=60)
    assert asked.status_code == 200, asked.text
    chat_body = {"model": "kb:docs", "messages": [*turns, {"role": "user", "content": QUESTION}]}
    chatted = httpx.post(f"{api}{CHAT}", json=chat_body, headers=bearer("team"), timeout=60)
    assert chatted.status_code == 200, chatted.text
    expected = "the 10 oldest of 30 history turns were left out to fit the limits (20 turns, 20000 characters)"
    assert expected in asked.json()["warnings"]
    assert expected in chatted.json()["warnings"]
