"""Lexical (BM25) retrieval kept beside the vector store, for hybrid search.

``LexicalIndex`` is a ``ChunkSink``: register it with ``Indexer`` and it follows every
document written, replaced or deleted. ``Tokenizer`` handles Chinese, English and mixed text.
"""

from ingest.lexical.index import BM25Params, LexicalIndex
from ingest.lexical.tokenize import Tokenizer, TokenizerConfig

__all__ = ["BM25Params", "LexicalIndex", "Tokenizer", "TokenizerConfig"]
