"""Settings of the answering service and CLI (prefix ``RAG_``, ``__`` for nesting).

Extends the ingestion settings so one environment configures both sides alike, e.g.
``RAG_LLM__PROFILES=vllm,siliconflow``, ``RAG_RETRIEVAL__TOP_K=8``, ``RAG_API__PORT=8080``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from ingest.settings import IngestSettings
from rag.llm.settings import LLMSettings
from rag.retrieval.rerank import RerankSettings
from servicekit.settings import split_csv

PROJECT_PROMPTS = Path(__file__).resolve().parent.parent / "prompts"


class RetrievalSettings(BaseModel):
    """``RAG_RETRIEVAL__*``. Hybrid (dense + BM25, fused by RRF) is the default: it beat either
    side alone on SciFact and on RGB zh (see ``rag eval retrieval``)."""

    top_k: int = Field(6, ge=1, le=50)
    max_top_k: int = Field(50, ge=1, le=200)
    candidate_factor: int = Field(3, ge=1, le=10, description="candidates fetched per kept passage, for de-duplication")
    near_duplicate_threshold: float = Field(
        0.85, ge=0.0, le=1.0, description="shingle Jaccard above which a passage is dropped"
    )
    ef_search: int | None = Field(None, ge=1)
    query_batch_window_ms: float = Field(
        0.0,
        ge=0.0,
        le=100.0,
        description="how long a question waits for others to be embedded with it; 0: none, and questions that "
        "arrive while a batch is in the model still go together in the next (a 2 ms wait cost 1.6 ms at one "
        "client and gained nothing at 32)",
    )
    query_batch_max: int = Field(32, ge=1, le=512, description="most questions embedded in one forward pass")
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="questions searched at once on the server's thread pool (the rest wait their turn); "
        "unset: two per core",
    )
    mode: Literal["dense", "lexical", "hybrid"] = "hybrid"
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: int = Field(60, ge=0, le=1000, description="RRF damping constant: score = sum w / (k + rank)")
    dense_weight: float = Field(1.0, ge=0.0, description="weight of the dense ranking in either fusion")
    lexical_weight: float = Field(1.0, ge=0.0, description="weight of the BM25 ranking in either fusion")
    foreign_dense_weight: float | None = Field(
        0.0,
        ge=0.0,
        description="dense weight for Chinese questions when the embedding model is English-only "
        "(e.g. the offline fallback; 0 ranks them by BM25, dense hits only fill in); empty: dense_weight",
    )
    dense_candidates: int = Field(50, ge=1, le=1000, description="chunks taken from the vector store before fusion")
    lexical_candidates: int = Field(50, ge=1, le=1000, description="chunks taken from BM25 before fusion")
    lexical_dir: Path | None = Field(None, description="where the BM25 index lives; default <data_dir>/lexical")
    chinese_tokenizer: Literal["search", "cut", "bigram"] = Field(
        "search", description="jieba search mode, jieba plain cut, or character bigrams"
    )
    lexical_backend: Literal["bm25", "bge-m3-sparse", "store"] = Field(
        "bm25",
        description="BM25 (bm25s), BGE-M3's learned lexical weights (needs FlagEmbedding and the model), or "
        "store: the vector store's own BM25 where it has one (Milvus >= 2.5, Milvus Lite; knowledge bases "
        "created with this setting), BM25 here for every other knowledge base",
    )
    sparse_model: str = Field("BAAI/bge-m3", description="hub name or local path for lexical_backend=bge-m3-sparse")
    rerank: RerankSettings = RerankSettings()


class PromptSettings(BaseModel):
    prompts_dir: Path = PROJECT_PROMPTS
    context_tokens: int = Field(6000, ge=256, description="token budget for all sources in the prompt")
    web_share: float = Field(0.4, ge=0.0, le=1.0, description="part of the budget web sources may take")
    max_answer_tokens: int | None = Field(None, ge=16)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="server processes sharing the port (each loads the model and counts rate limits for itself)",
    )
    max_question_chars: int = Field(4000, ge=1)
    max_history_turns: int = Field(20, ge=0)
    max_history_chars: int = Field(20000, ge=0)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="largest document upload (whole request)")
    warm_up_s: float = Field(
        30.0,
        ge=0,
        description="at start, before the server reports ready, the seconds spent asking each knowledge base "
        "one question (loads the model's first pass, jieba, each BM25 matrix and vector index); 0: none",
    )


class WebSettings(BaseModel):
    """Where the search proxy listens; empty ``proxy_url`` means web search is not configured."""

    proxy_url: str | None = None
    api_key: SecretStr | None = None
    results: int = Field(5, ge=1, le=20)
    fetch_pages: int = Field(3, ge=0, le=10)
    deadline_s: float = Field(8.0, gt=0)
    auto_min_score: float = Field(
        0.45, ge=-1.0, le=1.0, description="web='auto' searches when the best knowledge-base hit scores below this"
    )


KEY_SCOPES = ("ingest", "delete", "admin")
_PLACEHOLDER_PEPPERS = frozenset({"changeme", "change-me", "replace-me", "xxx", "todo"})
KeyScope = Literal["ingest", "delete", "admin"]


class ApiKeyRecord(BaseModel):
    """One API key as configured: a name, the keyed hash of the key (never the key) and its scopes.

    ``kbs`` lists the knowledge bases the key may read (``["*"]`` for all); ``scopes`` adds
    ``ingest``, ``delete`` or ``admin`` (admin implies the others and every knowledge base).
    ``rag keys create`` prints a ready-made record.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    hash: str = Field(..., pattern=r"^hmac-sha256:[0-9a-f]{64}$", description="hmac-sha256:<hex> of the key")
    kbs: list[str] = Field(default_factory=list, description="readable knowledge bases, or ['*']")
    scopes: list[KeyScope] = Field(default_factory=list)
    requests_per_minute: int | None = Field(None, ge=1, description="overrides rate_limit.requests_per_minute")
    concurrent_streams: int | None = Field(None, ge=1, description="overrides rate_limit.concurrent_streams")


