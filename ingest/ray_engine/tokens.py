"""Token counts on a machine that does not hold the model: the model's own fast tokenizer, shipped
as its serialised form, or the estimate used for models served behind an API."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from ingest.embedders.tokens import estimate_tokens
from ingest.errors import EmbeddingError

# A worker process builds each tokenizer once, whatever number of tasks bring it.
_BUILT: dict[str, Any] = {}


class TokenCounter:
    """Picklable ``count_tokens``: the same counts as the embedder it was taken from.

    ``tokenizer_json`` is ``tokenizers.Tokenizer.to_str()`` of a copy without truncation or padding
    (``SentenceTransformerEmbedder.tokenizer_json``); None counts with ``estimate_tokens``, as the
    OpenAI-compatible embedder does.
    """

    def __init__(self, tokenizer_json: str | None) -> None:
        self.tokenizer_json = tokenizer_json
        self.key = hashlib.sha256(tokenizer_json.encode()).hexdigest() if tokenizer_json else "estimate"
        self._count = lru_cache(maxsize=8192)(self._count_uncached)

    def __getstate__(self) -> dict[str, Any]:
        return {"tokenizer_json": self.tokenizer_json}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["tokenizer_json"])  # type: ignore[misc]

    def __call__(self, text: str) -> int:
        return self._count(text)

    def _count_uncached(self, text: str) -> int:
        if self.tokenizer_json is None:
            return estimate_tokens(text)
        return len(self._tokenizer().encode(text, add_special_tokens=False).ids)

    def _tokenizer(self) -> Any:
        built = _BUILT.get(self.key)
        if built is None and self.tokenizer_json is not None:
            from tokenizers import Tokenizer

            built = _BUILT[self.key] = Tokenizer.from_str(self.tokenizer_json)
        return built


def token_counter_of(embedder: Any) -> TokenCounter:
    """The counter of a loaded embedder; ``EmbeddingError`` for a local model without a fast tokenizer."""
    tokenizer_json = getattr(embedder, "tokenizer_json", None)
    if tokenizer_json is None:
        return TokenCounter(None)  # an API model: counts are estimated, here as there
    serialised = tokenizer_json()
    if serialised is None:
        raise EmbeddingError(
            f"{embedder.model_id!r} has no fast tokenizer, so cluster workers cannot count its tokens; "
            "use the local engine for this model"
        )
    return TokenCounter(serialised)
