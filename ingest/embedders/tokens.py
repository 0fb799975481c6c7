"""Token estimates for models whose tokenizer is not available locally."""

from __future__ import annotations

import re

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def estimate_tokens(text: str) -> int:
    """Upper-leaning estimate for multilingual subword tokenizers (XLM-R, BGE-M3).

    One token per CJK character, about 1.3 per Latin word, one per punctuation mark: erring
    high keeps chunks under the model's real limit.
    """
    cjk = len(_CJK.findall(text))
    words = _WORD.findall(text)
    latin = sum(1 for w in words if w[0].isalnum())
    other = len(words) - latin
    return cjk + int(latin * 1.3 + 0.999) + other
