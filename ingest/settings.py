"""Settings shared by everything that reads or writes knowledge bases (CLI, API, batch jobs).

Environment variables use the prefix ``RAG_`` and ``__`` for nesting, e.g.
``RAG_EMBEDDING__MODEL=BAAI/bge-m3`` or ``RAG_STORE__BACKEND=milvus``. An optional TOML file
(``RAG_CONFIG_FILE``, default ``askdocs.toml`` in the working directory) is read below the
environment. Secrets (API keys) come from the environment only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ingest.embedders.base import EncoderBackend
from ingest.limits import MB, FileLimits

BUNDLED_MODEL = "bundled:all-minilm-l6-v2"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "askdocs"


class EmbeddingSettings(BaseModel):
    """Which model embeds passages and queries."""

    provider: Literal["sentence-transformers", "openai"] = "sentence-transformers"
    model: str = Field("BAAI/bge-m3", description="hub name, local path, or 'bundled:all-minilm-l6-v2'")
    fallback: str | None = Field(
        BUNDLED_MODEL, description="model used when `model` cannot be loaded; empty to fail instead"
    )
    device: str | None = None
    batch_size: int = Field(32, ge=1, le=4096)
    batch_tokens: int | None = Field(
        None,
        ge=0,
        description="most padded tokens (inputs x longest) in one local batch; unset: 2048 on a CPU, "
        "no bound on a GPU; 0: no bound",
    )
    allow_download: bool = Field(True, description="fetch `model` from the hub when it is not cached")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. https://api.siliconflow.cn/v1")
    api_key: SecretStr | None = None
    dimension: int | None = Field(None, ge=1)
    max_input_tokens: int = Field(512, ge=16)
    backend: EncoderBackend = Field(
        "auto",
        description="what runs a local model: torch, or its ONNX int8 copy (exported once per weights under "
        "`onnx_cache`); auto: ONNX int8 on a CPU, torch on a GPU",
    )
    onnx_cache: Path | None = Field(None, description="where ONNX exports are kept (default: <data_dir>/onnx)")
    threads: int | None = Field(
        None,
        ge=1,
        description="intra-op threads of a local model on a CPU; unset: 1 in `rag serve` (concurrent "
        "questions are batched, and parallel passes on shared cores oversubscribe them), the library's "
        "default for ingest",
    )


class HnswSettings(BaseModel):
    m: int = Field(16, ge=4, le=128)
    ef_construction: int = Field(200, ge=8)
    ef_search: int = Field(100, ge=1)


class StoreSettings(BaseModel):
    """Where vectors live: embedded Chroma by default."""

    backend: Literal["chroma", "milvus"] = "chroma"
    uri: str | None = Field(
        None, description="Chroma server URL, Milvus URI or Milvus Lite file (default: under data_dir)"
    )
    token: SecretStr | None = None
    timeout_s: float = Field(
        10.0, gt=0, description="longest wait for one answer from a store server (Chroma server, Milvus)"
    )
    hnsw: HnswSettings = HnswSettings()


class ChunkingSettings(BaseModel):
    chunk_tokens: int = Field(400, ge=32, le=8192)
    overlap_tokens: int = Field(60, ge=0, le=2048)
    heading_prefix: bool = True


class IngestJobSettings(BaseModel):
    """``RAG_INGEST__*``: limits that keep one file, or one job, from harming a knowledge base."""

    max_delete_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="a re-index job that would delete more than this share of a knowledge base's files refuses "
        "(unless --allow-mass-delete); 1 turns the check off",
    )
    max_file_mb: float = Field(100.0, gt=0, description="files larger than this are skipped with a reason")
    max_unpacked_mb: float = Field(
        256.0,
        gt=0,
        description="DOCX/PPTX/XLSX parts or compressed PDF streams that expand past this are skipped "
        "(decompression bombs)",
    )
    max_chunks_per_file: int = Field(5000, ge=1, description="a file that would make more chunks is skipped")

    def file_limits(self) -> FileLimits:
        return FileLimits(
            max_file_bytes=int(self.max_file_mb * MB),
            max_unpacked_bytes=int(self.max_unpacked_mb * MB),
            max_chunks=self.max_chunks_per_file,
        )


class RaySettings(BaseModel):
    """``rag reindex --engine ray``: where the cluster is and how the job uses it (``ingest.ray_engine``)."""

    address: str | None = Field(
        None, description="cluster to join ('auto', 'ray://host:10001', 'host:6379'); unset: a local instance"
    )
    local_cpus: int | None = Field(None, ge=1, description="CPUs of a local instance (default: this machine's)")
    embed_actors: int | None = Field(
        None, ge=1, description="embedding actors (default: one per GPU, or one per node on a CPU cluster)"
    )
    actor_threads: int | None = Field(
        None, ge=1, description="encoder threads of a CPU actor (default: its node's CPUs)"
    )
    gpu_batch_size: int = Field(128, ge=1, le=4096, description="texts per encoder batch in a GPU actor")
    max_retries: int = Field(
        3, ge=0, le=20, description="times a parse task or an actor call lost with its worker is run again"
    )
    tasks_in_flight: int | None = Field(
        None, ge=1, description="parse tasks (up to 32 files each) queued at most (default: twice the cluster's CPUs)"
    )


class IngestSettings(BaseSettings):
    """Settings for reading and writing knowledge bases."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        toml_file=os.environ.get("RAG_CONFIG_FILE", "askdocs.toml"),
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    embedding: EmbeddingSettings = EmbeddingSettings()
    store: StoreSettings = StoreSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    ingest: IngestJobSettings = IngestJobSettings()
    ray: RaySettings = RaySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - secrets come from the environment
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, TomlConfigSettingsSource(settings_cls))

    @model_validator(mode="after")
    def _onnx_cache_under_data_dir(self) -> IngestSettings:
        """The ONNX cache defaults to ``<data_dir>/onnx``: filled here, so every reader of
        ``embedding`` (the API, the CLI, a benchmark) finds the same folder."""
        if self.embedding.onnx_cache is None:
            self.embedding = self.embedding.model_copy(update={"onnx_cache": self.data_dir / "onnx"})
        return self

    def store_uri(self) -> str:
        if self.store.uri:
            return self.store.uri
        if self.store.backend == "milvus":
            return str(self.data_dir / "milvus.db")
        return str(self.data_dir / "chroma")
