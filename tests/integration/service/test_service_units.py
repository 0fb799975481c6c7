"""In-process checks of the service's pure parts: citation rewriting, model names, history
trimming, key hashing and files, the ``rag keys`` commands, error kinds."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.api.auth import Principal, generate_key, hash_key, load_key_file
from rag.api.routes.openai_compat import (
    ChatCompletionRequest,
    clean_history,
    parse_model,
    to_ask_request,
)
from rag.citations import CitationRewriter, as_footnote, as_marker
from rag.cli.commands import app as rag_cli
from rag.errors import (
    AuthConfigError,
    LLMBadResponse,
    LLMRateLimited,
    LLMTimeout,
    LLMUnavailable,
    ModelNotFound,
    UnknownKnowledgeBase,
)
from rag.llm.events import ChatMessage
from rag.metrics import llm_error_kind
from rag.orchestrator import Orchestrator
from rag.settings import ApiKeyRecord, ApiSettings, RagSettings, get_settings
from rag.types import HistoryTurn

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("size", [1, 2, 3, 5, 100])
def test_citations_become_footnotes_whatever_the_chunking(size: int) -> None:
    text = "A [citation:1] B [citation:2, 3] C [2023] [cit] D 【citation:2】 E [citation:9]. [Citation 1]"
    rewriter = CitationRewriter(known={1, 2}, render=as_footnote)
    out = "".join(rewriter.feed(text[i : i + size]) for i in range(0, len(text), size)) + rewriter.flush()
    assert out == "A [^1] B [^2] C [2023] [cit] D [^2] E. [^1]"  # [citation:9] gone with its space


@pytest.mark.parametrize("size", [1, 2, 4, 100])
def test_bare_numbers_are_the_same_citations_in_both_forms(size: int) -> None:
    """``map_citations`` counts a bare ``[1]``: the text shows it in the same form as the others."""
    text = "Circuit [1], dock [2, 7] and [7]; year [2023]. 机器人【3】。"
    for render, expected in [
        (as_footnote, "Circuit [^1], dock [^2] and; year [2023]. 机器人[^3]。"),
        (as_marker, "Circuit [citation:1], dock [citation:2] and; year [2023]. 机器人[citation:3]。"),
    ]:
        rewriter = CitationRewriter(known={1, 2, 3}, render=render)
        out = "".join(rewriter.feed(text[i : i + size]) for i in range(0, len(text), size)) + rewriter.flush()
        assert out == expected


def test_a_dangling_marker_is_flushed_as_is() -> None:
    rewriter = CitationRewriter()
    assert rewriter.feed("see [citati") == "see"  # the space goes with a marker that is dropped
    assert rewriter.flush() == " [citati"


@pytest.mark.parametrize(
    ("model", "expected"),
    [("kb:docs", ("docs", False)), ("kb:docs+web", ("docs", True)), (" kb:a_b-c ", ("a_b-c", False))],
)
def test_model_names(model: str, expected: tuple[str, bool]) -> None:
    assert parse_model(model) == expected


@pytest.mark.parametrize("model", ["docs", "kb:", "kb:a+b", "gpt-4o", "kb:a+web+web"])
def test_other_model_names_are_unknown(model: str) -> None:
    with pytest.raises(ModelNotFound, match="does not exist or you do not have access"):
        parse_model(model)


def test_history_is_trimmed_to_the_limits_oldest_first_with_a_warning() -> None:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} " + "x" * 100} for i in range(30)]
    body = ChatCompletionRequest(model="kb:docs", messages=[*turns, {"role": "user", "content": "now?"}])
    ask = to_ask_request(body, "docs", False)
    assert ask.question == "now?" and ask.kb == "docs" and ask.web is False and len(ask.history) == 30

    def fit(**api: int) -> tuple[list[ChatMessage], str | None]:
        settings = RagSettings(data_dir=Path("/nonexistent"), api=ApiSettings(**api))
        return Orchestrator(settings, retriever=None, chat=None).fit_history(ask.history)  # type: ignore[arg-type]

    kept, warning = fit(max_history_turns=20, max_history_chars=1000)
    assert len(kept) == 9 and kept[-1].content.startswith("turn 29")
    assert sum(len(t.content) for t in kept) <= 1000
    assert warning is not None and "21 oldest of 30" in warning
    kept, warning = fit(max_history_turns=0)
    assert kept == [] and warning is not None and "30 oldest of 30" in warning
    kept, warning = fit(max_history_turns=40, max_history_chars=100000)
    assert len(kept) == 30 and warning is None


def test_earlier_answers_lose_reasoning_and_footnote_definitions() -> None:
    """Footnotes are this API's to remove; reasoning is removed for every caller in one place."""
    assert clean_history("Yes [^1].\n\n[^1]: Handbook — /h.md\n[^2]: [Web](https://x)") == "Yes [^1]."
    history = [
        HistoryTurn(role="user", content="Q1 <think>user text is left alone</think>"),
        HistoryTurn(
            role="assistant", content=clean_history("<think>private chain</think>\n\nA1 [^1]\n\n[^1]: T — /t.md")
        ),
        HistoryTurn(role="assistant", content="thought with open template\n</think>\n\nA2"),
        HistoryTurn(role="assistant", content="<think>only reasoning</think>"),
    ]
    settings = RagSettings(data_dir=Path("/nonexistent"))
    kept, _ = Orchestrator(settings, retriever=None, chat=None).fit_history(history)  # type: ignore[arg-type]
    assert [(m.role, m.content) for m in kept] == [
        ("user", "Q1 <think>user text is left alone</think>"),
        ("assistant", "A1 [^1]"),
        ("assistant", "A2"),
    ]


