import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../src/lib/api";
import { askStream, dispatchAskEvent, type AskHandlers } from "../src/lib/ask";
import { buildHistory, createTurn } from "../src/lib/conversations";
import { classifyError, errorMessage } from "../src/lib/errors";
import { findPassage } from "../src/lib/passage";

function recorder(): { log: string[]; h: AskHandlers } {
  const log: string[] = [];
  return {
    log,
    h: {
      sources: (s) => log.push(`sources:${s.length}`),
      reasoning: (t) => log.push(`reasoning:${t}`),
      answer: (t) => log.push(`answer:${t}`),
      warning: (m) => log.push(`warning:${m}`),
      done: (d) => log.push(`done:${d.mode}`),
      error: (e) => log.push(`error:${e.code}`),
    },
  };
}

function sseResponse(chunks: string[], failAfter = false, status = 200): Response {
  const enc = new TextEncoder();
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(enc.encode(chunks[i++]!));
      else if (failAfter) controller.error(new TypeError("network error"));
      else controller.close();
    },
  });
  return new Response(body, { status, headers: { "Content-Type": "text/event-stream" } });
}

afterEach(() => vi.unstubAllGlobals());

describe("dispatchAskEvent", () => {
  it("routes typed events and reports the outcome", () => {
    const { log, h } = recorder();
    expect(dispatchAskEvent({ event: "sources", data: '{"sources":[{"id":1}]}', id: "" }, h)).toBeNull();
    expect(dispatchAskEvent({ event: "reasoning", data: '{"text":"hm"}', id: "" }, h)).toBeNull();
    expect(dispatchAskEvent({ event: "answer", data: '{"text":"A"}', id: "" }, h)).toBeNull();
    expect(dispatchAskEvent({ event: "warning", data: '{"message":"w"}', id: "" }, h)).toBeNull();
    expect(dispatchAskEvent({ event: "done", data: '{"mode":"llm","answer":"A"}', id: "" }, h)).toBe("done");
    expect(dispatchAskEvent({ event: "error", data: '{"error":{"message":"m","type":"t","code":"upstream"}}', id: "" }, h)).toBe("error");
    expect(dispatchAskEvent({ event: "answer", data: "not json", id: "" }, h)).toBeNull();
    expect(log).toEqual(["sources:1", "reasoning:hm", "answer:A", "warning:w", "done:llm", "error:upstream"]);
  });
});

describe("askStream", () => {
  it("sends the question with Accept: text/event-stream and streams the events", async () => {
    const fetchMock = vi.fn(async () =>
      sseResponse(['event: sources\ndata: {"sources":[]}\n\n: ping\n\n', 'event: answer\ndata: {"text":"你"}\n\n', 'event: done\ndata: {"mode":"llm"}\n\n']),
    );
    vi.stubGlobal("fetch", fetchMock);
    const { log, h } = recorder();
    const outcome = await askStream(
      { question: "q", kb: "docs", stream: true, web: false, history: [] },
      new AbortController().signal,
      h,
    );
    expect(outcome).toBe("done");
    expect(log).toEqual(["sources:0", "answer:你", "done:llm"]);
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe("/ask");
    expect(new Headers(init.headers).get("Accept")).toBe("text/event-stream");
    expect(JSON.parse(init.body as string)).toMatchObject({ question: "q", kb: "docs", stream: true });
  });

  it("delivers partial events and then rejects when the connection drops", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => sseResponse(['event: answer\ndata: {"text":"part"}\n\n'], true)));
    const { log, h } = recorder();
    await expect(
      askStream({ question: "q", kb: "k", stream: true, web: false, history: [] }, new AbortController().signal, h),
    ).rejects.toThrow();
    expect(log).toEqual(["answer:part"]);
  });

  it("turns an HTTP error body into an ApiError with Retry-After", async () => {
    const body = JSON.stringify({ error: { message: "slow down", type: "rate_limit", code: "rate_limited" } });
    vi.stubGlobal("fetch", vi.fn(async () => new Response(body, { status: 429, headers: { "Retry-After": "7" } })));
    const err = await askStream(
      { question: "q", kb: "k", stream: true, web: false, history: [] },
      new AbortController().signal,
      recorder().h,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = classifyError(err, "ask");
    expect(e).toMatchObject({ kind: "rateLimited", retryAfter: 7 });
    expect(errorMessage(e)).toEqual({ key: "errRateLimited", params: { s: 7 } });
  });
});

describe("buildHistory", () => {
  it("sends questions and answers only, never reasoning or retrieval-only passage lists", () => {
    const a = { ...createTurn("first?", "k"), answer: "one [citation:1]", reasoning: "secret", mode: "llm" as const };
    const b = { ...createTurn("second?", "k"), answer: "1. passage", mode: "retrieval_only" as const };
    const history = buildHistory([a, b]);
    expect(history).toEqual([
      { role: "user", content: "first?" },
      { role: "assistant", content: "one [citation:1]" },
      { role: "user", content: "second?" },
    ]);
    expect(JSON.stringify(history)).not.toContain("secret");
  });
});

describe("classifyError", () => {
  it.each([
    [403, "noKb"],
    [404, "noKb"],
    [502, "modelDown"],
    [503, "modelDown"],
    [0, "network"],
    [500, "generic"],
  ])("status %i -> %s", (status, kind) => {
    expect(classifyError(new ApiError(status, "m"), "ask").kind).toBe(kind);
  });
});

describe("findPassage", () => {
  it("finds a passage spread over text items regardless of whitespace and hyphenation", () => {
    const items = ["Intro text.", "The quarterly reve-", "nue grew by", " 12 percent", "in Q3.", "Other"];
    expect(findPassage(items, "The quarterly revenue grew by 12 percent")).toEqual([1, 2, 3]);
  });

  it("returns null when nothing matches", () => {
    expect(findPassage(["alpha", "beta"], "completely different passage")).toBeNull();
  });
});