class AuthSettings(BaseModel):
    """``RAG_AUTH__*``: bearer API keys, from a file (TOML, JSON or YAML) and/or the environment.

    ``enabled`` unset (the default) means: on when any key is configured; with no key at all,
    only loopback callers are served, without a key (the local quick start). ``false`` turns
    authentication off for every caller (logged as a warning); ``true`` requires keys.
    """

    enabled: bool | None = None
    keys_file: Path | None = Field(None, description="TOML/JSON/YAML file with a `keys` list of key records")
    keys: list[ApiKeyRecord] = Field(default_factory=list, description="key records as JSON (RAG_AUTH__KEYS)")
    pepper: SecretStr | None = Field(None, description="secret mixed into every key hash")

    @field_validator("pepper")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_PEPPERS:
            raise ValueError("placeholder pepper: set a real secret in the environment")
        return value


class RateLimitSettings(BaseModel):
    """``RAG_RATE_LIMIT__*``: per key (per client address when authentication is off)."""

    enabled: bool = True
    requests_per_minute: int = Field(120, ge=1, description="token bucket refilled per minute; burst = the same")
    concurrent_streams: int = Field(4, ge=1, description="answers (streamed or not) in flight at once")
    typical_answer_s: float = Field(
        20.0, gt=0, description="assumed answer duration for Retry-After until answers have been timed"
    )
    max_tracked_callers: int = Field(10000, ge=100, description="buckets kept in memory (least recent dropped)")


class CorsSettings(BaseModel):
    """``RAG_CORS__*``: closed (no cross-origin browser access) unless origins are listed."""

    allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_credentials: bool = False
    max_age_s: int = Field(600, ge=0)

    _csv = field_validator("allow_origins", mode="before")(split_csv)


class MetricsSettings(BaseModel):
    """``RAG_METRICS__*``: Prometheus exposition at ``/metrics``."""

    enabled: bool = True
    require_admin: bool = Field(False, description="serve /metrics only to keys with the admin scope")


class LogSettings(BaseModel):
    """``RAG_LOG__*``: JSON lines with the request id; no secrets or document text at INFO."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    json_lines: bool = True


class RagSettings(IngestSettings):
    """Everything the answering side needs; ingestion settings included."""

    llm: LLMSettings = LLMSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    prompt: PromptSettings = PromptSettings()
    api: ApiSettings = ApiSettings()
    web: WebSettings = WebSettings()
    auth: AuthSettings = AuthSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    cors: CorsSettings = CorsSettings()
    metrics: MetricsSettings = MetricsSettings()
    log: LogSettings = LogSettings()


@lru_cache(maxsize=1)
def get_settings() -> RagSettings:
    return RagSettings()
