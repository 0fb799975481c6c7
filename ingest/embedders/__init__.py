"""Embedding models behind one Protocol."""

from ingest.embedders.base import Embedder

__all__ = ["Embedder"]
