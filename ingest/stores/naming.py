"""Knowledge-base names: one rule for every backend, so a name valid in one store is valid in all."""

from __future__ import annotations

import re

from ingest.errors import InvalidKnowledgeBaseName

_KB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def validate_kb_name(kb: str) -> str:
    """Return ``kb`` if it is a valid knowledge-base name, else raise ``InvalidKnowledgeBaseName``.

    Letters, digits, ``_`` and ``-``, 1–63 characters, starting with a letter or digit, no ``__``
    (reserved for the ``-`` mapping): what Chroma and Milvus collection names both accept.
    """
    if not _KB_NAME.match(kb) or "__" in kb:
        raise InvalidKnowledgeBaseName(
            f"invalid knowledge base name {kb!r}: use 1-63 letters, digits, '_' or '-' (no '__'), "
            "starting with a letter or digit"
        )
    return kb


def collection_name(kb: str) -> str:
    """Backend collection name for a knowledge base (Milvus forbids '-', so it is mapped)."""
    return "kb_" + validate_kb_name(kb).replace("-", "__")


def kb_from_collection(name: str) -> str | None:
    """Inverse of ``collection_name``; ``None`` for collections that are not knowledge bases."""
    if not name.startswith("kb_"):
        return None
    return name[3:].replace("__", "-")
