/** One /ask request as typed stream events. */

import { openAskStream } from "./api";
import { readSseStream, type SseEvent } from "./sse";
import type { AskRequest, DoneData, Source } from "./types";

export interface StreamError {
  message: string;
  type: string;
  code: string;
}

export interface AskHandlers {
  sources(sources: Source[]): void;
  reasoning(text: string): void;
  answer(text: string): void;
  warning(message: string): void;
  done(data: DoneData): void;
  error(err: StreamError): void;
}

/** How the stream ended: with `done`, with an `error` event, or without either (cut short). */
export type AskOutcome = "done" | "error" | "truncated";

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

function field<T>(obj: unknown, key: string, check: (v: unknown) => v is T): T | undefined {
  if (typeof obj !== "object" || obj === null) return undefined;
  const v = (obj as Record<string, unknown>)[key];
  return check(v) ? v : undefined;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isArray = (v: unknown): v is unknown[] => Array.isArray(v);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** Route one SSE event to the handler for its type; returns the outcome it implies, if any. */
export function dispatchAskEvent(ev: SseEvent, h: AskHandlers): AskOutcome | null {
  const data = parseJson(ev.data);
  switch (ev.event) {
    case "sources":
      h.sources((field(data, "sources", isArray) ?? []) as Source[]);
      return null;
    case "reasoning": {
      const text = field(data, "text", isString);
      if (text) h.reasoning(text);
      return null;
    }
    case "answer": {
      const text = field(data, "text", isString);
      if (text) h.answer(text);
      return null;
    }
    case "warning": {
      const message = field(data, "message", isString);
      if (message) h.warning(message);
      return null;
    }
    case "done":
      if (isObject(data)) h.done(data as unknown as DoneData);
      return "done";
    case "error": {
      const err = field(data, "error", isObject);
      h.error({
        message: isString(err?.message) ? err.message : "The answer failed.",
        type: isString(err?.type) ? err.type : "",
        code: isString(err?.code) ? err.code : "",
      });
      return "error";
    }
    default:
      return null;
  }
}

/**
 * Send the question and stream the events. HTTP errors before the stream starts reject with
 * ApiError; an abort rejects with an AbortError; a network drop mid-stream rejects with the
 * fetch error after the partial events were delivered.
 */
export async function askStream(req: AskRequest, signal: AbortSignal, h: AskHandlers): Promise<AskOutcome> {
  const res = await openAskStream(req, signal);
  if (!res.body) throw new Error("The response has no body.");
  let outcome: AskOutcome = "truncated";
  await readSseStream(res.body, (ev) => {
    const o = dispatchAskEvent(ev, h);
    if (o) outcome = o;
  });
  return outcome;
}
