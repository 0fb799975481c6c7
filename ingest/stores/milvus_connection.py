"""The connection half of ``MilvusStore``: one client per store, vendor errors translated.

Kept apart from the store's operations because it is what makes a server outage survivable:
a broken gRPC channel is dropped and reopened on the next call (pymilvus's own recovery can stay
wedged after the server is back), reconnect back-off is bounded, a collection released behind the
store's back is loaded again once, and every vendor exception leaves as ``KnowledgeBaseNotFound``
or ``VectorIndexError``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ingest.errors import EmbeddingModelMismatch, KnowledgeBaseNotFound, VectorIndexError
from ingest.stores.milvus_timeouts import TimedClient
from ingest.stores.naming import collection_name
from ingest.stores.vendor_logging import adopt

log = logging.getLogger(__name__)
# gRPC backs off reconnecting to a server that went away for up to 120 s, so an API would keep
# failing for minutes after its Milvus server came back; bound the wait between attempts.
RECONNECT_BACKOFF = {
    "grpc.initial_reconnect_backoff_ms": 500,
    "grpc.min_reconnect_backoff_ms": 500,
    "grpc.max_reconnect_backoff_ms": 5000,
}
_T = TypeVar("_T")


class SecretLike(Protocol):
    def get_secret_value(self) -> str: ...


class MilvusConnection:
    """A lazily opened ``MilvusClient`` for a Milvus Lite file or a Milvus server, and ``_call``,
    through which every operation runs."""

    def __init__(
        self, uri: str | Path, *, token: str | SecretLike | None = None, db_name: str = "", timeout: float = 30.0
    ) -> None:
        text = str(uri)
        self._remote = text.startswith(("http://", "https://", "tcp://", "unix:"))
        if not self._remote and not text.endswith(".db"):
            raise ValueError(f"a Milvus Lite path must end in '.db' (got {text!r}); servers need http(s)://host:port")
        self._uri = text if self._remote else str(Path(text).expanduser().absolute())
        self._token = token
        self._db_name = db_name
        self._timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()
        self._loaded: set[str] = set()

    def describe(self) -> str:
        return f"milvus server at {self._uri}" if self._remote else f"milvus lite at {self._uri}"

    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                from pymilvus import MilvusClient

                adopt("pymilvus")  # its own stderr handlers, and a reconnect warning every few ms while down
                secret = self._token
                token = secret if secret is None or isinstance(secret, str) else secret.get_secret_value()
                try:
                    if not self._remote:
                        Path(self._uri).parent.mkdir(parents=True, exist_ok=True)
                    # A connection of this store's own (pymilvus shares one per address): when it
                    # breaks it can be dropped and opened afresh without touching anyone else's.
                    options = {"grpc_options": RECONNECT_BACKOFF, "dedicated": True} if self._remote else {}
                    client = MilvusClient(
                        uri=self._uri, token=str(token or ""), db_name=self._db_name, timeout=self._timeout, **options
                    )
                    # a server can hang; Milvus Lite is in-process and its long searches are legitimate
                    self._client = TimedClient(client, self._timeout) if self._remote else client
                except Exception as exc:
                    raise VectorIndexError(f"cannot open {self.describe()}: {exc}") from exc
            return self._client

    def _drop_client(self, client: Any) -> None:
        """Forget a client whose connection broke (the server died or hung): pymilvus's own
        recovery can stay wedged after the server is back, so the next call opens a fresh one."""
        with self._lock:
            if self._client is not client:
                return  # another thread already replaced it
            self._client = None
            self._loaded.clear()  # a restarted server has released every collection
        try:
            getattr(client, "raw", client).close()
        except Exception as exc:  # closing a broken channel may fail as well
            log.debug("closing a broken Milvus client failed: %s", exc)

    def close(self) -> None:
        """Release the connection; the store reconnects on next use."""
        with self._lock:
            if self._client is not None:
                getattr(self._client, "raw", self._client).close()
                self._client = None

    def ping(self) -> None:
        """Raise ``VectorIndexError`` unless the store answers."""
        self.server_version()

    def server_version(self) -> str:
        return str(self._call(None, lambda c: c.get_server_version()))

    def _call(self, kb: str | None, fn: Callable[[Any], _T], what: str = "") -> _T:
        """Run ``fn(client)`` with the knowledge base's collection loaded; translate vendor errors."""
        client = self._connect()
        for attempt in (0, 1):
            try:
                if kb is not None and kb not in self._loaded:
                    self._load(client, kb)
                return fn(client)
            except (KnowledgeBaseNotFound, EmbeddingModelMismatch):
                raise
            except Exception as exc:
                if kb is not None and _is_not_found(exc):
                    raise KnowledgeBaseNotFound(kb) from exc
                if kb is not None and attempt == 0 and _is_not_loaded(exc):
                    self._loaded.discard(kb)  # released behind our back: load and retry once
                    continue
                if self._remote and _lost_connection(exc):
                    self._drop_client(client)
                raise VectorIndexError(f"{what or 'milvus call'} failed on {self.describe()}: {exc}") from exc
        raise AssertionError("unreachable")

    def _exists(self, kb: str) -> bool:
        # asked first because pymilvus logs every failed describe/query as an error
        return bool(self._call(None, lambda c: c.has_collection(collection_name(kb)), "has_collection"))

    def _load(self, client: Any, kb: str) -> None:
        """Load once per store: collections are released after Milvus Lite reopens its file and
        may be released by an operator on a server; searching those fails instead of loading."""
        name = collection_name(kb)
        state = getattr(client.get_load_state(name).get("state"), "name", "")
        if state == "NotExist":
            raise KnowledgeBaseNotFound(kb)
        if state != "Loaded":
            client.load_collection(name)
        self._loaded.add(kb)


_CONNECTION_LOST = re.compile(
    r"fail connecting|server unavailable|unavailable|deadline.?exceeded|connection (?:refused|reset)", re.IGNORECASE
)


def _lost_connection(exc: BaseException) -> bool:
    """A failure of the connection rather than of the request (pymilvus and gRPC spell it several ways)."""
    return bool(_CONNECTION_LOST.search(f"{type(exc).__name__}: {exc}"))


def _is_not_loaded(exc: Exception) -> bool:
    """Collections are released after Milvus Lite reopens a file, or by an operator on a server."""
    text = str(exc).lower()
    return getattr(exc, "code", None) == 101 or "not loaded" in text or "released" in text


def _is_not_found(exc: Exception) -> bool:
    if getattr(exc, "code", None) == 100:
        return True
    text = str(exc).lower()
    return "collection not found" in text or "can't find collection" in text or "does not exist" in text
