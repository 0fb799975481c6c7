import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

// Each test loads fresh modules (the stores read localStorage when first imported), so Svelte's
// runtime is imported together with the component.
type Svelte = typeof import("svelte");
let svelte: Svelte;

async function start(): Promise<void> {
  svelte = await import("svelte");
  const { default: App } = await import("../src/App.svelte");
  app = svelte.mount(App, { target: document.body });
}

function flushSync(): void {
  svelte.flushSync();
}

const enc = new TextEncoder();

function sse(frames: string[], opts: { failAfter?: boolean } = {}): Response {
  let i = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await new Promise((r) => setTimeout(r, 5));
      if (i < frames.length) controller.enqueue(enc.encode(frames[i++]!));
      else if (opts.failAfter) controller.error(new TypeError("network error"));
      else controller.close();
    },
  });
  return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

const sources = {
  sources: [
    {
      id: 1, origin: "kb", title: "Guide.md", uri: "docs/guide.md", snippet: "Install with <pip>.", score: 0.9,
      doc_id: "d1", chunk_id: "c1", pages: [], section: "Setup", site: null, published_at: null,
    },
    {
      id: 2, origin: "web", title: "Blog", uri: "https://blog.example/post", snippet: "A web passage.", score: null,
      doc_id: null, chunk_id: null, pages: [], section: null, site: "blog.example", published_at: null,
    },
  ],
};

function ev(name: string, data: unknown): string {
  return `event: ${name}\r\ndata: ${JSON.stringify(data)}\r\n\r\n`;
}

