"""Settings of the search proxy, read from ``SEARCH_PROXY_*`` environment variables.

Nested groups use ``__``: ``SEARCH_PROXY_PROVIDERS__BRAVE__API_KEY``, ``SEARCH_PROXY_FETCH__MAX_PAGES``.
An optional TOML file (path in ``SEARCH_PROXY_CONFIG_FILE``) may hold everything except secrets:
keys are accepted from the environment only, so they never end up in a file that gets committed.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from servicekit.settings import split_csv

PROVIDER_NAMES = ("searxng", "bocha", "brave", "tavily")
SECRET_FIELDS = frozenset({"api_key"})
_PLACEHOLDERS = frozenset(
    {"changeme", "change-me", "change_me", "changethis", "replace-me", "your-api-key", "your_api_key", "xxx", "todo"}
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _reject_placeholder(value: SecretStr | None) -> SecretStr | None:
    if value is not None:
        raw = value.get_secret_value().strip()
        if raw.lower() in _PLACEHOLDERS or (raw.startswith("<") and raw.endswith(">")):
            raise ValueError("placeholder secret: set the real value in the environment")
    return value


def _check_base_url(url: str, *, allow_http: bool) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"base_url must be an absolute https URL, got {url!r}")
    if parts.scheme == "http" and not allow_http:
        raise ValueError(f"base_url must use https (got {url!r})")
    if parts.username or parts.password:
        raise ValueError("base_url must not carry credentials")
    return url.rstrip("/")


class ServerSettings(BaseModel):
    """Where the service listens, what callers must present, and how long one request may take."""

    host: str = "127.0.0.1"
    port: int = Field(default=8300, ge=1, le=65535)
    # Callers send it in X-Search-Proxy-Key; None disables the check (loopback-only deployments).
    api_key: SecretStr | None = None
    # Whole-request budget (providers, retries and page fetching) when the caller sends no deadline_s.
    default_deadline_s: float = Field(default=15.0, gt=0, le=120)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = True

    _no_placeholder = field_validator("api_key")(_reject_placeholder)


class HttpSettings(BaseModel):
    """Outbound HTTP to providers: timeouts, TLS trust and retry policy."""

    connect_timeout_s: float = Field(default=3.0, gt=0)
    read_timeout_s: float = Field(default=8.0, gt=0)
    # Extra CA certificates (PEM); verification itself can never be turned off.
    ca_bundle: Path | None = None
    retries: int = Field(default=2, ge=0, le=5)
    backoff_base_s: float = Field(default=0.25, ge=0)
    backoff_max_s: float = Field(default=2.0, ge=0)
    # A Retry-After longer than this is not waited for: the next provider is tried instead.
    retry_after_cap_s: float = Field(default=5.0, ge=0)
    # Wall-clock budget for one provider including retries, so one provider cannot eat the request.
    provider_budget_s: float = Field(default=12.0, gt=0)
    user_agent: str = "askdocs-search-proxy/0.1"

    @field_validator("ca_bundle")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"ca_bundle {value} is not a file")
        return value


class ProviderSettings(BaseModel):
    """Fields every provider has: endpoint and the upstream rate limit we keep to."""

    base_url: str | None = None
    rate_per_s: float = Field(default=5.0, gt=0)
    burst: int = Field(default=5, ge=1)
    # Longest wait for a local rate-limit token before falling through to the next provider.
    max_wait_s: float = Field(default=2.0, ge=0)


class SearxngSettings(ProviderSettings):
    base_url: str | None = None
    # Plain http is accepted only when asked for: SearXNG has no key to leak and is usually a sidecar.
    allow_http: bool = False
    categories: str = "general"
    engines: str | None = None
    safesearch: Literal[0, 1, 2] = 1

    @model_validator(mode="after")
    def _url(self) -> SearxngSettings:
        if self.base_url is not None:
            self.base_url = _check_base_url(self.base_url, allow_http=self.allow_http)
        return self


class KeyedProviderSettings(ProviderSettings):
    api_key: SecretStr | None = None

    _no_placeholder = field_validator("api_key")(_reject_placeholder)

    @model_validator(mode="after")
    def _url(self) -> KeyedProviderSettings:
        if self.base_url is not None:
            self.base_url = _check_base_url(self.base_url, allow_http=False)
        return self


class BochaSettings(KeyedProviderSettings):
    base_url: str | None = "https://api.bochaai.com"


class BraveSettings(KeyedProviderSettings):
    base_url: str | None = "https://api.search.brave.com"
    # The entry plan allows 1 request/s; raise it to match the subscription.
    rate_per_s: float = Field(default=1.0, gt=0)
    burst: int = Field(default=1, ge=1)
    country: str | None = None
    safesearch: Literal["off", "moderate", "strict"] = "moderate"


class TavilySettings(KeyedProviderSettings):
    base_url: str | None = "https://api.tavily.com"
    search_depth: Literal["basic", "advanced", "fast", "ultra-fast"] = "basic"
    topic: Literal["general", "news", "finance"] = "general"


class ProvidersSettings(BaseModel):
    """The fallback chain: providers are tried in ``order``, skipping those not configured."""

    order: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(PROVIDER_NAMES))
    searxng: SearxngSettings = SearxngSettings()
    bocha: BochaSettings = BochaSettings()
    brave: BraveSettings = BraveSettings()
    tavily: TavilySettings = TavilySettings()

    @field_validator("order", mode="before")
    @classmethod
    def _order_csv(cls, value: Any) -> Any:
        return split_csv(value)

    @field_validator("order")
    @classmethod
    def _order_known(cls, value: list[str]) -> list[str]:
        names = [name.strip().lower() for name in value]
        unknown = sorted(set(names) - set(PROVIDER_NAMES))
        if unknown:
            raise ValueError(f"unknown providers {unknown}; known: {list(PROVIDER_NAMES)}")
        if len(set(names)) != len(names):
            raise ValueError("providers.order lists a provider twice")
        return names


class CacheSettings(BaseModel):
    enabled: bool = True
    ttl_s: float = Field(default=300.0, ge=0)
    max_entries: int = Field(default=1024, ge=1)


class FetchSettings(BaseModel):
    """Fetching result pages: how many, how fast, how big, and which addresses are off limits."""

    default_pages: int = Field(default=3, ge=1, le=20)  # what fetch=true means
    max_pages: int = Field(default=10, ge=1, le=20)
    concurrency: int = Field(default=10, ge=1, le=32)
    page_timeout_s: float = Field(default=5.0, gt=0)
    deadline_s: float = Field(default=8.0, gt=0)
    max_bytes: int = Field(default=2_000_000, ge=1024)
    max_chars: int = Field(default=8000, ge=100)
    max_redirects: int = Field(default=5, ge=0, le=20)
    # Networks exempt from the SSRF guard. Empty in production; tests add 127.0.0.1/32.
    allow_networks: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    extract_pdf: bool = True
    user_agent: str = "Mozilla/5.0 (compatible; askdocs-search-proxy/0.1)"

    @field_validator("allow_networks", mode="before")
    @classmethod
    def _networks_csv(cls, value: Any) -> Any:
        return split_csv(value)


class Settings(BaseSettings):
    """Everything the search proxy reads at start-up; one instance per process."""

    model_config = SettingsConfigDict(
        env_prefix="SEARCH_PROXY_",
        env_nested_delimiter="__",
        env_ignore_empty=True,
        extra="ignore",
    )

    server: ServerSettings = ServerSettings()
    http: HttpSettings = HttpSettings()
    providers: ProvidersSettings = ProvidersSettings()
    cache: CacheSettings = CacheSettings()
    fetch: FetchSettings = FetchSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - .env files are not read
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SEARCH_PROXY_CONFIG_FILE")
        if config_file:
            sources.append(_SecretFreeToml(settings_cls, Path(config_file)))
        return tuple(sources)

    def configured_providers(self) -> list[str]:
        """Names in chain order whose endpoint (and key, where one is needed) is set."""
        out: list[str] = []
        for name in self.providers.order:
            group = getattr(self.providers, name)
            if group.base_url is None:
                continue
            if isinstance(group, KeyedProviderSettings) and group.api_key is None:
                continue
            out.append(name)
        return out

    def secret_values(self) -> list[str]:
        """Every configured secret, so the log filter can scrub them if one ever leaks into a message."""
        keys = [self.server.api_key]
        keys += [getattr(self.providers, name).api_key for name in ("bocha", "brave", "tavily")]
        return [key.get_secret_value() for key in keys if key is not None and key.get_secret_value()]


class _SecretFreeToml(TomlConfigSettingsSource):
    """A TOML source that refuses secrets, so keys are provided by the environment only."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"SEARCH_PROXY_CONFIG_FILE={path} does not exist")
        super().__init__(settings_cls, toml_file=path)
        found = _find_secret_keys(self.toml_data)
        if found:
            raise ValueError(f"secrets are read from the environment only; remove {found} from {path}")


def _find_secret_keys(data: Any, prefix: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{prefix}{key}"
            if key in SECRET_FIELDS:
                found.append(dotted)
            found += _find_secret_keys(value, dotted + ".")
    return found


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` or pass their own."""
    return Settings()
