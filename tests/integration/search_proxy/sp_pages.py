"""A local web site for page-fetch tests: charsets, huge and slow pages, redirects, PDF, images, bombs."""

from __future__ import annotations

import asyncio
import io
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

ARTICLE_SENTENCE = "The harbour crane inspection checklist covers hydraulics, brakes and wire ropes."
CHINESE_SENTENCE = "港口起重机检查清单涵盖液压系统、制动器和钢丝绳。"
BOMB_HEAD = b"<!doctype html><html><head><title>Bomb</title></head><body><article>"
BOMB_BYTES = 128 * 1024 * 1024  # what each compressed bomb expands to


def _compressor(encoding: str) -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
    if encoding in ("gzip", "deflate"):
        zobj = zlib.compressobj(9, wbits=31 if encoding == "gzip" else 15)
        return zobj.compress, zobj.flush
    if encoding == "br":
        import brotli

        bobj = brotli.Compressor(quality=5)
        return bobj.process, bobj.finish
    from backports import zstd

    zsobj = zstd.ZstdCompressor(level=3)
    return zsobj.compress, lambda: zsobj.flush(zstd.ZstdCompressor.FLUSH_FRAME)


def make_bomb(encoding: str, size: int = BOMB_BYTES) -> bytes:
    """An HTML page of ``size`` bytes, compressed a MiB at a time (the page itself is never held)."""
    paragraph = f"<p>{ARTICLE_SENTENCE}</p>".encode()
    block = paragraph * (1024 * 1024 // len(paragraph))
    compress, finish = _compressor(encoding)
    parts = [compress(BOMB_HEAD)]
    written = len(BOMB_HEAD)
    while written < size:
        piece = block[: size - written]
        parts.append(compress(piece))
        written += len(piece)
    parts.append(finish())
    return b"".join(parts)


def article_html(sentence: str = ARTICLE_SENTENCE, *, charset_meta: str | None = None, title: str = "Article") -> str:
    meta = f'<meta charset="{charset_meta}">' if charset_meta else ""
    paragraphs = "".join(f"<p>{sentence} Paragraph {i}.</p>" for i in range(12))
    return (
        f"<!doctype html><html><head>{meta}<title>{title}</title></head><body>"
        f"<nav>Home | About | Contact</nav><article><h1>{title}</h1>{paragraphs}</article>"
        "<footer>Copyright</footer></body></html>"
    )


def make_pdf(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, text)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


@dataclass
class PageSite:
    """The app plus what it observed (hits with their Host header, bytes streamed by /huge)."""

    hits: list[tuple[str, str]] = field(default_factory=list)
    huge_sent: int = 0
    pdf_bytes: bytes = b""
    bombs: dict[str, bytes] = field(default_factory=dict)
    accept_encodings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.pdf_bytes = make_pdf("Quarterly safety report for the container terminal")
        self.app = Starlette(
            routes=[
                Route("/article", self.article),
                Route("/gbk", self.gbk),
                Route("/gbk-meta", self.gbk_meta),
                Route("/gbk-lying", self.gbk_lying),
                Route("/gbk-bare", self.gbk_bare),
                Route("/huge", self.huge),
                Route("/slow", self.slow),
                Route("/redirect/{n:int}", self.redirect),
                Route("/to", self.to),
                Route("/pdf", self.pdf),
                Route("/image", self.image),
                Route("/missing", self.missing),
                Route("/bomb/{encoding}", self.bomb_page),
            ]
        )

    def _hit(self, request: Request) -> None:
        self.hits.append((request.url.path, request.headers.get("host", "")))

    def paths(self) -> list[str]:
        return [path for path, _host in self.hits]

    async def article(self, request: Request) -> Response:
        self._hit(request)
        return Response(article_html(), media_type="text/html; charset=utf-8")

    async def gbk(self, request: Request) -> Response:
        self._hit(request)
        body = article_html(CHINESE_SENTENCE, title="检查").encode("gbk")
        return Response(body, headers={"content-type": "text/html; charset=GBK"})

    async def gbk_meta(self, request: Request) -> Response:
        self._hit(request)
        body = article_html(CHINESE_SENTENCE, charset_meta="gb2312", title="检查").encode("gbk")
        return Response(body, headers={"content-type": "text/html"})

    async def gbk_lying(self, request: Request) -> Response:
        self._hit(request)
        body = article_html(CHINESE_SENTENCE, charset_meta="gbk", title="检查").encode("gbk")
        return Response(body, headers={"content-type": "text/html; charset=utf-8"})

    async def gbk_bare(self, request: Request) -> Response:
        self._hit(request)
        body = article_html(CHINESE_SENTENCE * 3, title="检查").encode("gb18030")
        return Response(body, headers={"content-type": "text/html"})

    async def huge(self, request: Request) -> Response:
        """An endless page: only a client that stops reading at its byte limit gets an answer."""
        self._hit(request)
        chunk = ("<p>" + ARTICLE_SENTENCE * 20 + "</p>").encode()

        async def endless() -> AsyncIterator[bytes]:
            yield b"<!doctype html><html><head><title>Huge</title></head><body><article>"
            while True:
                self.huge_sent += len(chunk)
                yield chunk
                await asyncio.sleep(0)

        return StreamingResponse(endless(), media_type="text/html; charset=utf-8")

    async def slow(self, request: Request) -> Response:
        self._hit(request)
        await asyncio.sleep(float(request.query_params.get("s", "3")))
        return Response(article_html(), media_type="text/html")

    async def redirect(self, request: Request) -> Response:
        self._hit(request)
        n = int(request.path_params["n"])
        target = "/article" if n <= 0 else f"/redirect/{n - 1}"
        return RedirectResponse(target, status_code=302)

    async def to(self, request: Request) -> Response:
        self._hit(request)
        return RedirectResponse(request.query_params["url"], status_code=302)

    async def pdf(self, request: Request) -> Response:
        self._hit(request)
        return Response(self.pdf_bytes, media_type="application/pdf")

    async def image(self, request: Request) -> Response:
        self._hit(request)
        return Response(b"\x89PNG\r\n\x1a\n" + b"\0" * 5000, media_type="image/png")

    async def missing(self, request: Request) -> Response:
        self._hit(request)
        return Response("gone", status_code=404)

    def bomb(self, encoding: str) -> bytes:
        """The compressed bomb for ``encoding``, made once per session."""
        if encoding not in self.bombs:
            self.bombs[encoding] = make_bomb(encoding)
        return self.bombs[encoding]

    async def bomb_page(self, request: Request) -> Response:
        """Sent compressed whatever the client accepts, as a hostile server would."""
        self._hit(request)
        self.accept_encodings.append(request.headers.get("accept-encoding", ""))
        encoding = request.path_params["encoding"]
        body = self.bomb(encoding) if encoding in ("gzip", "deflate", "br", "zstd") else b"\x1f\x9d" + b"\0" * 64
        headers = {"content-encoding": encoding, "content-type": "text/html; charset=utf-8"}
        return Response(body, headers=headers)