def test_key_hashes_depend_on_the_pepper_and_never_contain_the_key() -> None:
    key = generate_key()
    assert key.startswith("askd_") and len(key) >= 40 and generate_key() != key
    plain, peppered = hash_key(key), hash_key(key, "pepper")
    assert plain != peppered and key not in plain
    ApiKeyRecord(name="a", hash=peppered)  # the record accepts exactly this shape
    with pytest.raises(ValueError):
        ApiKeyRecord(name="a", hash=key)


def test_key_files_in_each_format(tmp_path: Path) -> None:
    digest = hash_key("k")
    (tmp_path / "k.json").write_text(json.dumps([{"name": "j", "hash": digest}]), encoding="utf-8")
    (tmp_path / "k.toml").write_text(f'[[keys]]\nname = "t"\nhash = "{digest}"\nkbs = ["*"]\n', encoding="utf-8")
    (tmp_path / "k.yml").write_text(f"- name: y\n  hash: {digest}\n  scopes: [ingest]\n", encoding="utf-8")
    assert [r.name for r in load_key_file(tmp_path / "k.json")] == ["j"]
    assert load_key_file(tmp_path / "k.toml")[0].kbs == ["*"]
    assert load_key_file(tmp_path / "k.yml")[0].scopes == ["ingest"]
    (tmp_path / "bad.toml").write_text("[[keys]\n", encoding="utf-8")
    with pytest.raises(AuthConfigError):
        load_key_file(tmp_path / "bad.toml")
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_key_file(tmp_path / "missing.toml")


def test_principal_scopes_and_hidden_knowledge_bases() -> None:
    team = Principal.from_record(ApiKeyRecord(name="t", hash=hash_key("k"), kbs=["docs"], scopes=["ingest"]))
    assert team.can_read("docs") and not team.can_read("hr")
    assert team.visible(["docs", "hr"]) == ["docs"]
    assert team.has_scope("ingest") and not team.has_scope("delete") and not team.is_admin
    with pytest.raises(UnknownKnowledgeBase) as hidden:
        team.check_read("hr")
    assert str(hidden.value) == str(UnknownKnowledgeBase("hr"))
    admin = Principal.from_record(ApiKeyRecord(name="a", hash=hash_key("k"), scopes=["admin"]))
    assert admin.can_read("hr") and admin.has_scope("delete")


def test_llm_error_kinds() -> None:
    assert llm_error_kind(LLMTimeout("t")) == "timeout"
    assert llm_error_kind(LLMRateLimited("r")) == "rate_limited_429"
    assert llm_error_kind(LLMUnavailable("p (m) answered HTTP 502: bad gateway")) == "upstream_5xx"
    assert llm_error_kind(LLMUnavailable("p: cannot connect")) == "unavailable"
    assert llm_error_kind(LLMBadResponse("x")) == "bad_response"


def test_keys_cli_prints_a_record_that_matches_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_AUTH__PEPPER", "cli-pepper")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        made = runner.invoke(rag_cli, ["keys", "create", "--name", "team-a", "--kb", "handbook", "--scope", "ingest"])
        assert made.exit_code == 0, made.output
        key = made.stderr.strip().splitlines()[-1]
        assert key.startswith("askd_") and key not in made.stdout  # the key never lands in the key file
        record = tomllib.loads(made.stdout)["keys"][0]
        assert record == {
            "name": "team-a",
            "hash": hash_key(key, "cli-pepper"),
            "kbs": ["handbook"],
            "scopes": ["ingest"],
        }
        as_json = json.loads(runner.invoke(rag_cli, ["keys", "create", "--name", "b", "--format", "json"]).stdout)
        assert as_json["record"]["hash"] == hash_key(as_json["key"], "cli-pepper")
        hashed = runner.invoke(rag_cli, ["keys", "hash"], input=key + "\n")
        assert hashed.output.strip() == record["hash"]
        assert runner.invoke(rag_cli, ["keys", "create", "--name", "c", "--scope", "root"]).exit_code != 0
        monkeypatch.setenv("RAG_AUTH__KEYS", json.dumps([record]))
        get_settings.cache_clear()
        listed = runner.invoke(rag_cli, ["keys", "list"])
        assert listed.output.strip() == "team-a\tkbs=handbook\tscopes=ingest"
    finally:
        get_settings.cache_clear()
