"""The web workspace in Chromium: first paint on loopback, and whether rendering keeps up with a long stream.

A real ``rag serve`` runs as its own process (so the browser's driver never shares a GIL with the
server) over a knowledge base built by ``rag ingest`` from ``data/``; the fake R1 streams the answer
from this process; Debian's chromium is driven headless by Playwright (no downloaded browser).

    .venv/bin/python bench/bench_workspace.py [--runs 5] [--tokens 5000] [--rate 200] \
        [--chunk-size 8] [--docs data] [--json bench/results/workspace.json]

1. First paint: ``/`` in a fresh browser context each run (no HTTP or code cache); the median of
   ``--runs`` first-contentful-paint times (the app's first render; ``first-paint`` is reported
   too), with navigation timing beside it (one warm-up load first, reported apart). The
   JavaScript shipped before first paint is every ``.js`` resource whose fetch started before
   first-contentful-paint, each gzipped (level 9) from the bytes the server sent, summed. The
   PDF.js chunks (``assets/pdf-*.js``, ``assets/pdf.worker*.js``) must not be among them, nor
   among anything the page loads before it is idle; their sizes are reported.
2. Rendering keeps up: a ``--tokens`` answer of mixed English/Markdown (headings, lists, tables,
   emphasis, inline code, ``[citation:N]`` markers) streamed at ``--rate`` tokens/s. A token is
   4 characters of answer text (the usual rule of thumb for English under a BPE tokenizer), so the
   default is ~20,000 characters sent as ~2,500 chunks of 8 characters, one every 10 ms on a fixed
   schedule (so timer overshoot on a busy machine does not stretch the ~25 s).
   The UI is not modified: an init script wraps ``window.fetch`` and tees the ``/ask`` body to
   time each SSE event as the page receives it, a ``MutationObserver`` notes when the answer's DOM
   first holds each checkpoint word (``ck0001`` ... at the end of every block; the last one ends
   the answer) and a ``requestAnimationFrame`` + message-channel hop marks the frame after that
   painted; a ``PerformanceObserver`` collects long tasks and a rAF loop the frame intervals.
   Lag = paint of the final text - arrival of the event that completed it.

Targets (exit 1 when one is missed): median first paint <= 1000 ms; JS before first paint <=
250 KB gzipped (KB = 1000 bytes); no PDF.js chunk loaded with the page; final render lag <= 50 ms;
no long task > 100 ms while the answer streams. The report notes the CPU count and load average,
since the browser, the server and the fake share the machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_soak import ApiProcess, percentile  # noqa: E402
from tests.fakes.llm_server import FakeLLMServer, Script  # noqa: E402

UI_ASSETS = ROOT / "rag" / "api" / "static" / "ui" / "assets"
CHARS_PER_TOKEN = 4
FIRST_PAINT_LIMIT_MS = 1000.0
JS_GZIP_LIMIT_KB = 250.0
LAG_LIMIT_MS = 50.0
LONG_TASK_LIMIT_MS = 100.0
PDF_CHUNK = re.compile(r"^pdf[.-].*\.m?js$")
QUESTION = "How long is the standard warranty on Northwind robots, and what does it cover?"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
]

# Installed before any page script: times the /ask stream as the page reads it, the answer's DOM
# updates and their paints, long tasks and frames. __MARKERS__ is replaced by the checkpoint list.
PROBE_JS = """
(() => {
  const MARKERS = __MARKERS__;
  const N = MARKERS.length;
  const b = {
    askAt: null, responseAt: null, firstAnswerAt: null, lastAnswerAt: null, doneAt: null, streamEndAt: null,
    reads: 0, bytes: 0, events: {}, answerChars: 0,
    recvAt: new Array(N).fill(null), domAt: new Array(N).fill(null), paintAt: new Array(N).fill(null),
    finalDomAt: null, finalPaintAt: null, renders: 0, firstElementSwaps: 0,
    longTasks: [], frames: [], errors: [],
  };
  window.__bench = b;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longTasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: "longtask", buffered: true });
  } catch (e) { b.errors.push("longtask observer: " + e); }

  let framing = false;
  const frame = (t) => { b.frames.push(t); if (framing) requestAnimationFrame(frame); };

  function onEvent(type, data, now) {
    b.events[type] = (b.events[type] || 0) + 1;
    if (type === "answer") {
      let text = "";
      try { text = JSON.parse(data).text || ""; } catch (e) { b.errors.push("answer json: " + e); }
      if (b.firstAnswerAt === null) b.firstAnswerAt = now;
      b.lastAnswerAt = now;
      received += text;
      b.answerChars = received.length;
      while (recvNext < N) {
        const at = received.indexOf(MARKERS[recvNext], recvPos);
        if (at < 0) break;
        b.recvAt[recvNext] = now; recvPos = at; recvNext++;
      }
    } else if (type === "done") {
      b.doneAt = now;
    }
  }
  let received = "", recvPos = 0, recvNext = 0;

  async function drain(stream) {
    const reader = stream.getReader();
    const decoder = new TextDecoder("utf-8");
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        const now = performance.now();
        if (done) { b.streamEndAt = now; break; }
        b.reads++; b.bytes += value.byteLength;
        buf = (buf + decoder.decode(value, { stream: true })).replace(/\\r\\n/g, "\\n");
        for (let cut = buf.indexOf("\\n\\n"); cut >= 0; cut = buf.indexOf("\\n\\n")) {
          const block = buf.slice(0, cut); buf = buf.slice(cut + 2);
          let type = "message"; const data = [];
          for (const line of block.split("\\n")) {
            if (line.startsWith("event:")) type = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
          }
          if (data.length) onEvent(type, data.join("\\n"), now);
        }
      }
    } catch (e) { b.errors.push("tee read: " + e); }
  }

  const realFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const url = new URL(typeof input === "string" ? input : input.url, location.href);
    const isAsk = url.pathname === "/ask";
    if (isAsk) { b.askAt = performance.now(); framing = true; requestAnimationFrame(frame); }
    const res = await realFetch(input, init);
    if (!isAsk || !res.body) return res;
    b.responseAt = performance.now();
    const [mine, theirs] = res.body.tee();
    drain(mine);
    return new Response(theirs, { status: res.status, statusText: res.statusText, headers: res.headers });
  };

  let domNext = 0, firstElement = null;
  new MutationObserver((records) => {
    if (b.askAt === null || domNext >= N) return;
    const el = document.querySelector('[data-testid="answer"]');
    if (!el || !records.some((r) => el.contains(r.target))) return;
    const now = performance.now();
    b.renders++;
    if (el.firstElementChild !== firstElement) {
      if (firstElement !== null) b.firstElementSwaps++;
      firstElement = el.firstElementChild;
    }
    const text = el.textContent;
    const before = domNext;
    while (domNext < N && text.indexOf(MARKERS[domNext]) >= 0) { b.domAt[domNext] = now; domNext++; }
    if (domNext === before) return;
    const upto = domNext;
    if (upto === N) b.finalDomAt = now;
    requestAnimationFrame(() => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        const t = performance.now();
        for (let k = before; k < upto; k++) if (b.paintAt[k] === null) b.paintAt[k] = t;
        if (upto === N && b.finalPaintAt === null) {
          b.finalPaintAt = t;
          setTimeout(() => { framing = false; }, 250);
        }
      };
      ch.port2.postMessage(null);
    });
  }).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""

