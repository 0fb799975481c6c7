/**
 * The API key: kept in sessionStorage only (never localStorage, never in a URL), asked for
 * when a request is answered 401.
 */

const STORAGE_KEY = "askdocs.apiKey";

export type KeyPrompt = (rejected: boolean) => Promise<string | null>;

let prompt: KeyPrompt | null = null;
let pending: Promise<string | null> | null = null;

export function getApiKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

export function setApiKey(key: string | null): void {
  try {
    if (key) sessionStorage.setItem(STORAGE_KEY, key);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    /* storage unavailable: the key lives for this request only */
  }
}

/** Headers carrying the key, if there is one. */
export function authHeaders(): Record<string, string> {
  const key = getApiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** Register the UI function that asks the user for a key (resolves null when cancelled). */
export function setKeyPrompt(fn: KeyPrompt | null): void {
  prompt = fn;
}

/**
 * Ask for a (new) key after a 401. Concurrent callers share one prompt.
 * Resolves true when a key was entered, so the request may be retried.
 */
export async function requestNewKey(): Promise<boolean> {
  if (!prompt) return false;
  if (!pending) {
    const rejected = getApiKey() !== null;
    pending = prompt(rejected).finally(() => {
      pending = null;
    });
  }
  const key = await pending;
  if (!key) return false;
  setApiKey(key);
  return true;
}
