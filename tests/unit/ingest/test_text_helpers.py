"""Text decoding, token estimates, table rendering and near-duplicate removal."""

from __future__ import annotations

import pytest

from ingest.embedders.tokens import estimate_tokens
from ingest.errors import ParseError
from ingest.tables import html_table_to_text
from ingest.textdecode import decode_text
from ingest.types import Hit
from rag.retrieval.base import drop_near_duplicates

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_decode_text_handles_common_encodings(encoding: str) -> None:
    text = "北风机器人仓库管理规定：温度15至25摄氏度。Robots."
    assert decode_text("f.txt", text.encode(encoding)) == text


def test_decode_text_refuses_binary() -> None:
    with pytest.raises(ParseError, match="binary"):
        decode_text("f.txt", b"abc\x00\x01\x02def" * 10)


def test_token_estimate_counts_cjk_per_character_and_words_higher() -> None:
    assert estimate_tokens("北风机器人") == 5
    assert estimate_tokens("robots charge overnight") >= 3
    assert estimate_tokens("") == 0


def test_html_table_to_text() -> None:
    html = "<table><tr><th>Model</th><th>Battery</th></tr><tr><td>NW-200</td><td>1,920 Wh</td></tr></table>"
    assert html_table_to_text(html) == "| Model | Battery |\n| NW-200 | 1,920 Wh |"
    assert html_table_to_text("") == ""


def hit(i: int, text: str, score: float) -> Hit:
    return Hit(chunk_id=f"c{i}", text=text, score=score, metadata={})


def test_near_duplicates_keep_the_best_ranked_copy() -> None:
    base = "The standard warranty period is 27 months from the date of delivery to the customer site."
    hits = [
        hit(1, base, 0.9),
        hit(2, base + " ", 0.89),
        hit(3, base.replace("27", "twenty-seven"), 0.8),
        hit(4, "Support hotline is open weekdays.", 0.7),
    ]
    kept = drop_near_duplicates(hits, 0.85)
    assert [h.chunk_id for h in kept] == ["c1", "c3", "c4"]


def test_near_duplicates_stop_at_the_limit_and_match_the_exhaustive_result() -> None:
    import random

    rng = random.Random(7)
    words = "warranty period months delivery customer site battery support hotline 保修 期限 月".split()
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 30))) for _ in range(40)]
    texts += [t + " site" for t in texts[:10]]  # near copies of different lengths
    hits = [hit(i, t, 1.0 - i / 100) for i, t in enumerate(texts)]
    exhaustive = drop_near_duplicates(hits, 0.6)
    for limit in (1, 3, 8, 100):
        assert drop_near_duplicates(hits, 0.6, limit) == exhaustive[:limit]
    # the exhaustive Jaccard, pair by pair: the size bound skips no pair it should compare
    by_hand: list[Hit] = []
    for h in hits:
        a = _shingles_of(h.text)
        if all(len(a & _shingles_of(k.text)) / len(a | _shingles_of(k.text)) < 0.6 for k in by_hand):
            by_hand.append(h)
    assert exhaustive == by_hand


def _shingles_of(text: str) -> set[str]:
    flat = " ".join(text.lower().split())
    return {flat[i : i + 4] for i in range(max(len(flat) - 3, 1))}
