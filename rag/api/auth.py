"""Bearer API keys: hashing, the key store, and who a request is (``Principal``).

Keys are 256-bit random strings (``askd_`` + 43 url-safe characters), so a fast keyed hash is
enough: they are stored as ``hmac-sha256:<hex>`` = HMAC-SHA256(pepper, key), where the pepper is
an optional secret from the environment (``RAG_AUTH__PEPPER``). A leaked key file then reveals
neither the keys nor, without the pepper, a way to test guesses against it. A slow password
hash (scrypt, argon2) buys nothing for keys this long and would cost milliseconds per request.

Modes (``RAG_AUTH__ENABLED``):

* unset: keys are required when any are configured; with none configured, only loopback
  callers are served and without a key (the local quick start), everyone else gets 401;
* ``false``: no authentication at all (logged as a warning at start-up);
* ``true``: keys are required, and start-up fails when none are configured.

A knowledge base a key may not read is reported exactly like one that does not exist (404),
so a key cannot probe for the names of other teams' knowledge bases.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import threading
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter, ValidationError
from starlette.requests import HTTPConnection

from rag.errors import AuthConfigError, Forbidden, Unauthorized, UnknownKnowledgeBase
from rag.settings import KEY_SCOPES, ApiKeyRecord, AuthSettings

log = logging.getLogger(__name__)

KEY_PREFIX = "askd_"
HASH_SCHEME = "hmac-sha256"
Mode = Literal["keys", "off", "loopback"]
_RECORDS = TypeAdapter(list[ApiKeyRecord])


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str, pepper: str | None = None) -> str:
    digest = hmac.new((pepper or "").encode("utf-8"), key.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{HASH_SCHEME}:{digest}"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a named key with its knowledge bases and scopes, or the anonymous local user."""

    name: str
    kbs: frozenset[str] | None  # None: every knowledge base
    scopes: frozenset[str]
    rate_key: str
    requests_per_minute: int | None = None
    concurrent_streams: int | None = None
    authenticated: bool = True

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def can_read(self, kb: str) -> bool:
        return self.kbs is None or self.is_admin or "*" in self.kbs or kb in self.kbs

    def check_read(self, kb: str) -> None:
        """Raise exactly what an unknown knowledge base raises, so existence does not leak."""
        if not self.can_read(kb):
            raise UnknownKnowledgeBase(kb)

    def visible(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.can_read(name)]

    def has_scope(self, scope: str) -> bool:
        return self.is_admin or scope in self.scopes

    def require_scope(self, scope: str) -> None:
        if not self.has_scope(scope):
            raise Forbidden(f"this API key ({self.name}) lacks the {scope!r} scope")

    @classmethod
    def from_record(cls, record: ApiKeyRecord) -> Principal:
        return cls(
            name=record.name,
            kbs=frozenset(record.kbs),
            scopes=frozenset(record.scopes),
            rate_key=f"key:{record.name}",
            requests_per_minute=record.requests_per_minute,
            concurrent_streams=record.concurrent_streams,
        )

    @classmethod
    def anonymous(cls, client: str) -> Principal:
        """The caller when authentication is off: the owner of a local install, so everything."""
        return cls("anonymous", None, frozenset(KEY_SCOPES), f"client:{client}", authenticated=False)


