import { describe, expect, it } from "vitest";
import { readSseStream, SseParser, type SseEvent } from "../src/lib/sse";

function parseAll(pieces: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const p = new SseParser((e) => events.push(e));
  for (const piece of pieces) p.feed(piece);
  p.end();
  return events;
}

function byteStream(bytes: Uint8Array, chunkSize: number): ReadableStream<Uint8Array> {
  let pos = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pos >= bytes.length) {
        controller.close();
        return;
      }
      controller.enqueue(bytes.slice(pos, pos + chunkSize));
      pos += chunkSize;
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  await readSseStream(stream, (e) => events.push(e));
  return events;
}

describe("SseParser", () => {
  it("dispatches named events on a blank line and defaults the type to message", () => {
    const events = parseAll(['event: sources\ndata: {"sources":[]}\n\n', "data: plain\n\n"]);
    expect(events).toEqual([
      { event: "sources", data: '{"sources":[]}', id: "" },
      { event: "message", data: "plain", id: "" },
    ]);
  });

  it("joins multi-line data with \\n and keeps inner spacing", () => {
    const events = parseAll(["data: first\ndata:second\ndata:  third\n\n"]);
    expect(events).toHaveLength(1);
    expect(events[0]!.data).toBe("first\nsecond\n third");
  });

  it("accepts CRLF, LF and CR line endings, including CRLF split across pieces", () => {
    const events = parseAll(["event: a\r", "\ndata: 1\r\n\r", "\nevent: b\rdata: 2\r\r", "data: 3\n\n"]);
    expect(events.map((e) => [e.event, e.data])).toEqual([
      ["a", "1"],
      ["b", "2"],
      ["message", "3"],
    ]);
  });

  it("ignores comments (keep-alives) and unknown fields", () => {
    const events = parseAll([": ping\n\n", ": ping\nfoo: bar\nevent: answer\ndata: x\n\n"]);
    expect(events).toEqual([{ event: "answer", data: "x", id: "" }]);
  });

  it("does not dispatch an event without data, and resets the type after a blank line", () => {
    const events = parseAll(["event: lonely\n\n", "data: y\n\n"]);
    expect(events).toEqual([{ event: "message", data: "y", id: "" }]);
  });

  it("tracks the last event id across events and ignores ids containing NUL", () => {
    const events = parseAll(["id: 7\ndata: a\n\n", "data: b\n\n", "id: bad\u0000\ndata: c\n\n"]);
    expect(events.map((e) => e.id)).toEqual(["7", "7", "7"]);
  });

  it("treats a field line without colon as an empty value and strips a leading BOM", () => {
    const events = parseAll(["\ufeffdata\n\n"]);
    expect(events).toEqual([{ event: "message", data: "", id: "" }]);
  });

  it("discards an unterminated event at the end of the stream", () => {
    const events = parseAll(["data: complete\n\n", "event: answer\ndata: partial"]);
    expect(events.map((e) => e.data)).toEqual(["complete"]);
  });

  it("handles a field split mid-name across pieces", () => {
    const events = parseAll(["ev", "ent: ans", "wer\nda", "ta: hel", "lo\n", "\n"]);
    expect(events).toEqual([{ event: "answer", data: "hello", id: "" }]);
  });
});

describe("readSseStream", () => {
  const text =
    ": ping\r\n\r\n" +
    'event: answer\r\ndata: {"text":"知识库中的文档说明了🙂 résumé"}\r\n\r\n' +
    'event: done\ndata: {"answer":"完成"}\n\n';
  const bytes = new TextEncoder().encode(text);

  it.each([1, 2, 3, 5, 7, 64])("decodes multi-byte characters split into %i-byte chunks", async (size) => {
    const events = await readAll(byteStream(bytes, size));
    expect(events.map((e) => e.event)).toEqual(["answer", "done"]);
    expect(JSON.parse(events[0]!.data).text).toBe("知识库中的文档说明了🙂 résumé");
    expect(JSON.parse(events[1]!.data).answer).toBe("完成");
    for (const e of events) expect(e.data).not.toContain("\ufffd");
  });

  it("rejects when the stream errors after delivering the events received so far", async () => {
    const enc = new TextEncoder();
    let step = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        step += 1;
        if (step === 1) controller.enqueue(enc.encode('event: answer\ndata: {"text":"部分"}\n\n'));
        else controller.error(new TypeError("network error"));
      },
    });
    const events: SseEvent[] = [];
    await expect(readSseStream(stream, (e) => events.push(e))).rejects.toThrow("network error");
    expect(events).toHaveLength(1);
  });
});