async function until(check: () => boolean, ms = 2000): Promise<void> {
  const begin = Date.now();
  flushSync();
  while (!check()) {
    if (Date.now() - begin > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
    flushSync();
  }
}

const q = (id: string): HTMLElement | null => document.querySelector(`[data-testid="${id}"]`);
const qa = (id: string): HTMLElement[] => [...document.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

let app: Record<string, unknown> | null = null;

beforeEach(() => {
  localStorage.clear();
  sessionStorage.clear();
  document.body.innerHTML = "";
  location.hash = "";
});

afterEach(() => {
  if (app) void svelte.unmount(app);
  app = null;
  vi.unstubAllGlobals();
  vi.resetModules();
});

function ask(text: string): void {
  const input = q("question-input") as HTMLTextAreaElement;
  input.value = text;
  input.dispatchEvent(new Event("input", { bubbles: true }));
  flushSync();
  (q("ask-button") as HTMLButtonElement).click();
  flushSync();
}

describe("workspace", () => {
  it("streams sources, thinking and a cited answer, then sends history on the follow-up", async () => {
    const bodies: unknown[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init?: RequestInit) => {
        if (url === "/kbs") return Response.json({ knowledge_bases: [{ name: "docs", embedding_model: "m", dimension: 3, count: 2 }] });
        if (url === "/ask") {
          bodies.push(JSON.parse(init?.body as string));
          return sse([
            ev("sources", sources),
            ev("reasoning", { text: "Let me think" }),
            ev("answer", { text: "Use pip [citat" }),
            ev("answer", { text: "ion:1] and read [citation:2]. <img src=x onerror=alert(1)> [citation:5]" }),
            ev("warning", { message: "web search was slow" }),
            ev("done", { answer: "Use pip [citation:1] and read [citation:2]. <img src=x onerror=alert(1)> [citation:5]", reasoning: "Let me think", citations: [], model: "m", mode: "llm", notice: null, usage: {}, timings: {}, warnings: [] }),
          ]);
        }
        if (url.startsWith("/kbs/docs/chunks/c1")) {
          return Response.json({
            chunk: { chunk_id: "c1", doc_id: "d1", text: "cited text", pages: [], section: null, chunk_index: 1 },
            before: [{ chunk_id: "c0", doc_id: "d1", text: "before", pages: [], section: null, chunk_index: 0 }],
            after: [],
            document: {},
          });
        }
        return new Response("{}", { status: 404 });
      }),
    );
    await start();
    await until(() => (q("kb-select") as HTMLSelectElement).value === "docs");

    ask("How do I install?");
    await until(() => q("copy-answer") !== null);

    expect(qa("source-item")).toHaveLength(2);
    expect(q("thinking-panel")).not.toBeNull();
    expect(q("thinking-toggle")?.getAttribute("aria-expanded")).toBe("false");
    const chips = qa("citation-chip");
    expect(chips.map((c) => c.dataset.sourceId)).toEqual(["1", "2"]);
    expect(q("answer")?.querySelector("img")).toBeNull();
    expect(q("answer")?.textContent).toContain("[citation:5]");
    expect(q("warnings")?.textContent).toContain("web search was slow");

    chips[0]!.dispatchEvent(new FocusEvent("focusin", { bubbles: true }));
    flushSync();
    expect(q("citation-tooltip")?.textContent).toContain("Install with <pip>.");

    chips[0]!.click();
    flushSync();
    await until(() => q("chunk-context")?.querySelector(".cited") !== null);
    expect(q("chunk-context")?.querySelector(".cited")?.textContent).toContain("cited text");

    chips[1]!.click();
    flushSync();
    const link = q("source-panel")?.querySelector("a");
    expect(link?.getAttribute("rel")).toBe("noopener noreferrer");
    expect(link?.getAttribute("target")).toBe("_blank");

    (q("thinking-toggle") as HTMLButtonElement).click();
    flushSync();
    expect(q("thinking-panel")?.textContent).toContain("Let me think");

    ask("And then?");
    await until(() => qa("copy-answer").length === 2);
    expect((bodies[1] as { history: unknown }).history).toEqual([
      { role: "user", content: "How do I install?" },
      { role: "assistant", content: "Use pip [citation:1] and read [citation:2]. <img src=x onerror=alert(1)> [citation:5]" },
    ]);
  });

  it("keeps a partial answer marked incomplete when the connection drops", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        if (url === "/kbs") return Response.json({ knowledge_bases: [{ name: "docs", embedding_model: "m", dimension: 3, count: 2 }] });
        return sse([ev("sources", sources), ev("answer", { text: "Partial ans" })], { failAfter: true });
      }),
    );
    await start();
    await until(() => (q("kb-select") as HTMLSelectElement).value === "docs");
    ask("q");
    await until(() => q("answer-incomplete") !== null);
    expect(q("answer")?.textContent).toContain("Partial ans");
    expect(q("error-message")).toBeNull();
  });

  it("asks for the key on 401, keeps it in sessionStorage and retries", async () => {
    const seen: (string | null)[] = [];
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string, init?: RequestInit) => {
        const auth = new Headers(init?.headers).get("Authorization");
        seen.push(auth);
        if (auth !== "Bearer s3cret") return Response.json({ error: { message: "no", type: "auth", code: "unauthorized" } }, { status: 401 });
        return Response.json({ knowledge_bases: [{ name: "docs", embedding_model: "m", dimension: 3, count: 2 }] });
      }),
    );
    await start();
    await until(() => q("api-key-dialog") !== null);
    const input = q("api-key-input") as HTMLInputElement;
    input.value = "s3cret";
    input.dispatchEvent(new Event("input", { bubbles: true }));
    flushSync();
    (q("api-key-submit") as HTMLButtonElement).click();
    await until(() => (q("kb-select") as HTMLSelectElement).value === "docs");
    expect(seen).toEqual([null, "Bearer s3cret"]);
    expect(sessionStorage.getItem("askdocs.apiKey")).toBe("s3cret");
    expect(JSON.stringify({ ...localStorage })).not.toContain("s3cret");
    expect(q("api-key-dialog")).toBeNull();
  });

  it("shows the model-unavailable message and keeps the sources on an error event", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async (url: string) => {
        if (url === "/kbs") return Response.json({ knowledge_bases: [{ name: "docs", embedding_model: "m", dimension: 3, count: 2 }] });
        return sse([ev("sources", sources), ev("error", { error: { message: "upstream down", type: "upstream_error", code: "llm_unavailable" } })]);
      }),
    );
    await start();
    await until(() => (q("kb-select") as HTMLSelectElement).value === "docs");
    ask("q");
    await until(() => q("error-message") !== null);
    expect(q("error-message")?.dataset.errorKind).toBe("modelDown");
    expect(qa("source-item")).toHaveLength(2);
  });
});
