"""Keeps unstructured's English NLP offline.

unstructured 0.27 downloads the spaCy model ``en_core_web_sm`` on first use and fails when
there is no internet; it also pings an analytics endpoint on import. We opt out of the
analytics and hand it a blank English pipeline with a rule-based sentencizer instead of a
downloaded model. The cost: no part-of-speech tags, so unstructured's "is this narrative
text?" heuristic cannot see verbs. Our chunker does not trust that heuristic for plain
text (see ``ingest.loaders``), so nothing is lost from the index.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_done = False
_lock = threading.Lock()


def disable_analytics() -> None:
    """Set the opt-out variables before unstructured is imported."""
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")


def _blank_english() -> Any:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def install_offline_nlp() -> None:
    """Replace unstructured's spaCy loader before its first use (idempotent)."""
    global _done
    with _lock:
        if _done:
            return
        disable_analytics()
        from unstructured.nlp import tokenize

        nlp = _blank_english()
        tokenize._get_nlp = lambda: nlp  # type: ignore[assignment]  # looked up at call time
        _done = True
