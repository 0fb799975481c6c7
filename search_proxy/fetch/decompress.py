"""Content-Encoding decoders that never produce more output than they are asked for.

httpx decodes a whole network chunk at a time, so a 64 KB gzip chunk can become 64 MB before any
byte limit is checked (and one zstd chunk can become gigabytes). These decoders take input with
``feed`` and hand out at most ``limit`` bytes per ``read`` (brotli: at most one more internal
buffer step), keeping the rest of the input compressed until it is asked for. The fetcher reads
the raw body and stops asking once it has its byte limit, so memory is bounded by that limit.

Libraries: ``zlib`` (gzip, deflate), ``brotli`` >= 1.2 (``output_buffer_limit``) and
``compression.zstd`` / its backport ``backports.zstd`` (``max_length``). An encoding whose
library cannot be imported is not advertised in ``Accept-Encoding`` and is refused if sent anyway.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from search_proxy.errors import DecodeError, UnsupportedContent

# RFC 9659: zstd content coding uses windows of at most 8 MB; refusing larger ones bounds the
# decoder's own buffer (the library default would accept 128 MB).
ZSTD_WINDOW_LOG_MAX = 23
# A server may stack encodings ("gzip, br"); more than this is refused rather than chained.
MAX_ENCODINGS = 2


class Decoder(Protocol):
    """Incremental decoder: ``feed`` compressed input, ``read`` bounded output (b"" = needs input)."""

    def feed(self, data: bytes) -> None: ...

    def read(self, limit: int) -> bytes: ...


class IdentityDecoder:
    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, data: bytes) -> None:
        self._pending += data

    def read(self, limit: int) -> bytes:
        out = bytes(self._pending[:limit])
        del self._pending[:limit]
        return out


class _ZlibDecoder:
    """gzip (with several members, as RFC 1952 allows) and deflate (zlib-wrapped or raw)."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._pending = b""
        self._obj: Any = None
        self._later_member = False  # junk after a complete gzip member is tolerated, as browsers do
        self._finished = False
        self._held = False  # the last read stopped at its limit: zlib may hold more output

    def feed(self, data: bytes) -> None:
        if not self._finished:
            self._pending += data

    def _new_object(self) -> Any:
        if self._encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" means the zlib format (RFC 9110), but many servers send raw deflate instead.
        header = self._pending[:2]
        wrapped = header[0] & 0x0F == 8 and (header[0] << 8 | header[1]) % 31 == 0
        return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)

    def read(self, limit: int) -> bytes:
        while (self._pending or self._held) and not self._finished:
            if self._obj is None:
                if self._encoding == "deflate" and len(self._pending) < 2:
                    return b""  # the first two bytes decide the format
                self._obj = self._new_object()
            try:
                out = self._obj.decompress(self._pending, max_length=limit)
            except zlib.error as exc:
                if self._later_member:
                    self._finished, self._pending = True, b""
                    return b""
                raise DecodeError(f"corrupt {self._encoding} body: {exc}") from exc
            self._held = len(out) >= limit
            if self._obj.eof:
                self._pending, self._obj, self._held = self._obj.unused_data, None, False
                self._later_member = True
                self._finished = self._encoding == "deflate"  # one stream; anything after it is junk
            else:
                self._pending = self._obj.unconsumed_tail
            if out:
                return bytes(out)
        return b""


def _zstd_module() -> Any:
    if sys.version_info >= (3, 14):
        from compression import zstd  # type: ignore[import-not-found, unused-ignore]
    else:
        from backports import zstd  # type: ignore[import-not-found, unused-ignore]
    return zstd