def load_key_file(path: Path) -> list[ApiKeyRecord]:
    """Key records from TOML (``[[keys]]``), JSON or YAML (``keys:`` list, or a bare list)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuthConfigError(f"cannot read the API key file {path}: {exc.strerror or exc}") from exc
    try:
        data: Any
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            import yaml  # PyYAML ships with the transformers stack

            data = yaml.safe_load(text)
        else:
            data = json.loads(text) if text.strip() else []
        if isinstance(data, dict):
            data = data.get("keys", [])
        return _RECORDS.validate_python(data or [])
    except (ValueError, ValidationError, tomllib.TOMLDecodeError) as exc:
        raise AuthConfigError(f"API key file {path} is not valid: {exc}") from exc


class KeyStore:
    """Key records from the environment and the key file, looked up by hash.

    The file is re-read when it changes (checked at most once a second), so keys can be added
    or revoked without a restart; a broken edit keeps the previous keys and logs an error.
    """

    def __init__(self, settings: AuthSettings, *, clock: Any = time.monotonic) -> None:
        self._env = list(settings.keys)
        self._file = settings.keys_file
        self._pepper = settings.pepper.get_secret_value() if settings.pepper else None
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = 0.0
        self._mtime: float | None = None
        self._by_hash: dict[str, ApiKeyRecord] = {}
        self._index(self._env + (load_key_file(self._file) if self._file else []))
        if self._file:
            self._mtime = self._file.stat().st_mtime

    @property
    def configured(self) -> bool:
        return bool(self._env) or self._file is not None

    def records(self) -> list[ApiKeyRecord]:
        self._maybe_reload()
        return list(self._by_hash.values())

    def lookup(self, key: str) -> ApiKeyRecord | None:
        self._maybe_reload()
        return self._by_hash.get(hash_key(key, self._pepper))

    def _index(self, records: list[ApiKeyRecord]) -> None:
        by_hash: dict[str, ApiKeyRecord] = {}
        names: set[str] = set()
        for record in records:
            if record.name in names:
                raise AuthConfigError(f"API key name {record.name!r} is configured twice")
            if record.hash in by_hash:
                raise AuthConfigError(f"API keys {by_hash[record.hash].name!r} and {record.name!r} have the same hash")
            names.add(record.name)
            by_hash[record.hash] = record
        self._by_hash = by_hash

    def _maybe_reload(self) -> None:
        if self._file is None:
            return
        now = self._clock()
        with self._lock:
            if now - self._checked < 1.0:
                return
            self._checked = now
            try:
                mtime = self._file.stat().st_mtime
                if mtime == self._mtime:
                    return
                self._index(self._env + load_key_file(self._file))
                self._mtime = mtime
                log.info("API keys reloaded", extra={"keys": len(self._by_hash)})
            except (OSError, AuthConfigError) as exc:
                log.error("API key file %s could not be reloaded, keeping the previous keys: %s", self._file, exc)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


class Authenticator:
    """Turns a request into a ``Principal`` or raises ``Unauthorized``; built once per app."""

    def __init__(self, settings: AuthSettings) -> None:
        self.keys = KeyStore(settings)
        if settings.enabled is False:
            self.mode: Mode = "off"
        elif self.keys.configured:
            self.mode = "keys"
        elif settings.enabled:
            raise AuthConfigError(
                "RAG_AUTH__ENABLED=true but no API key is configured: set RAG_AUTH__KEYS_FILE or RAG_AUTH__KEYS "
                "(create one with `rag keys create`)"
            )
        else:
            self.mode = "loopback"

    def announce(self) -> None:
        """Say loudly at start-up when requests are not authenticated."""
        if self.mode == "off":
            log.warning("AUTHENTICATION DISABLED (RAG_AUTH__ENABLED=false): every caller can read every knowledge base")
        elif self.mode == "loopback":
            log.warning(
                "no API keys configured: serving loopback callers only, without authentication; configure keys "
                "(RAG_AUTH__KEYS_FILE, `rag keys create`) to serve other hosts"
            )
        else:
            log.info("API key authentication on", extra={"keys": len(self.keys.records())})

    def authenticate(self, conn: HTTPConnection) -> Principal:
        client = conn.client.host if conn.client else ""
        if self.mode == "off":
            return Principal.anonymous(client)
        if self.mode == "loopback":
            if is_loopback(client):
                return Principal.anonymous(client)
            raise Unauthorized(
                "no API keys are configured on this server, so it answers local (loopback) callers only",
                code="authentication_not_configured",
            )
        scheme, _, token = conn.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
        record = self.keys.lookup(token)
        if record is None:
            raise Unauthorized("invalid API key")
        return Principal.from_record(record)
