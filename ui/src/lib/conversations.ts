/** Conversations kept in the browser (localStorage): model, persistence and history building. */

import type { HistoryMessage, Source } from "./types";

export type TurnStatus = "streaming" | "done" | "incomplete" | "stopped" | "error";

export interface TurnError {
  /** An i18n-independent description (see errors.ts) rendered at display time. */
  kind: string;
  message: string;
  retryAfter: number | null;
}

export interface Turn {
  id: string;
  question: string;
  kb: string;
  sources: Source[];
  reasoning: string;
  answer: string;
  warnings: string[];
  notice: string | null;
  mode: "llm" | "retrieval_only" | null;
  model: string | null;
  status: TurnStatus;
  error: TurnError | null;
  startedAt: number;
  /** When the first answer delta (or the end) arrived; ends the "thinking" clock. */
  reasoningEndedAt: number | null;
}

export interface Conversation {
  id: string;
  title: string;
  /** True once the user renamed it; otherwise the first question names it. */
  titled: boolean;
  createdAt: number;
  updatedAt: number;
  turns: Turn[];
}

const STORAGE_KEY = "askdocs.conversations.v1";

export function newId(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export function createConversation(now = Date.now()): Conversation {
  return { id: newId(), title: "", titled: false, createdAt: now, updatedAt: now, turns: [] };
}

export function createTurn(question: string, kb: string, now = Date.now()): Turn {
  return {
    id: newId(),
    question,
    kb,
    sources: [],
    reasoning: "",
    answer: "",
    warnings: [],
    notice: null,
    mode: null,
    model: null,
    status: "streaming",
    error: null,
    startedAt: now,
    reasoningEndedAt: null,
  };
}

/** A title from the first question: one line, at most 60 characters. */
export function titleFrom(question: string): string {
  const line = question.replace(/\s+/g, " ").trim();
  return line.length > 60 ? `${line.slice(0, 59)}…` : line;
}

/**
 * History for a follow-up: the user questions and the assistant answers of earlier turns, never
 * the reasoning. Retrieval-only passage lists and empty answers are not sent as answers.
 */
export function buildHistory(turns: readonly Turn[]): HistoryMessage[] {
  const history: HistoryMessage[] = [];
  for (const turn of turns) {
    history.push({ role: "user", content: turn.question });
    if (turn.answer.trim() && turn.mode !== "retrieval_only") {
      history.push({ role: "assistant", content: turn.answer });
    }
  }
  return history;
}

function isConversation(v: unknown): v is Conversation {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Partial<Conversation>;
  return typeof c.id === "string" && typeof c.title === "string" && Array.isArray(c.turns);
}

/** Load saved conversations; turns that were streaming when the page closed are incomplete. */
export function loadConversations(storage: Storage = localStorage): Conversation[] {
  try {
    const raw = storage.getItem(STORAGE_KEY);
    if (!raw) return [];
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(isConversation).map((c) => ({
      ...c,
      turns: c.turns.map((t) => (t.status === "streaming" ? { ...t, status: "incomplete" as const } : t)),
    }));
  } catch {
    return [];
  }
}

export function saveConversations(conversations: readonly Conversation[], storage: Storage = localStorage): void {
  try {
    storage.setItem(STORAGE_KEY, JSON.stringify(conversations));
  } catch {
    /* quota exceeded or storage disabled: keep them in memory */
  }
}
