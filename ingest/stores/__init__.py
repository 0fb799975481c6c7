"""Vector stores behind one Protocol."""

from ingest.stores.base import MetadataFilter, VectorStore

__all__ = ["MetadataFilter", "VectorStore"]