FIRST_PAINT_JS = """
() => {
  const paint = Object.fromEntries(performance.getEntriesByType("paint").map((e) => [e.name, e.startTime]));
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource").map((r) => ({
    name: r.name, initiatorType: r.initiatorType, startTime: r.startTime, responseEnd: r.responseEnd,
  }));
  return {
    fcp: paint["first-contentful-paint"] ?? null,
    fp: paint["first-paint"] ?? null,
    nav: nav ? {
      responseStart: nav.responseStart, responseEnd: nav.responseEnd,
      domInteractive: nav.domInteractive, domContentLoaded: nav.domContentLoadedEventEnd,
      load: nav.loadEventEnd,
    } : null,
    resources,
  };
}
"""


@dataclass
class Report:
    cpus: int
    load_avg_before: list[float]
    load_avg_after: list[float]
    chromium: str
    # first paint
    runs: int
    first_contentful_paint_cold_ms: float
    first_contentful_paint_ms: list[float]
    first_contentful_paint_median_ms: float
    first_paint_median_ms: float
    navigation_median_ms: dict[str, float]
    js_before_first_paint: dict[str, int]  # asset -> gzipped bytes
    js_before_first_paint_gzip_kb: float
    js_before_first_paint_raw_kb: float
    js_loaded_by_idle: list[str]
    pdfjs_chunks_gzip_kb: dict[str, float]
    pdfjs_loaded_with_page: bool
    # streaming
    answer_tokens: int
    answer_chars: int
    chunk_size_chars: int
    chunk_delay_s: float
    target_tokens_per_s: float
    sent_tokens_per_s: float
    sent_seconds: float
    received_tokens_per_s: float
    received_seconds: float
    sse_events: dict[str, int]
    network_reads: int
    checkpoints: int
    answer_renders: int
    answer_full_rerenders: int
    final_render_lag_ms: float
    final_dom_after_event_ms: float
    final_paint_after_done_ms: float
    checkpoint_lag_p50_ms: float
    checkpoint_lag_p95_ms: float
    checkpoint_lag_max_ms: float
    checkpoint_lag_first_tenth_p50_ms: float
    checkpoint_lag_last_tenth_p50_ms: float
    long_tasks_during_stream: int
    long_tasks_over_100ms: int
    long_task_max_ms: float
    long_task_total_ms: float
    frames: int
    frame_interval_p50_ms: float
    frame_interval_p95_ms: float
    frame_interval_max_ms: float
    frames_over_50ms: int
    main_thread_s: dict[str, float]
    page_errors: list[str]
    passed: bool = False
    misses: list[str] = field(default_factory=list)


