/** API failures as plain sentences that say what to do. */

import { ApiError, NETWORK_ERROR } from "./api";
import type { MessageKey } from "./i18n";
import type { TurnError } from "./conversations";

export type ErrorContext = "kb" | "item" | "ask" | "upload";

/** Classify an error into a `TurnError` (stored with conversations, translated when shown). */
export function classifyError(err: unknown, context: ErrorContext = "kb"): TurnError {
  if (err instanceof ApiError) {
    const base = { message: err.message, retryAfter: err.retryAfter };
    switch (true) {
      case err.status === NETWORK_ERROR:
        return { ...base, kind: "network" };
      case err.status === 401:
        return { ...base, kind: "unauthorized" };
      case err.status === 403 || (err.status === 404 && context !== "item"):
        return { ...base, kind: "noKb" };
      case err.status === 404:
        return { ...base, kind: "notFound" };
      case err.status === 410:
        return { ...base, kind: "gone" };
      case err.status === 413:
        return { ...base, kind: "tooLarge" };
      case err.status === 429:
        return { ...base, kind: "rateLimited" };
      case err.status === 502 || err.status === 503 || err.status === 504:
        return { ...base, kind: "modelDown" };
      default:
        return { ...base, kind: "generic" };
    }
  }
  if (err instanceof TypeError) return { kind: "network", message: err.message, retryAfter: null };
  return { kind: "generic", message: err instanceof Error ? err.message : String(err), retryAfter: null };
}

/** Upstream failures inside the stream (`error` event) that mean the model is down. */
export function classifyStreamError(err: { message: string; type: string; code: string }): TurnError {
  const text = `${err.type} ${err.code}`.toLowerCase();
  const kind = /rate|429|quota/.test(text) ? "rateLimited" : "modelDown";
  return { kind, message: err.message, retryAfter: null };
}

/** The i18n key and parameters for a classified error. */
export function errorMessage(e: TurnError): { key: MessageKey; params: Record<string, string | number> } {
  switch (e.kind) {
    case "network":
      return { key: "errNetwork", params: {} };
    case "unauthorized":
      return { key: "errUnauthorized", params: {} };
    case "noKb":
      return { key: "errNoKb", params: {} };
    case "notFound":
      return { key: "errNotFound", params: {} };
    case "gone":
      return { key: "errGone", params: {} };
    case "tooLarge":
      return { key: "errTooLarge", params: {} };
    case "rateLimited":
      return e.retryAfter !== null
        ? { key: "errRateLimited", params: { s: e.retryAfter } }
        : { key: "errRateLimitedNoWait", params: {} };
    case "modelDown":
      return { key: "errModelDown", params: {} };
    default:
      return { key: "errGeneric", params: { message: e.message } };
  }
}
