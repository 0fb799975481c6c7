"""Which scripts an embedding model was trained on, so retrieval can weigh its vectors honestly.

An English-only model (the offline fallback ``all-MiniLM-L6-v2`` among them) still returns a
vector for Chinese text, but one that reflects little more than shared characters; hybrid
retrieval then leans on the lexical side for such queries (``rag.retrieval.hybrid``).
"""

from __future__ import annotations

import re

# Models known to be trained on English only. Names are matched on their last path part, so a
# local copy or an alias (``/models/all-MiniLM-L6-v2``) counts as the hub model of the same name.
ENGLISH_ONLY_MODELS = frozenset(
    name.lower()
    for name in (
        "all-MiniLM-L6-v2",
        "all-MiniLM-L12-v2",
        "all-mpnet-base-v2",
        "all-distilroberta-v1",
        "multi-qa-MiniLM-L6-cos-v1",
        "multi-qa-mpnet-base-dot-v1",
        "msmarco-MiniLM-L6-cos-v5",
        "gte-small",
        "gte-base",
        "gte-large",
        "nomic-embed-text-v1",
        "nomic-embed-text-v1.5",
        "e5-small-v2",
        "e5-base-v2",
        "e5-large-v2",
    )
)
_ENGLISH_SUFFIX = re.compile(r"(^|[-_])en([-_.]|$)")  # bge-small-en-v1.5, gte-base-en-v1.5
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")


def reads_chinese(model_id: str) -> bool:
    """False for a model known to be English-only; True otherwise (BGE-M3, e5 multilingual, …)."""
    name = re.split(r"[/:]", model_id.rstrip("/"))[-1].lower()
    return name not in ENGLISH_ONLY_MODELS and not _ENGLISH_SUFFIX.search(name)


def han_share(text: str) -> float:
    """Share of the letters in ``text`` that are Chinese characters (0.0 with no letters)."""
    letters = _LETTER.findall(text)
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _HAN.match(ch)) / len(letters)


def is_chinese_text(text: str, threshold: float = 0.3) -> bool:
    """Mostly Chinese by letters: ``NW-50的保修期`` counts, an English question with one name does not."""
    return han_share(text) >= threshold
