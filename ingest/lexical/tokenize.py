"""Tokenisation for the lexical index: Chinese words (jieba), English stems, and both mixed.

Text is split into runs of CJK ideographs and runs of other letters/digits. CJK runs go to
jieba (``search`` mode also emits the shorter words inside long ones, which lets a query for
``克什米尔`` match ``印控克什米尔``; ``cut`` emits only the best segmentation; ``bigram`` uses
overlapping character pairs, the dictionary-free baseline). Other runs are lower-cased, English
stop words dropped and the rest stemmed with Snowball (PyStemmer) so ``mapping``/``maps`` meet.
Digits are kept whole (years, doses and counts matter in both languages).

The same ``Tokenizer`` must tokenise the corpus and the queries; ``fingerprint`` names its
configuration so a persisted index notices when it was built with another one.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

log = logging.getLogger(__name__)

ChineseMode = Literal["search", "cut", "bigram"]

# CJK Unified Ideographs (+ extension A and compatibility ideographs).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUNS = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")
_DIGITS = re.compile(r"^\d+$")

# Function words only: large Chinese stop lists also drop content words (上升, 需要, 集中).
CHINESE_STOPWORDS = frozenset(
    "的 了 和 是 在 也 有 与 及 或 而 之 其 这 那 就 都 被 把 让 对 从 为 以 于 将 向 由 等 着 过 吗 呢 吧 啊 "
    "我 你 他 她 它 我们 你们 他们 这个 那个 这些 那些 一个 什么 哪些 怎么 如何 多少 是否 可以 以及 并且 "
    "因为 所以 但是 如果 虽然 还是 已经 没有 不是 就是 "
    # Question words: they say what is asked, not what the answer passage contains.
    "哪 哪个 哪家 哪位 哪里 哪儿 哪年 哪一年 哪一个 哪一天 哪天 几 几个 几年 几天 多久 多长 多长时间 "
    "谁 为什么 为何 怎样 怎么样 什么样 请问".split()
)


@lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _snowball() -> Callable[[list[str]], list[str]] | None:
    """The English Snowball stemmer from PyStemmer, or ``None`` (then words are kept unstemmed)."""
    try:
        import Stemmer
    except ImportError:  # pragma: no cover - PyStemmer is a declared dependency
        log.warning("PyStemmer is not installed: English words are indexed unstemmed")
        return None
    stemmer = Stemmer.Stemmer("english")
    words: Callable[[list[str]], list[str]] = stemmer.stemWords
    return words


_jieba_lock = threading.Lock()
_jieba: Any = None


def _jieba_tokenizer() -> Any:
    """One jieba instance per process; its dictionary takes about a second to load the first time."""
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _jieba = tokenizer
        return _jieba


def load_dictionaries() -> None:
    """Load jieba's dictionary and the stemmer now, so the first question does not pay for them."""
    _jieba_tokenizer()
    _snowball()
    english_stopwords()


def drop_chinese_stopwords(text: str) -> str:
    """``text`` with the Chinese stop words (question words included) cut out as whole words.

    For a search engine that analyses the text itself with jieba's search mode (Milvus's BM25):
    its stop filter drops 哪一年 but keeps 一年, a part that search mode also emits, so passages
    saying 保留一年 would outrank the answer. Cutting whole words here first leaves no such parts.
    Other text is kept as it is; the remaining Chinese words are separated by spaces.
    """

    def cut(match: re.Match[str]) -> str:
        words = _jieba_tokenizer().lcut(match.group(), HMM=True)
        return " " + " ".join(w for w in words if w not in CHINESE_STOPWORDS) + " "

    return re.sub(rf"[{_CJK}]+", cut, text).strip()


@dataclass(frozen=True, slots=True)
class TokenizerConfig:
    chinese: ChineseMode = "search"
    stem: bool = True
    stopwords: bool = True
    min_word_chars: int = 2  # shorter Latin words (a, x, s) are noise; digits are always kept


class Tokenizer:
    """Text to index terms. Thread-safe; jieba loads on first Chinese text."""

    VERSION = 2  # bump when the algorithm changes so persisted indexes re-tokenise

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        self._stem = _snowball() if self.config.stem else None
        self._stop_en = english_stopwords() if self.config.stopwords else frozenset()
        self._stop_zh = CHINESE_STOPWORDS if self.config.stopwords else frozenset()

    @property
    def fingerprint(self) -> str:
        c = self.config
        stem = "snowball" if self._stem is not None else "none"
        return f"v{self.VERSION}:zh={c.chinese}:stem={stem}:stop={int(c.stopwords)}:min={c.min_word_chars}"

    def __call__(self, text: str) -> list[str]:
        return self.tokenize(text)

    def tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        word_slots: list[int] = []  # positions in ``out`` of Latin words, stemmed in one batch below
        for match in _RUNS.finditer(text.lower()):
            run = match.group("cjk")
            if run is not None:
                out.extend(t for t in self._chinese(run) if t not in self._stop_zh)
                continue
            word = match.group()
            if _DIGITS.match(word):
                out.append(word)
            elif len(word) >= self.config.min_word_chars and word not in self._stop_en:
                word_slots.append(len(out))
                out.append(word)
        if self._stem is not None and word_slots:
            for slot, stem in zip(word_slots, self._stem([out[i] for i in word_slots]), strict=True):
                out[slot] = stem
        return out

    def _chinese(self, run: str) -> Iterator[str]:
        mode = self.config.chinese
        if mode == "bigram":
            if len(run) == 1:
                yield run
            for i in range(len(run) - 1):
                yield run[i : i + 2]
            return
        jieba = _jieba_tokenizer()
        pieces = list(jieba.tokenize(run, mode="search" if mode == "search" else "default", HMM=True))
        # Search mode also yields the parts of a word (一年 of 哪一年); a stopword's parts go with it.
        stopped = [(start, end) for word, start, end in pieces if word in self._stop_zh]
        for word, start, end in pieces:
            if word.strip() and not any(a <= start and end <= b for a, b in stopped):
                yield word