class PacedFakeLLM(FakeLLMServer):
    """The fake R1 with its chunks sent on a fixed schedule (one every ``chunk_delay`` from the first),
    not ``chunk_delay`` after the previous one, so timer overshoot on a busy machine does not slow the
    stream below the rate asked for; notes when the first and the last paced chunk left. One
    schedule for the server's life: meant for the one streamed answer this bench asks for."""

    def __init__(self, default: Script) -> None:
        super().__init__(default)
        self._due: float | None = None
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        self.paced = 0

    async def _pause(self, seconds: float, reader: Any, writer: Any, record: Any) -> bool:
        now = time.monotonic()
        self._due = now + seconds if self._due is None else self._due + seconds
        ok = await super()._pause(max(self._due - now, 0.0), reader, writer, record)
        self.last_sent = time.monotonic()
        if self.first_sent is None:
            self.first_sent = self.last_sent
        self.paced += 1
        return ok


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def make_answer(tokens: int) -> tuple[str, list[str]]:
    """About ``tokens`` x 4 characters of Markdown; every block ends with a checkpoint word, the last one the answer."""
    target = tokens * CHARS_PER_TOKEN
    markers: list[str] = []

    def mark() -> str:
        markers.append(f"ck{len(markers) + 1:04d}")
        return markers[-1]

    topics = ["battery packs", "drive motors", "the charging dock", "Fleet Manager", "the lidar unit", "wheels"]
    blocks: list[str] = []
    size = 0
    n = 0
    closing = "In short, the standard warranty runs **24 months** from delivery [citation:1]."
    while size < target - len(closing) - 16:
        topic = topics[n % len(topics)]
        kind = n % 7
        if kind == 0:
            block = f"## {n // 7 + 1}. Coverage for {topic} {mark()}"
        elif kind in (1, 4):
            block = (
                f"The policy covers **{topic}** against defects in materials and workmanship for *24 months* "
                f"from delivery [citation:1]. Claims need the serial number, shown by `nwctl status --serial`, "
                f"and a short description of the fault; the release notes add that firmware faults are handled "
                f"as software issues [citation:2]. Wear parts are excluded unless the failure is premature. {mark()}"
            )
        elif kind == 2:
            block = "\n".join(
                [
                    f"- **Included:** repair or replacement of {topic}, parts and labour {mark()}",
                    f"- **Excluded:** damage from misuse, unapproved modifications or water ingress {mark()}",
                    f"- *Response time:* two business days for a first answer [citation:1] {mark()}",
                ]
            )
        elif kind == 3:
            block = "\n".join(
                [
                    "| Item | Period | Note |",
                    "| --- | --- | --- |",
                    f"| {topic} | 24 months | standard [citation:1] {mark()} |",
                    f"| extended plan | 36 months | on request {mark()} |",
                ]
            )
        elif kind == 5:
            block = "\n".join(
                [
                    f"1. Open a ticket in the support portal for {topic} {mark()}",
                    f"2. Attach the output of `nwctl diag --full` [citation:2] {mark()}",
                    f"3. Ship the unit only after an RMA number is issued {mark()}",
                ]
            )
        else:
            block = (
                f"> Note: the warranty for {topic} transfers with the robot when it is resold, "
                f"provided the new owner registers it within 30 days [citation:1]. {mark()}"
            )
        blocks.append(block)
        size += len(block) + 2
        n += 1
    blocks.append(f"{closing} {mark()}")
    return "\n\n".join(blocks), markers


