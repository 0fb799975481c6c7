"""Decompression bombs: every advertised Content-Encoding is cut at the decompressed byte limit."""

from __future__ import annotations

import tracemalloc

import pytest

from tests.integration.search_proxy.sp_pages import ARTICLE_SENTENCE, BOMB_BYTES, BOMB_HEAD, PageSite
from tests.integration.search_proxy.sp_servers import MakeFetcher

pytestmark = pytest.mark.integration

LIMIT = 256 * 1024
ENCODINGS = ["gzip", "deflate", "br", "zstd"]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_bomb_is_read_only_up_to_the_decompressed_limit(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str, encoding: str
) -> None:
    bomb = pages.bomb(encoding)  # made before measuring
    assert len(bomb) * 250 < BOMB_BYTES  # a real bomb: it expands at least 250-fold
    fetcher = make_fetcher(max_bytes=LIMIT)
    tracemalloc.start()
    try:
        page = await fetcher.fetch_raw(f"{pages_url}/bomb/{encoding}")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert page.truncated and len(page.body) == LIMIT and page.body.startswith(BOMB_HEAD)
    # Decoding a whole network chunk at once would allocate tens of MB here (128 MiB for zstd);
    # bounded decoding holds the limit, one decoder step and the joined body.
    assert peak < 8 * LIMIT, f"peak {peak:,} bytes"


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_truncated_bomb_still_gives_text_and_says_so(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str, encoding: str
) -> None:
    url = f"{pages_url}/bomb/{encoding}"
    outcome = await make_fetcher(max_bytes=LIMIT, max_chars=2000).fetch_many([url])
    assert outcome.warnings == []
    assert ARTICLE_SENTENCE in outcome.contents[0]
    assert outcome.notes == [f"result 1 ({url}): page cut at 262,144 bytes (the fetch limit)"]


async def test_encodings_are_advertised_and_unknown_ones_refused(
    make_fetcher: MakeFetcher, pages: PageSite, pages_url: str
) -> None:
    outcome = await make_fetcher().fetch_many([f"{pages_url}/bomb/compress"])
    assert outcome.contents == {}
    assert outcome.warnings == [
        f"result 1 ({pages_url}/bomb/compress): content encoding compress was not requested and is not decoded"
    ]
    assert pages.accept_encodings == ["gzip, deflate, br, zstd"]
