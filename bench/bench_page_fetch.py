"""Benchmark: fetching ten result pages concurrently (fetch=10) against fetching them one by one.

Each page is served on 127.0.0.1 with 200 ms of added latency, so the serial fetch takes at least
2 s; the concurrent fetch should be close to one page's latency. Both go through the real
``PageFetcher`` (SSRF guard, streaming byte limit, trafilatura extraction), in one run.

    .venv/bin/python bench/bench_page_fetch.py [--rounds 3] [--latency-ms 200]

Exits non-zero when the target (concurrent <= 1.5 s and >= 5x faster than serial) is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
import statistics
import sys
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from search_proxy.fetch.fetcher import PageFetcher
from search_proxy.settings import FetchSettings
from search_proxy.upstream import build_ssl_context

PAGES = 10
TARGET_WALL_S = 1.5
TARGET_RATIO = 5.0


def page_html(index: int) -> str:
    paragraph = (
        f"<p>Result page {index}: the container terminal's crane inspection covers hydraulics, "
        "brakes, wire ropes and the anti-collision system, and records every finding.</p>"
    )
    return (
        f"<!doctype html><html><head><title>Page {index}</title></head><body>"
        f"<nav>Home | News | Contact</nav><article><h1>Page {index}</h1>{paragraph * 60}</article>"
        "<footer>Footer links</footer></body></html>"
    )


def make_app(latency_s: float) -> Starlette:
    async def page(request: Request) -> HTMLResponse:
        await asyncio.sleep(latency_s)
        return HTMLResponse(page_html(int(request.path_params["index"])))

    return Starlette(routes=[Route("/page/{index:int}", page)])


class Server:
    """uvicorn in a thread on a free 127.0.0.1 port."""

    def __init__(self, app: Starlette) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)


async def run(rounds: int, latency_ms: int) -> int:
    settings = FetchSettings(allow_networks=[ipaddress.ip_network("127.0.0.1/32")])
    with Server(make_app(latency_ms / 1000)) as server:
        urls = [f"http://127.0.0.1:{server.port}/page/{i}" for i in range(PAGES)]
        fetcher = PageFetcher(settings, ssl_context=build_ssl_context(None))
        try:
            await fetcher.fetch_text(urls[0])  # warm-up: imports and first extraction are not the subject
            concurrent: list[float] = []
            serial: list[float] = []
            for _ in range(rounds):
                started = time.perf_counter()
                outcome = await fetcher.fetch_many(urls)
                concurrent.append(time.perf_counter() - started)
                if len(outcome.contents) != PAGES:
                    print(f"concurrent fetch lost pages: {outcome.warnings}")
                    return 2
                started = time.perf_counter()
                for url in urls:
                    await fetcher.fetch_text(url)
                serial.append(time.perf_counter() - started)
        finally:
            await fetcher.aclose()

    conc_s, serial_s = statistics.median(concurrent), statistics.median(serial)
    ratio = serial_s / conc_s
    print(f"pages={PAGES} latency={latency_ms} ms concurrency={settings.concurrency} rounds={rounds} (median)")
    print(f"{'mode':<12}{'wall s':>10}{'min s':>10}{'max s':>10}")
    print(f"{'fetch=10':<12}{conc_s:>10.3f}{min(concurrent):>10.3f}{max(concurrent):>10.3f}")
    print(f"{'serial':<12}{serial_s:>10.3f}{min(serial):>10.3f}{max(serial):>10.3f}")
    ok = conc_s <= TARGET_WALL_S and ratio >= TARGET_RATIO
    verdict = "PASS" if ok else "FAIL"
    print(f"ratio {ratio:.1f}x  (target <= {TARGET_WALL_S} s and >= {TARGET_RATIO:.0f}x): {verdict}")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=200)
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.rounds, args.latency_ms)))


if __name__ == "__main__":
    main()
