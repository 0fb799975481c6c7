/** Reactive conversations and the question/answer cycle of the active one. */

import { askStream, type AskOutcome } from "./ask";
import {
  buildHistory,
  createConversation,
  createTurn,
  loadConversations,
  saveConversations,
  titleFrom,
  type Conversation,
  type Turn,
} from "./conversations";
import { classifyError, classifyStreamError } from "./errors";
import { FrameBatcher } from "./frames";
import { settings, webParam } from "./settings.svelte";

function initial(): { list: Conversation[]; activeId: string } {
  const list = loadConversations();
  if (list.length === 0) list.push(createConversation());
  return { list, activeId: list[0]!.id };
}

const init = initial();

export const chat = $state({
  conversations: init.list,
  activeId: init.activeId,
  streaming: false,
});

let controller: AbortController | null = null;
let saveTimer: ReturnType<typeof setTimeout> | null = null;

export function persist(immediate = false): void {
  if (saveTimer) clearTimeout(saveTimer);
  saveTimer = null;
  const write = (): void => saveConversations($state.snapshot(chat.conversations) as Conversation[]);
  if (immediate) write();
  else saveTimer = setTimeout(write, 400);
}

export function activeConversation(): Conversation {
  const found = chat.conversations.find((c) => c.id === chat.activeId);
  if (found) return found;
  const first = chat.conversations[0];
  if (first) {
    chat.activeId = first.id;
    return first;
  }
  const c = createConversation();
  chat.conversations.push(c);
  chat.activeId = c.id;
  return chat.conversations[0]!;
}

export function newConversation(): void {
  stop();
  const current = activeConversation();
  if (current.turns.length === 0) return; // already on an empty one
  const c = createConversation();
  chat.conversations.unshift(c);
  chat.activeId = c.id;
  persist(true);
}

export function selectConversation(id: string): void {
  if (id === chat.activeId) return;
  stop();
  chat.activeId = id;
}

export function renameConversation(id: string, title: string): void {
  const c = chat.conversations.find((x) => x.id === id);
  const clean = title.replace(/\s+/g, " ").trim();
  if (!c || !clean) return;
  c.title = clean;
  c.titled = true;
  persist(true);
}

export function deleteConversation(id: string): void {
  if (id === chat.activeId) stop();
  const i = chat.conversations.findIndex((c) => c.id === id);
  if (i < 0) return;
  chat.conversations.splice(i, 1);
  if (chat.conversations.length === 0) chat.conversations.push(createConversation());
  if (!chat.conversations.some((c) => c.id === chat.activeId)) chat.activeId = chat.conversations[0]!.id;
  persist(true);
}

/** Abort the running answer (the server cancels the upstream call when the fetch is aborted). */
export function stop(): void {
  controller?.abort();
}

function endReasoning(turn: Turn): void {
  if (turn.reasoningEndedAt === null) turn.reasoningEndedAt = Date.now();
}

export async function ask(question: string): Promise<void> {
  const text = question.trim();
  if (!text || chat.streaming || !settings.kb) return;
  const conv = activeConversation();
  const history = buildHistory(conv.turns);
  conv.turns.push(createTurn(text, settings.kb));
  // Work on the reactive proxy so that every mutation updates the view.
  const turn = conv.turns[conv.turns.length - 1]!;
  if (!conv.titled && !conv.title) conv.title = titleFrom(text);
  conv.updatedAt = Date.now();
  chat.streaming = true;
  const ctl = new AbortController();
  controller = ctl;
  persist(true);
  let outcome: AskOutcome | "aborted" | "failed" = "truncated";
  const reasoning = new FrameBatcher((d) => {
    turn.reasoning += d;
  });
  const answer = new FrameBatcher((d) => {
    endReasoning(turn);
    turn.answer += d;
    persist();
  });
  const flush = (): void => {
    reasoning.flush();
    answer.flush();
  };
  try {
    outcome = await askStream(
      { question: text, kb: settings.kb, stream: true, web: webParam(settings.web), history },
      ctl.signal,
      {
        sources: (s) => {
          turn.sources = s;
        },
        reasoning: (d) => reasoning.push(d),
        answer: (d) => {
          reasoning.flush(); // the reasoning ends where the answer begins
          answer.push(d);
        },
        warning: (m) => {
          if (!turn.warnings.includes(m)) turn.warnings.push(m);
        },
        done: (data) => {
          flush();
          endReasoning(turn);
          if (typeof data.answer === "string" && data.answer) turn.answer = data.answer;
          if (!turn.reasoning && data.reasoning) turn.reasoning = data.reasoning;
          turn.mode = data.mode ?? "llm";
          turn.model = data.model ?? null;
          turn.notice = data.notice ?? null;
          for (const w of data.warnings ?? []) if (!turn.warnings.includes(w)) turn.warnings.push(w);
        },
        error: (e) => {
          flush();
          turn.error = classifyStreamError(e);
        },
      },
    );
  } catch (err) {
    flush();
    if (ctl.signal.aborted) outcome = "aborted";
    else {
      outcome = "failed";
      const started = turn.sources.length > 0 || turn.answer !== "" || turn.reasoning !== "";
      const classified = classifyError(err, "ask");
      // A drop after the stream began keeps the partial answer and marks it incomplete.
      if (started && classified.kind === "network") outcome = "truncated";
      else turn.error = classified;
    }
  } finally {
    flush();
    endReasoning(turn);
    turn.status =
      outcome === "done"
        ? "done"
        : outcome === "aborted"
          ? "stopped"
          : outcome === "error" || outcome === "failed"
            ? "error"
            : "incomplete";
    if (controller === ctl) controller = null;
    chat.streaming = false;
    conv.updatedAt = Date.now();
    persist(true);
  }
}
