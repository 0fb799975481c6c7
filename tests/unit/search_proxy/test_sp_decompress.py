"""Bounded Content-Encoding decoders: exact round trips, output per read bounded, bad input refused."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

import brotli
import pytest
from backports import zstd

from search_proxy.errors import DecodeError, UnsupportedContent
from search_proxy.fetch.decompress import ACCEPT_ENCODING, Decoder, decoder_for

pytestmark = pytest.mark.unit

PAGE = b"".join(b"<p>line %d of a page that compresses well</p>" % i for i in range(40_000))
BROTLI_STEP = 64 * 1024  # brotli stops growing its output buffer once past the limit: one step over at most


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


ENCODED: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": lambda data: brotli.compress(data, quality=4),
    "zstd": zstd.compress,
}


def drain(decoder: Decoder, body: bytes, chunk: int, limit: int) -> tuple[bytes, int]:
    """Feed ``body`` in ``chunk``-sized pieces, reading ``limit`` at a time; returns output and largest read."""
    out = bytearray()
    largest = 0
    for start in range(0, len(body), chunk):
        decoder.feed(body[start : start + chunk])
        while piece := decoder.read(limit):
            out += piece
            largest = max(largest, len(piece))
    return bytes(out), largest


def test_every_decodable_encoding_is_advertised() -> None:
    assert ACCEPT_ENCODING == "gzip, deflate, br, zstd"


@pytest.mark.parametrize("encoding", list(ENCODED))
@pytest.mark.parametrize("chunk", [7, 1500, 1 << 30])
def test_round_trip_in_any_chunking(encoding: str, chunk: int) -> None:
    out, largest = drain(decoder_for(encoding), ENCODED[encoding](PAGE), chunk, limit=4096)
    assert out == PAGE
    assert largest <= 4096 + (BROTLI_STEP if encoding == "br" else 0)


@pytest.mark.parametrize("encoding", list(ENCODED))
def test_a_bomb_fed_whole_never_yields_more_than_asked(encoding: str) -> None:
    bomb = ENCODED[encoding](b"\0" * (64 * 1024 * 1024))
    assert len(bomb) < 128 * 1024
    decoder = decoder_for(encoding)
    decoder.feed(bomb)
    sizes = [len(decoder.read(1000)) for _ in range(50)]
    bound = 1000 + (BROTLI_STEP if encoding == "br" else 0)
    assert all(0 < size <= bound for size in sizes), sizes


def test_raw_deflate_is_accepted_as_servers_send_it() -> None:
    assert drain(decoder_for("deflate"), raw_deflate(PAGE), 999, 5000)[0] == PAGE


def test_several_gzip_members_and_zstd_frames_are_one_body() -> None:
    gz = gzip.compress(b"first ") + gzip.compress(b"second")
    zs = zstd.compress(b"first ") + zstd.compress(b"second")
    assert drain(decoder_for("gzip"), gz, 5, 3)[0] == b"first second"
    assert drain(decoder_for("zstd"), zs, 5, 3)[0] == b"first second"


def test_junk_after_the_last_gzip_member_is_ignored() -> None:
    assert drain(decoder_for("x-gzip"), gzip.compress(b"page") + b"\0\0junk", 4096, 100)[0] == b"page"


def test_stacked_encodings_are_undone_last_first() -> None:
    body = brotli.compress(gzip.compress(PAGE))
    out, largest = drain(decoder_for("gzip, br"), body, 2048, 3000)
    assert out == PAGE and largest <= 3000


def test_identity_passes_bytes_through_in_bounded_reads() -> None:
    out, largest = drain(decoder_for(None), PAGE, 1 << 20, 777)
    assert out == PAGE and largest == 777


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("compress", "content encoding compress was not requested"),
        ("gzip, gzip, gzip", "3 stacked content encodings"),
        ("gzip, sdch", "content encoding sdch was not requested"),
    ],
)
def test_unrequested_or_stacked_encodings_are_refused(header: str, reason: str) -> None:
    with pytest.raises(UnsupportedContent, match=reason):
        decoder_for(header)


@pytest.mark.parametrize("encoding", list(ENCODED))
def test_corrupt_bodies_are_decode_errors(encoding: str) -> None:
    junk = b"\x1f\x8b\x08\0 this is not compressed data at all" * 20
    with pytest.raises(DecodeError, match=f"corrupt {encoding} body"):
        drain(decoder_for(encoding), junk, 64, 100)


def test_zstd_windows_over_8_mb_are_refused() -> None:
    wide = zstd.ZstdCompressor(options={zstd.CompressionParameter.window_log: 24})
    decoder = decoder_for("zstd")
    decoder.feed(wide.compress(b"x" * 1000) + wide.flush())
    with pytest.raises(DecodeError, match="too much memory"):
        decoder.read(100)
