"""Settings of the chat model client, nested under the app settings as ``llm``.

With the app's ``RAG_`` prefix and ``__`` as nested delimiter the variables read::

    RAG_LLM__PROFILES=vllm,siliconflow          # ordered fallback list; empty = no LLM
    RAG_LLM__OVERRIDES__VLLM__MODEL=deepseek-ai/DeepSeek-R1-Distill-Qwen-32B
    RAG_LLM__OVERRIDES__CUSTOM__BASE_URL=https://llm.internal/v1
    RAG_LLM__OVERRIDES__CUSTOM__MODEL=r1
    RAG_LLM__OVERRIDES__CUSTOM__API_KEY_ENV=INTERNAL_LLM_KEY
    RAG_LLM__STALL_TIMEOUT=30

API keys never live in settings or files: a profile names the environment variable that holds
its key, read when a request is made.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from rag.errors import LLMUnavailable
from rag.llm.reasoning import DEFAULT_PROBE_CHARS
from servicekit.settings import split_csv

# Values people paste from examples; sending them only produces a confusing 401.
_PLACEHOLDER_KEYS = frozenset({"changeme", "changethis", "your-api-key", "sk-xxx", "sk-...", "xxx", "todo"})


class ProfileOverride(BaseModel):
    """Per-profile changes to a built-in profile, or the whole definition of a custom one."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    # None = detect (see rag.llm.reasoning); True when the chat template opens <think> itself.
    reasoning_starts_open: bool | None = None
    reasoning_probe_chars: int | None = Field(default=None, ge=0)


class Profile(BaseModel):
    """A resolved endpoint: where to send requests, which model, and where its key lives."""

    model_config = ConfigDict(frozen=True)

    name: str
    base_url: str
    model: str
    api_key_env: str | None = None
    key_required: bool = False
    reasoning_starts_open: bool | None = None
    reasoning_probe_chars: int = DEFAULT_PROBE_CHARS

    @property
    def chat_url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def api_key(self) -> SecretStr | None:
        """Read the key from the environment now (not at import), so rotation needs no rebuild.

        Raises ``LLMUnavailable`` when a hosted profile has no usable key.
        """
        raw = os.environ.get(self.api_key_env, "").strip() if self.api_key_env else ""
        if raw.lower() in _PLACEHOLDER_KEYS:
            raise LLMUnavailable(f"profile {self.name!r}: {self.api_key_env} holds a placeholder, not an API key")
        if not raw:
            if self.key_required:
                raise LLMUnavailable(f"profile {self.name!r}: environment variable {self.api_key_env} is not set")
            return None
        return SecretStr(raw)


BUILTIN_PROFILES: dict[str, Profile] = {
    "deepseek": Profile(
        name="deepseek",
        base_url="https://api.deepseek.com",
        model="deepseek-reasoner",
        api_key_env="DEEPSEEK_API_KEY",
        key_required=True,
    ),
    "siliconflow": Profile(
        name="siliconflow",
        base_url="https://api.siliconflow.cn/v1",
        model="deepseek-ai/DeepSeek-R1",
        api_key_env="SILICONFLOW_API_KEY",
        key_required=True,
    ),
    "ollama": Profile(name="ollama", base_url="http://localhost:11434/v1", model="deepseek-r1:7b"),
    # vLLM serves whatever model it was started with: set OVERRIDES__VLLM__MODEL to its name.
    "vllm": Profile(
        name="vllm",
        base_url="http://localhost:8000/v1",
        model="deepseek-ai/DeepSeek-R1",
        api_key_env="VLLM_API_KEY",
    ),
}


class LLMSettings(BaseModel):
    """Which endpoints answer, in fallback order, and how patiently to talk to them."""

    profiles: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Ordered fallback list of profile names; empty means no LLM configured."
    )
    overrides: dict[str, ProfileOverride] = Field(
        default_factory=dict, description="Per-profile base_url/model/api_key_env; defines non-built-in profiles."
    )
    temperature: float = Field(default=0.6, ge=0.0, le=2.0, description="R1 works best at 0.5-0.7.")
    max_tokens: int | None = Field(
        default=None, gt=0, description="Completion cap (reasoning included); None = endpoint default."
    )
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=120.0, gt=0, description="Longest silence on the socket.")
    stall_timeout: float = Field(default=60.0, gt=0, description="Longest wait for the next stream event.")
    max_retries: int = Field(default=2, ge=0, description="Retries per profile before the first token.")
    backoff_base: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=8.0, ge=0)
    retry_after_max: float = Field(
        default=30.0, ge=0, description="A Retry-After longer than this moves on to the next profile instead."
    )
    circuit_failures: int = Field(
        default=3, ge=0, description="Failures in a row after which a profile is skipped for a cool-down; 0: never."
    )
    circuit_cooldown_s: float = Field(
        default=30.0, gt=0, description="How long a failing profile is skipped before one request probes it."
    )
    circuit_max_cooldown_s: float = Field(
        default=300.0, gt=0, description="The cool-down doubles after each failed probe, up to this."
    )

    _split_profiles = field_validator("profiles", mode="before")(split_csv)  # ``vllm,siliconflow`` or a list

    @field_validator("profiles")
    @classmethod
    def _normalise_profiles(cls, value: list[str]) -> list[str]:
        names = [name.strip().lower() for name in value if name.strip()]
        if len(set(names)) != len(names):
            raise ValueError(f"profile listed twice: {names}")
        return names

    @field_validator("overrides", mode="before")
    @classmethod
    def _lower_override_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(key).lower(): item for key, item in value.items()}
        return value

    @model_validator(mode="after")
    def _check_profiles_resolve(self) -> LLMSettings:
        """Fail at startup, not at the first question, when a profile cannot be built."""
        self.resolved_profiles()
        return self

    def resolved_profiles(self) -> list[Profile]:
        """The profiles in fallback order with their overrides applied."""
        resolved: list[Profile] = []
        for name in self.profiles:
            override = self.overrides.get(name, ProfileOverride())
            changes = override.model_dump(exclude_none=True)
            base = BUILTIN_PROFILES.get(name)
            if base is None:
                missing = [key for key in ("base_url", "model") if key not in changes]
                if missing:
                    raise ValueError(
                        f"profile {name!r} is not built in ({', '.join(BUILTIN_PROFILES)}); "
                        f"set {', '.join(f'overrides.{name}.{key}' for key in missing)}"
                    )
                base = Profile(
                    name=name,
                    base_url=changes["base_url"],
                    model=changes["model"],
                    key_required="api_key_env" in changes,  # a custom endpoint that names a key needs it
                )
            resolved.append(base.model_copy(update=changes))
        return resolved