class _ZstdDecoder:
    """zstd frames, one after another, each decoded with a bounded ``max_length``."""

    def __init__(self) -> None:
        self._zstd = _zstd_module()
        self._pending = b""
        self._obj = self._new_object()

    def _new_object(self) -> Any:
        options = {self._zstd.DecompressionParameter.window_log_max: ZSTD_WINDOW_LOG_MAX}
        return self._zstd.ZstdDecompressor(options=options)

    def feed(self, data: bytes) -> None:
        self._pending += data

    def read(self, limit: int) -> bytes:
        while True:
            if self._obj.eof:
                rest = self._obj.unused_data + self._pending
                if not rest:
                    return b""
                self._obj, self._pending = self._new_object(), rest
            if self._obj.needs_input:
                data, self._pending = self._pending, b""
                if not data:
                    return b""
            else:
                data = b""  # the decoder still holds output for earlier input
            try:
                out = self._obj.decompress(data, max_length=limit)
            except self._zstd.ZstdError as exc:
                raise DecodeError(f"corrupt zstd body: {exc}") from exc
            if out:
                return bytes(out)


class _BrotliDecoder:
    """Brotli via ``Decompressor.process(..., output_buffer_limit=...)`` (brotli >= 1.2)."""

    def __init__(self) -> None:
        import brotli  # type: ignore[import-not-found, unused-ignore]

        self._brotli = brotli
        self._obj = brotli.Decompressor()
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data

    def read(self, limit: int) -> bytes:
        while not self._obj.is_finished():
            # Drain what the decoder already holds first: all input consumed does not mean all output given.
            out = self._process(b"", limit)
            if out:
                return out
            if not self._pending or not self._obj.can_accept_more_data():
                return b""
            data, self._pending = self._pending, b""
            out = self._process(data, limit)
            if out:
                return out
        return b""

    def _process(self, data: bytes, limit: int) -> bytes:
        try:
            return bytes(self._obj.process(data, output_buffer_limit=limit))
        except self._brotli.error as exc:
            raise DecodeError(f"corrupt br body: {exc}") from exc


class ChainedDecoder:
    """Several encodings in the order they were applied; decoded last-applied first, each bounded."""

    def __init__(self, stages: list[Decoder]) -> None:
        self._stages = stages

    def feed(self, data: bytes) -> None:
        self._stages[0].feed(data)

    def read(self, limit: int) -> bytes:
        return self._read(len(self._stages) - 1, limit)

    def _read(self, index: int, limit: int) -> bytes:
        stage = self._stages[index]
        while True:
            out = stage.read(limit)
            if out or index == 0:
                return out
            upstream = self._read(index - 1, limit)
            if not upstream:
                return b""
            stage.feed(upstream)


def _available() -> dict[str, Callable[[], Decoder]]:
    factories: dict[str, Callable[[], Decoder]] = {
        "gzip": lambda: _ZlibDecoder("gzip"),
        "deflate": lambda: _ZlibDecoder("deflate"),
    }
    try:
        import brotli  # type: ignore[import-not-found, unused-ignore]  # noqa: F401

        factories["br"] = _BrotliDecoder
    except ImportError:
        pass
    try:
        _zstd_module()
        factories["zstd"] = _ZstdDecoder
    except ImportError:
        pass
    return factories


_DECODERS = _available()
_ALIASES = {"x-gzip": "gzip"}  # RFC 9110 8.4.1.3
ACCEPT_ENCODING = ", ".join(_DECODERS)


def decoder_for(content_encoding: str | None) -> Decoder:
    """The bounded decoder for a Content-Encoding header; raises ``UnsupportedContent`` otherwise."""
    names = [part.strip().lower() for part in (content_encoding or "").split(",")]
    names = [_ALIASES.get(name, name) for name in names if name and name != "identity"]
    if not names:
        return IdentityDecoder()
    if len(names) > MAX_ENCODINGS:
        raise UnsupportedContent(f"{len(names)} stacked content encodings ({', '.join(names)}) are refused")
    unknown = [name for name in names if name not in _DECODERS]
    if unknown:
        raise UnsupportedContent(f"content encoding {unknown[0]} was not requested and is not decoded")
    # Listed in the order they were applied, so the last one is undone first.
    stages = [_DECODERS[name]() for name in reversed(names)]
    return stages[0] if len(stages) == 1 else ChainedDecoder(stages)
