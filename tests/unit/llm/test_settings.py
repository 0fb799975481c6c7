"""LLM settings: env parsing as the app will nest them, profile resolution, keys from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import LLMUnavailable
from rag.llm.client import OpenAICompatibleChat, build_chat_model
from rag.llm.settings import LLMSettings

pytestmark = pytest.mark.unit


class AppSettings(BaseSettings):
    """Stands in for the app settings: the same prefix and nesting the real ones use."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_nested_delimiter="__")
    llm: LLMSettings = LLMSettings()


def test_defaults_mean_no_llm() -> None:
    settings = LLMSettings()
    assert settings.profiles == []
    assert settings.temperature == 0.6
    assert build_chat_model(settings) is None


def test_comma_separated_profiles_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLM__PROFILES", "vllm, SiliconFlow")
    monkeypatch.setenv("RAG_LLM__OVERRIDES__VLLM__MODEL", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B")
    monkeypatch.setenv("RAG_LLM__STALL_TIMEOUT", "12.5")
    settings = AppSettings().llm
    profiles = settings.resolved_profiles()
    assert [p.name for p in profiles] == ["vllm", "siliconflow"]
    assert profiles[0].model == "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"
    assert profiles[0].base_url == "http://localhost:8000/v1"
    assert profiles[1].chat_url == "https://api.siliconflow.cn/v1/chat/completions"
    assert profiles[1].model == "deepseek-ai/DeepSeek-R1"
    assert settings.stall_timeout == 12.5


def test_json_list_and_json_overrides_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LLM__PROFILES", '["deepseek", "ollama"]')
    monkeypatch.setenv("RAG_LLM__OVERRIDES", '{"ollama": {"model": "deepseek-r1:14b", "reasoning_starts_open": true}}')
    profiles = AppSettings().llm.resolved_profiles()
    assert [(p.name, p.model) for p in profiles] == [("deepseek", "deepseek-reasoner"), ("ollama", "deepseek-r1:14b")]
    assert profiles[0].chat_url == "https://api.deepseek.com/chat/completions"
    assert profiles[1].reasoning_starts_open is True


def test_custom_profile_needs_base_url_and_model() -> None:
    with pytest.raises(ValidationError, match=r"overrides\.custom\.base_url"):
        LLMSettings(profiles=["custom"], overrides={"custom": {"model": "r1"}})
    settings = LLMSettings(
        profiles=["custom"],
        overrides={"custom": {"base_url": "http://llm.internal/v1/", "model": "r1", "api_key_env": "INTERNAL_KEY"}},
    )
    (profile,) = settings.resolved_profiles()
    assert profile.chat_url == "http://llm.internal/v1/chat/completions"
    assert profile.key_required


def test_duplicate_profiles_are_rejected() -> None:
    with pytest.raises(ValidationError, match="twice"):
        LLMSettings(profiles="vllm,VLLM")


def test_unknown_override_field_is_rejected() -> None:
    with pytest.raises(ValidationError):
        LLMSettings(profiles=["vllm"], overrides={"vllm": {"modle": "typo"}})


def test_api_key_is_read_from_env_at_use(monkeypatch: pytest.MonkeyPatch) -> None:
    (profile,) = LLMSettings(profiles=["deepseek"]).resolved_profiles()
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.raises(LLMUnavailable, match="DEEPSEEK_API_KEY is not set"):
        profile.api_key()
    monkeypatch.setenv("DEEPSEEK_API_KEY", "changeme")
    with pytest.raises(LLMUnavailable, match="placeholder"):
        profile.api_key()
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-real-value")
    key = profile.api_key()
    assert key is not None and key.get_secret_value() == "sk-real-value"
    assert "sk-real-value" not in repr(key)


def test_local_profiles_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    vllm, ollama = LLMSettings(profiles=["vllm", "ollama"]).resolved_profiles()
    assert vllm.api_key() is None
    assert ollama.api_key() is None


def test_build_and_describe_never_show_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SILICONFLOW_API_KEY", "sk-do-not-print")
    model = build_chat_model(LLMSettings(profiles=["siliconflow", "ollama"]))
    assert isinstance(model, OpenAICompatibleChat)
    info = model.describe()
    assert [p["name"] for p in info["profiles"]] == ["siliconflow", "ollama"]
    assert info["profiles"][0]["api_key_set"] is True
    assert info["profiles"][1]["api_key_set"] is False
    assert "sk-do-not-print" not in repr(info)
