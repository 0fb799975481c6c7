/** Calls to the same-origin API, with the key header and JSON error bodies turned into ApiError. */

import { authHeaders, requestNewKey } from "./auth";
import type {
  ApiErrorBody,
  AskRequest,
  ChunkContext,
  DocumentInfo,
  DocumentPage,
  DocumentStatus,
  Job,
  KnowledgeBase,
  KnowledgeBaseDetail,
} from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string = "",
    readonly code: string = "",
    readonly retryAfter: number | null = null,
    readonly details: unknown = undefined,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** Status 0 means the request never got an HTTP answer (network failure). */
export const NETWORK_ERROR = 0;

function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function isErrorBody(value: unknown): value is ApiErrorBody {
  if (typeof value !== "object" || value === null) return false;
  const err = (value as { error?: unknown }).error;
  return typeof err === "object" && err !== null && typeof (err as { message?: unknown }).message === "string";
}

/** Build an ApiError from a status, the body text and the Retry-After header. */
export function errorFromBody(status: number, bodyText: string, retryAfter: string | null): ApiError {
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(bodyText);
  } catch {
    /* not JSON */
  }
  const wait = parseRetryAfter(retryAfter);
  if (isErrorBody(parsed)) {
    const e = parsed.error;
    return new ApiError(status, e.message, e.type ?? "", e.code ?? "", wait, e.details);
  }
  return new ApiError(status, bodyText.trim().slice(0, 300) || `HTTP ${status}`, "", "", wait);
}

export async function errorFromResponse(res: Response): Promise<ApiError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    /* body unreadable */
  }
  return errorFromBody(res.status, text, res.headers.get("Retry-After"));
}

/** fetch with the key; a 401 asks for the key and retries. Non-2xx answers throw ApiError. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(authHeaders())) headers.set(k, v);
    let res: Response;
    try {
      res = await fetch(path, { ...init, headers, credentials: "same-origin" });
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") throw err;
      throw new ApiError(NETWORK_ERROR, err instanceof Error ? err.message : String(err), "network");
    }
    if (res.status === 401 && (await requestNewKey())) continue;
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }
}

async function getJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await apiFetch(path, { ...init, headers: { Accept: "application/json", ...init.headers } });
  return (await res.json()) as T;
}

function sendJson<T>(method: string, path: string, body: unknown): Promise<T> {
  return getJson<T>(path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

const seg = encodeURIComponent;

export async function listKbs(): Promise<KnowledgeBase[]> {
  return (await getJson<{ knowledge_bases: KnowledgeBase[] }>("/kbs")).knowledge_bases;
}

export function getKb(kb: string): Promise<KnowledgeBaseDetail> {
  return getJson(`/kbs/${seg(kb)}`);
}

export function listDocuments(
  kb: string,
  opts: { status?: DocumentStatus; offset?: number; limit?: number } = {},
): Promise<DocumentPage> {
  const q = new URLSearchParams();
  if (opts.status) q.set("status", opts.status);
  q.set("offset", String(opts.offset ?? 0));
  q.set("limit", String(opts.limit ?? 50));
  return getJson(`/kbs/${seg(kb)}/documents?${q.toString()}`);
}

export function getDocument(kb: string, docId: string): Promise<DocumentInfo> {
  return getJson(`/kbs/${seg(kb)}/documents/${seg(docId)}`);
}

export async function getDocumentFile(kb: string, docId: string, signal?: AbortSignal): Promise<Blob> {
  const res = await apiFetch(`/kbs/${seg(kb)}/documents/${seg(docId)}/file`, { signal });
  return res.blob();
}

export function getChunk(kb: string, chunkId: string, context = 2, signal?: AbortSignal): Promise<ChunkContext> {
  return getJson(`/kbs/${seg(kb)}/chunks/${seg(chunkId)}?context=${context}`, { signal });
}

export async function deleteDocument(kb: string, docId: string): Promise<string[]> {
  const q = new URLSearchParams({ doc_id: docId });
  const res = await getJson<{ deleted: string[] }>(`/kbs/${seg(kb)}/documents?${q.toString()}`, {
    method: "DELETE",
  });
  return res.deleted;
}

export async function startJob(kb: string, paths: string[] = [], full = false): Promise<Job> {
  return (await sendJson<{ job: Job }>("POST", `/kbs/${seg(kb)}/jobs`, { paths, full })).job;
}

export function getJob(id: string): Promise<Job> {
  return getJson(`/jobs/${seg(id)}`);
}

export const FINAL_JOB_STATES: ReadonlySet<string> = new Set(["succeeded", "partial", "failed"]);

/** Poll a job every `intervalMs` until its state is final; `onUpdate` sees every snapshot. */
export async function pollJob(
  id: string,
  onUpdate: (job: Job) => void,
  signal?: AbortSignal,
  intervalMs = 500,
): Promise<Job> {
  for (;;) {
    const job = await getJob(id);
    onUpdate(job);
    if (FINAL_JOB_STATES.has(job.state)) return job;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, intervalMs);
      signal?.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          reject(new DOMException("Aborted", "AbortError"));
        },
        { once: true },
      );
    });
  }
}

/** Start the /ask stream; resolves to the response whose body is the SSE stream. */
export function openAskStream(req: AskRequest, signal: AbortSignal): Promise<Response> {
  return apiFetch("/ask", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(req),
    signal,
  });
}

export interface UploadHandle {
  promise: Promise<{ job: Job; files: string[] }>;
  abort: () => void;
}

/** Upload one file with XMLHttpRequest so progress can be reported (0..1). */
export function uploadFile(kb: string, file: File, onProgress: (fraction: number) => void): UploadHandle {
  let xhr: XMLHttpRequest | null = null;
  let aborted = false;
  const attempt = (): Promise<{ job: Job; files: string[] }> =>
    new Promise((resolve, reject) => {
      const req = new XMLHttpRequest();
      xhr = req;
      req.open("POST", `/kbs/${seg(kb)}/documents`);
      for (const [k, v] of Object.entries(authHeaders())) req.setRequestHeader(k, v);
      req.setRequestHeader("Accept", "application/json");
      req.upload.onprogress = (e) => {
        if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
      };
      req.onload = () => {
        if (req.status >= 200 && req.status < 300) {
          onProgress(1);
          try {
            resolve(JSON.parse(req.responseText) as { job: Job; files: string[] });
          } catch {
            reject(new ApiError(req.status, "Unreadable answer from the server."));
          }
        } else {
          reject(errorFromBody(req.status, req.responseText, req.getResponseHeader("Retry-After")));
        }
      };
      req.onerror = () => reject(new ApiError(NETWORK_ERROR, "Network error", "network"));
      req.onabort = () => reject(new DOMException("Aborted", "AbortError"));
      const form = new FormData();
      form.append("files", file, file.name);
      req.send(form);
    });
  const run = async (): Promise<{ job: Job; files: string[] }> => {
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (!aborted && err instanceof ApiError && err.status === 401 && (await requestNewKey())) {
          onProgress(0);
          continue;
        }
        throw err;
      }
    }
  };
  return {
    promise: run(),
    abort: () => {
      aborted = true;
      (xhr as XMLHttpRequest | null)?.abort();
    },
  };
}
