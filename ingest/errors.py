"""Errors raised by the ingestion package.

    IngestError
    ├── ParseError               a file could not be read or parsed (corrupt, unsupported, undecodable)
    │   └── UnsupportedFormat    no loader for the file's type
    ├── InvalidKnowledgeBaseName a knowledge-base name the stores cannot hold
    ├── EmbeddingError           the embedding model could not be loaded or called
    ├── VectorIndexError         the vector store refused an operation or is unreachable
    │   └── KnowledgeBaseNotFound
    ├── EmbeddingModelMismatch   a knowledge base is used with another model than it was built with
    ├── JobLocked                another job holds the knowledge base's lock
    ├── RootUnavailable          a folder or file the job was given cannot be read; nothing changed
    ├── MassDeleteRefused        the job would delete too much of the knowledge base; nothing deleted
    ├── KnowledgeBaseExists      a migration target already holds the knowledge base
    └── MigrationError           a migration copy failed or did not verify; the target is unchanged

Vendor exceptions are translated at the boundary (``raise ... from exc``) so callers
only ever catch these.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error the ingestion package raises."""


class ParseError(IngestError):
    """A file could not be turned into text; ``reason`` is meant for the person who owns the file."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class UnsupportedFormat(ParseError):
    """No loader handles this file's extension."""


class InvalidKnowledgeBaseName(IngestError, ValueError):
    """The name breaks the naming rule (a caller's mistake, not a store failure)."""


class EmbeddingError(IngestError):
    """The embedding model could not be loaded or failed to embed."""


class VectorIndexError(IngestError):
    """The vector store failed or is unreachable."""


class KnowledgeBaseNotFound(VectorIndexError):
    """The named knowledge base does not exist in the store."""

    def __init__(self, kb: str) -> None:
        super().__init__(f"knowledge base {kb!r} does not exist")
        self.kb = kb


class EmbeddingModelMismatch(IngestError):
    """A knowledge base was built with one embedding model and is used with another."""

    def __init__(self, kb: str, built_with: str, built_dim: int, used: str, used_dim: int) -> None:
        super().__init__(
            f"knowledge base {kb!r} was built with embedding model {built_with!r} ({built_dim}-d) "
            f"but {used!r} ({used_dim}-d) is configured; re-index it with --full or configure {built_with!r}"
        )
        self.kb = kb
        self.built_with = built_with
        self.used = used


class JobLocked(IngestError):
    """Another job holds this knowledge base; the message names it."""


class KnowledgeBaseExists(IngestError):
    """The target already holds the knowledge base and replacing it was not asked for."""

    def __init__(self, kb: str, where: str) -> None:
        super().__init__(f"knowledge base {kb!r} already exists in {where}; pass --replace to overwrite it")
        self.kb = kb


class MigrationError(IngestError):
    """The copy could not be made or did not verify; the target was left as it was."""


class RootUnavailable(IngestError):
    """A folder or file the job was given does not exist or cannot be read; nothing was changed."""


class MassDeleteRefused(IngestError):
    """The job would delete too much of the knowledge base; nothing was deleted."""


class EngineUnavailable(IngestError):
    """The engine a job asked for cannot run (Ray missing, a cluster out of reach, a store it
    cannot write); nothing was changed."""
