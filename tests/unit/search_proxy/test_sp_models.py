"""Request validation (``fetch``, ``q``, ``k``, ``lang``), page counting, and language mapping."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from search_proxy.models import SearchRequest
from search_proxy.providers.brave import brave_lang

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("YES", True), ("false", False), ("0", 0), ("3", 3), (True, True), (2, 2)],
)
def test_fetch_forms(value: object, expected: object) -> None:
    fetch = SearchRequest(q="x", fetch=value).fetch
    assert fetch == expected and type(fetch) is type(expected)


@pytest.mark.parametrize(
    ("fetch", "k", "pages"),
    [(True, 10, 3), (False, 10, 0), (0, 10, 0), (5, 10, 5), (5, 2, 2), (20, 20, 10)],
)
def test_pages_to_fetch_is_bounded_by_k_and_max(fetch: bool | int, k: int, pages: int) -> None:
    assert SearchRequest(q="x", k=k, fetch=fetch).pages_to_fetch(default_pages=3, max_pages=10) == pages


def test_query_whitespace_is_normalised() -> None:
    assert SearchRequest(q="  港口\t起重机 \n 检查 ").q == "港口 起重机 检查"


@pytest.mark.parametrize(
    "fields",
    [
        {"q": ""},
        {"q": " \t "},
        {"q": "x" * 401},
        {"q": "x", "k": 21},
        {"q": "x", "fetch": -1},
        {"q": "x", "fetch": "lots"},
        {"q": "x", "lang": "english please"},
        {"q": "x", "freshness": "hour"},
        {"q": "x", "deadline_s": 0},
        {"q": "x", "unknown": 1},
    ],
)
def test_invalid_requests(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        SearchRequest(**fields)


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-Hans-CN", "pt-BR"])
def test_language_tags(lang: str) -> None:
    assert SearchRequest(q="x", lang=lang).lang == lang


@pytest.mark.parametrize(
    ("tag", "brave"),
    [("zh-CN", "zh-hans"), ("zh-TW", "zh-hant"), ("ja", "jp"), ("en-US", "en"), ("en-GB", "en-gb"), ("pt", "pt-br")],
)
def test_brave_language_codes(tag: str, brave: str) -> None:
    assert brave_lang(tag) == brave
