/**
 * Server-sent events parsing following the WHATWG "event stream interpretation" rules.
 *
 * `SseParser` consumes decoded text in arbitrary pieces (a line, an event or a field may be
 * split anywhere, including between the CR and LF of a CRLF). `readSseStream` decodes a byte
 * stream with a streaming `TextDecoder`, so a multi-byte character split across chunks is
 * reassembled instead of becoming U+FFFD.
 */

export interface SseEvent {
  /** The event type; "message" when the stream gave no `event:` field. */
  event: string;
  /** The data lines joined by "\n". */
  data: string;
  /** The last event ID seen so far (it persists across events, per the spec). */
  id: string;
}

export type SseHandler = (event: SseEvent) => void;

export class SseParser {
  private buffer = "";
  private pendingCR = false;
  private started = false;
  private eventType = "";
  private data = "";
  private hasData = false;
  private lastEventId = "";
  /** Reconnection time the stream asked for, in milliseconds (informational). */
  retry: number | null = null;

  constructor(private readonly onEvent: SseHandler) {}

  /** Feed the next piece of decoded text. */
  feed(text: string): void {
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.pendingCR) {
      // The previous piece ended with CR; an LF right after it belongs to the same line end.
      this.pendingCR = false;
      if (text.startsWith("\n")) text = text.slice(1);
    }
    let start = 0;
    const buf = this.buffer + text;
    const offset = this.buffer.length;
    this.buffer = "";
    for (let i = offset; i < buf.length; i++) {
      const ch = buf.charCodeAt(i);
      if (ch !== 0x0a && ch !== 0x0d) continue;
      this.processLine(buf.slice(start, i));
      if (ch === 0x0d) {
        if (i + 1 < buf.length) {
          if (buf.charCodeAt(i + 1) === 0x0a) i++;
        } else {
          this.pendingCR = true;
        }
      }
      start = i + 1;
    }
    this.buffer = buf.slice(start);
  }

  /** The stream ended: an event that was not terminated by a blank line is discarded. */
  end(): void {
    this.buffer = "";
    this.pendingCR = false;
    this.resetEvent();
  }

  private resetEvent(): void {
    this.eventType = "";
    this.data = "";
    this.hasData = false;
  }

  private processLine(line: string): void {
    if (line === "") {
      this.dispatch();
      return;
    }
    if (line.charCodeAt(0) === 0x3a /* ':' */) return; // comment / keep-alive
    const colon = line.indexOf(":");
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = "";
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
    }
    switch (field) {
      case "event":
        this.eventType = value;
        break;
      case "data":
        this.data += this.hasData ? "\n" + value : value;
        this.hasData = true;
        break;
      case "id":
        if (!value.includes("\u0000")) this.lastEventId = value;
        break;
      case "retry":
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(): void {
    if (!this.hasData) {
      this.resetEvent();
      return;
    }
    const event: SseEvent = {
      event: this.eventType || "message",
      data: this.data,
      id: this.lastEventId,
    };
    this.resetEvent();
    this.onEvent(event);
  }
}

/**
 * Read an SSE byte stream to its end, calling `onEvent` for each dispatched event.
 * Rejects when the stream fails (network drop, abort); resolves when it ends cleanly.
 */
export async function readSseStream(
  body: ReadableStream<Uint8Array>,
  onEvent: SseHandler,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder("utf-8");
  const parser = new SseParser(onEvent);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (value && value.byteLength > 0) parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
    parser.end();
  } finally {
    reader.releaseLock();
  }
}
