"""Knowledge-base names: one rule for every backend, so a name valid in one store is valid in all."""

from __future__ import annotations

import re
from typing import Literal

from ingest.errors import InvalidKnowledgeBaseName

_KB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
# A job's working copy of a knowledge base (a full rebuild, a migration). It starts with "_",
# which no knowledge-base name may, so it can never be taken for (or collide with) one, and
# listings leave it out.
_INTERNAL = re.compile(r"^_(rebuild|migrate)-(.+)$")
CopyPurpose = Literal["rebuild", "migrate"]


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


def working_copy_name(kb: str, purpose: CopyPurpose) -> str:
    """The name under which a job builds a copy of ``kb`` before it takes ``kb``'s place."""
    return f"_{purpose}-{validate_kb_name(kb)}"


def is_working_copy(name: str) -> bool:
    """True for the name of a job's working copy, which listings of knowledge bases leave out."""
    return _INTERNAL.match(name) is not None


def validate_store_name(name: str) -> str:
    """A knowledge-base name or a working copy's name (what stores and indexes may hold)."""
    match = _INTERNAL.match(name)
    validate_kb_name(match.group(2) if match else name)
    return name


def collection_name(kb: str) -> str:
    """Backend collection name for a knowledge base (Milvus forbids '-', so it is mapped)."""
    return "kb_" + validate_store_name(kb).replace("-", "__")


def kb_from_collection(name: str) -> str | None:
    """Inverse of ``collection_name``; ``None`` for collections that are not knowledge bases."""
    if not name.startswith("kb_"):
        return None
    return name[3:].replace("__", "-")