def chromium_path() -> str:
    path = shutil.which("chromium")
    if not path:
        raise SystemExit("Debian's chromium is missing: apt-get install chromium")
    return path


def wait_for(page: Any, expression: str, seconds: float) -> None:
    """Poll ``expression`` with ``page.evaluate`` (the CSP forbids the eval that ``wait_for_function`` polls with)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {seconds} s: {expression}")
        time.sleep(0.02)


def measure_first_paint(browser: Any, base_url: str, runs: int) -> dict[str, Any]:
    """A warm-up load, then ``runs`` loads of / each in a fresh context; the JS figures from the first counted one."""
    samples: list[dict[str, Any]] = []
    idle_js: set[str] = set()
    for _ in range(runs + 1):
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.goto(f"{base_url}/", wait_until="load")
        wait_for(page, "performance.getEntriesByType('paint').some(e => e.name === 'first-contentful-paint')", 30)
        page.wait_for_load_state("networkidle")
        sample = page.evaluate(FIRST_PAINT_JS)
        idle_js.update(r["name"] for r in sample["resources"] if re.search(r"\.m?js(\?|$)", r["name"]))
        samples.append(sample)
        context.close()
    cold, counted = samples[0], samples[1:]
    first = counted[0]
    before_paint = sorted(
        {
            r["name"]
            for r in first["resources"]
            if re.search(r"\.m?js(\?|$)", r["name"]) and r["startTime"] < first["fcp"]
        }
    )
    js: dict[str, int] = {}
    raw = 0
    with httpx.Client(timeout=30) as client:
        for url in before_paint:
            body = client.get(url).content
            raw += len(body)
            js[url.removeprefix(base_url)] = gzip_size(body)
    pdf_chunks = {
        p.name: round(gzip_size(p.read_bytes()) / 1000, 1)
        for p in sorted(UI_ASSETS.iterdir())
        if PDF_CHUNK.match(p.name)
    }
    loaded_names = {u.rsplit("/", 1)[-1].split("?", 1)[0] for u in idle_js}
    nav_keys = ["responseStart", "responseEnd", "domInteractive", "domContentLoaded", "load"]
    return {
        "cold": cold["fcp"],
        "fp": [s["fp"] if s["fp"] is not None else s["fcp"] for s in counted],
        "fcp": [s["fcp"] for s in counted],
        "nav": {k: round(statistics.median(s["nav"][k] for s in counted), 1) for k in nav_keys},
        "js": js,
        "js_raw": raw,
        "idle_js": sorted(u.removeprefix(base_url) for u in idle_js),
        "pdf_chunks": pdf_chunks,
        "pdf_loaded": bool(loaded_names & set(pdf_chunks)) or any(PDF_CHUNK.match(n) for n in loaded_names),
    }


def measure_stream(browser: Any, base_url: str, markers: list[str]) -> dict[str, Any]:
    context = browser.new_context(locale="en-US")
    context.add_init_script(script=PROBE_JS.replace("__MARKERS__", json.dumps(markers)))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base_url}/")
    page.get_by_test_id("question-input").fill(QUESTION)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def metrics() -> dict[str, float]:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    before = metrics()
    page.get_by_test_id("ask-button").click()
    page.wait_for_selector("[data-testid=copy-answer]", timeout=180_000)
    wait_for(page, "window.__bench.finalPaintAt !== null", 30)
    after = metrics()
    page.wait_for_timeout(300)  # the frame loop stops 250 ms after the final paint
    data = page.evaluate("window.__bench")
    data["page_errors"] = errors + data.pop("errors")
    keys = ["TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration"]
    data["main_thread_s"] = {k: round(after.get(k, 0) - before.get(k, 0), 3) for k in keys}
    context.close()
    return data


def run_bench(*, runs: int, tokens: int, rate: float, chunk_size: int, docs: Path) -> Report:
    from playwright.sync_api import sync_playwright

    answer, markers = make_answer(tokens)
    chunk_delay = chunk_size / CHARS_PER_TOKEN / rate
    script = Script(
        reasoning="The warranty policy answers this; the release notes add the firmware case. " * 2,
        answer=answer,
        chunk_size=chunk_size,
        chunk_delay=chunk_delay,
    )
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp, PacedFakeLLM(script) as llm:
        with ApiProcess(docs, llm.base_url, 8, Path(tmp)) as api, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                paint = measure_first_paint(browser, api.base_url, runs)
                stream = measure_stream(browser, api.base_url, markers)
                version = browser.version
            finally:
                browser.close()
    load_after = [round(x, 2) for x in os.getloadavg()]
    sent_s = (llm.last_sent or 0.0) - (llm.first_sent or 0.0)
    stream["sent"] = {"chunks": llm.paced, "seconds": sent_s, "chars": len(script.reasoning) + len(answer)}
    return build_report(
        paint, stream, answer, markers, chunk_size, chunk_delay, rate, runs, version, load_before, load_after
    )


def rounded(value: float | None) -> float:
    return float("nan") if value is None else round(value, 1)


def build_report(
    paint: dict[str, Any],
    s: dict[str, Any],
    answer: str,
    markers: list[str],
    chunk_size: int,
    chunk_delay: float,
    rate: float,
    runs: int,
    version: str,
    load_before: list[float],
    load_after: list[float],
) -> Report:
    lags = [p - r for p, r in zip(s["paintAt"], s["recvAt"], strict=True) if p is not None and r is not None]
    tenth = max(1, len(lags) // 10)
    final_event = s["recvAt"][-1]
    start = s["responseAt"] if s["responseAt"] is not None else s["askAt"]
    end = s["finalPaintAt"]
    window = [t for t in s["longTasks"] if end is not None and t["start"] < end and t["start"] + t["duration"] > start]
    frames = [
        t for t in s["frames"] if s["firstAnswerAt"] is not None and end is not None and s["firstAnswerAt"] <= t <= end
    ]
    intervals = [b - a for a, b in zip(frames, frames[1:], strict=False)]
    streamed = (s["lastAnswerAt"] - s["firstAnswerAt"]) / 1000 if s["firstAnswerAt"] is not None else float("nan")
    js_gz = sum(paint["js"].values())
    sent = s["sent"]
    report = Report(
        cpus=os.cpu_count() or 0,
        load_avg_before=load_before,
        load_avg_after=load_after,
        chromium=version,
        runs=runs,
        first_contentful_paint_cold_ms=rounded(paint["cold"]),
        first_contentful_paint_ms=[rounded(x) for x in paint["fcp"]],
        first_contentful_paint_median_ms=rounded(statistics.median(paint["fcp"])),
        first_paint_median_ms=rounded(statistics.median(paint["fp"])),
        navigation_median_ms=paint["nav"],
        js_before_first_paint=paint["js"],
        js_before_first_paint_gzip_kb=round(js_gz / 1000, 1),
        js_before_first_paint_raw_kb=round(paint["js_raw"] / 1000, 1),
        js_loaded_by_idle=paint["idle_js"],
        pdfjs_chunks_gzip_kb=paint["pdf_chunks"],
        pdfjs_loaded_with_page=paint["pdf_loaded"],
        answer_tokens=len(answer) // CHARS_PER_TOKEN,
        answer_chars=len(answer),
        chunk_size_chars=chunk_size,
        chunk_delay_s=round(chunk_delay, 4),
        target_tokens_per_s=rate,
        sent_tokens_per_s=round(sent["chars"] / CHARS_PER_TOKEN / sent["seconds"], 1)
        if sent["seconds"]
        else float("nan"),
        sent_seconds=round(sent["seconds"], 2),
        received_tokens_per_s=round(s["answerChars"] / CHARS_PER_TOKEN / streamed, 1) if streamed else float("nan"),
        received_seconds=round(streamed, 2),
        sse_events=s["events"],
        network_reads=s["reads"],
        checkpoints=len(markers),
        answer_renders=s["renders"],
        answer_full_rerenders=s["firstElementSwaps"],
        final_render_lag_ms=rounded(end - final_event if end is not None and final_event is not None else None),
        final_dom_after_event_ms=rounded(
            s["finalDomAt"] - final_event if s["finalDomAt"] is not None and final_event is not None else None
        ),
        final_paint_after_done_ms=rounded(end - s["doneAt"] if end is not None and s["doneAt"] is not None else None),
        checkpoint_lag_p50_ms=rounded(percentile(lags, 0.5)),
        checkpoint_lag_p95_ms=rounded(percentile(lags, 0.95)),
        checkpoint_lag_max_ms=rounded(max(lags, default=float("nan"))),
        checkpoint_lag_first_tenth_p50_ms=rounded(percentile(lags[:tenth], 0.5)),
        checkpoint_lag_last_tenth_p50_ms=rounded(percentile(lags[-tenth:], 0.5)),
        long_tasks_during_stream=len(window),
        long_tasks_over_100ms=sum(t["duration"] > LONG_TASK_LIMIT_MS for t in window),
        long_task_max_ms=rounded(max((t["duration"] for t in window), default=0.0)),
        long_task_total_ms=rounded(sum(t["duration"] for t in window)),
        frames=len(frames),
        frame_interval_p50_ms=rounded(percentile(intervals, 0.5)),
        frame_interval_p95_ms=rounded(percentile(intervals, 0.95)),
        frame_interval_max_ms=rounded(max(intervals, default=float("nan"))),
        frames_over_50ms=sum(i > 50 for i in intervals),
        main_thread_s=s["main_thread_s"],
        page_errors=s["page_errors"],
    )
    if not report.first_contentful_paint_median_ms <= FIRST_PAINT_LIMIT_MS:
        report.misses.append(
            f"median first contentful paint {report.first_contentful_paint_median_ms} ms "
            f"(limit {FIRST_PAINT_LIMIT_MS:.0f})"
        )
    if not report.js_before_first_paint_gzip_kb <= JS_GZIP_LIMIT_KB:
        report.misses.append(
            f"JS before first paint {report.js_before_first_paint_gzip_kb} KB gzipped (limit {JS_GZIP_LIMIT_KB:.0f})"
        )
    if report.pdfjs_loaded_with_page:
        report.misses.append("a PDF.js chunk is loaded with the page")
    if end is None or s["doneAt"] is None:
        report.misses.append("the final text was never painted or the stream never sent done")
    if not report.final_render_lag_ms <= LAG_LIMIT_MS:
        report.misses.append(f"final render lag {report.final_render_lag_ms} ms (limit {LAG_LIMIT_MS:.0f})")
    if report.long_tasks_over_100ms:
        report.misses.append(
            f"{report.long_tasks_over_100ms} long task(s) over {LONG_TASK_LIMIT_MS:.0f} ms while streaming "
            f"(max {report.long_task_max_ms} ms)"
        )
    if report.page_errors:
        report.misses.append(f"page errors: {report.page_errors[:3]}")
    report.passed = not report.misses
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh-context loads of / for the first-paint median")
    parser.add_argument("--tokens", type=int, default=5000, help="answer length, 4 characters a token")
    parser.add_argument("--rate", type=float, default=200.0, help="tokens per second the fake R1 streams")
    parser.add_argument("--chunk-size", type=int, default=8, help="characters per fake R1 delta")
    parser.add_argument("--docs", type=Path, default=ROOT / "data", help="folder to index as the knowledge base")
    parser.add_argument("--json", type=Path, help="write the report here")
    args = parser.parse_args(argv)
    if not (UI_ASSETS.parent / "index.html").is_file():
        raise SystemExit("the workspace is not built: run scripts/build_ui.sh")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    began = time.monotonic()
    report = run_bench(runs=args.runs, tokens=args.tokens, rate=args.rate, chunk_size=args.chunk_size, docs=args.docs)
    text = json.dumps({**asdict(report), "wall_s": round(time.monotonic() - began, 1)}, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
