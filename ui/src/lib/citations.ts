/**
 * Inline citation markers `[citation:N]`: chips in rendered answers, footnotes in copied
 * Markdown, and the human-readable location of a source.
 */

import { markdownBlocks, renderMarkdown } from "./markdown";
import type { Source } from "./types";

const MARKER = /\[citation:(\d+)\]/g;

/** Tags whose text is never turned into chips (code is literal; a button inside a link is invalid). */
const SKIP = new Set(["CODE", "PRE", "A", "BUTTON"]);

function textNodes(root: Node): Text[] {
  const out: Text[] = [];
  const walk = (node: Node): void => {
    for (let child = node.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === Node.TEXT_NODE) out.push(child as Text);
      else if (child.nodeType === Node.ELEMENT_NODE && !SKIP.has((child as Element).nodeName)) walk(child);
    }
  };
  walk(root);
  return out;
}

function makeChip(doc: Document, source: Source): HTMLButtonElement {
  const b = doc.createElement("button");
  b.type = "button";
  b.className = "citation-chip";
  b.setAttribute("data-testid", "citation-chip");
  b.setAttribute("data-source-id", String(source.id));
  b.setAttribute("aria-label", `[${source.id}] ${source.title}`);
  b.textContent = String(source.id);
  return b;
}

/** Replace markers of known sources inside `root` with chip buttons; unknown ones stay text. */
export function insertCitationChips(root: Node, sources: readonly Source[]): void {
  const byId = new Map(sources.map((s) => [s.id, s]));
  const doc = root.ownerDocument ?? (root as Document);
  for (const node of textNodes(root)) {
    const text = node.data;
    MARKER.lastIndex = 0;
    if (!MARKER.test(text)) continue;
    MARKER.lastIndex = 0;
    const frag = doc.createDocumentFragment();
    let last = 0;
    let changed = false;
    for (let m = MARKER.exec(text); m; m = MARKER.exec(text)) {
      const source = byId.get(Number(m[1]));
      if (!source) continue;
      if (m.index > last) frag.append(text.slice(last, m.index));
      frag.append(makeChip(doc, source));
      last = m.index + m[0].length;
      changed = true;
    }
    if (!changed) continue;
    if (last < text.length) frag.append(text.slice(last));
    node.replaceWith(frag);
  }
}

/** Markdown answer to sanitised HTML with citation chips. */
export function renderAnswerHtml(markdown: string, sources: readonly Source[]): string {
  const template = document.createElement("template");
  template.innerHTML = renderMarkdown(markdown);
  insertCitationChips(template.content, sources);
  return template.innerHTML;
}

/**
 * A streaming answer rendered block by block: a block whose text did not change keeps the HTML
 * (and so the DOM, and a focused chip) it had; only the growing last block is rendered again.
 */
export class AnswerRenderer {
  private cache = new Map<string, string>();
  private sources: readonly Source[] = [];

  render(markdown: string, sources: readonly Source[]): string[] {
    if (sources !== this.sources) {
      this.cache.clear(); // chips depend on the sources
      this.sources = sources;
    }
    const next = new Map<string, string>();
    const html = markdownBlocks(markdown).map((block) => {
      const done = next.get(block) ?? this.cache.get(block) ?? renderAnswerHtml(block, sources);
      next.set(block, done);
      return done;
    });
    this.cache = next;
    return html;
  }
}

/** Ids of the known sources cited in `answer`, in order of first appearance. */
export function citedIds(answer: string, sources: readonly Source[]): number[] {
  const known = new Set(sources.map((s) => s.id));
  const seen: number[] = [];
  for (const m of answer.matchAll(MARKER)) {
    const id = Number(m[1]);
    if (known.has(id) && !seen.includes(id)) seen.push(id);
  }
  return seen;
}

/** The answer with `[citation:N]` as `[^N]` footnotes and their definitions appended. */
export function toFootnoteMarkdown(answer: string, sources: readonly Source[]): string {
  const byId = new Map(sources.map((s) => [s.id, s]));
  const body = answer.replace(MARKER, (whole, n: string) => (byId.has(Number(n)) ? `[^${n}]` : whole));
  const ids = citedIds(answer, sources);
  if (ids.length === 0) return body;
  const defs = ids.map((id) => {
    const s = byId.get(id) as Source;
    const title = s.title.replace(/\s+/g, " ").trim() || s.uri;
    return s.uri ? `[^${id}]: ${title} — ${s.uri}` : `[^${id}]: ${title}`;
  });
  return `${body.replace(/\s+$/, "")}\n\n${defs.join("\n")}\n`;
}

export interface LocationLabels {
  page: string;
  pages: string;
}

/** "pp. 3–4 · Section · site" style location of a source. */
export function sourceLocation(source: Source, labels: LocationLabels): string {
  const parts: string[] = [];
  const pages = [...new Set(source.pages)].sort((a, b) => a - b);
  if (pages.length === 1) parts.push(`${labels.page} ${pages[0]}`);
  else if (pages.length > 1) {
    const first = pages[0] as number;
    const last = pages[pages.length - 1] as number;
    const contiguous = last - first === pages.length - 1;
    parts.push(`${labels.pages} ${contiguous ? `${first}–${last}` : pages.join(", ")}`);
  }
  if (source.section) parts.push(source.section);
  if (source.site) parts.push(source.site);
  return parts.join(" · ");
}

/** Whether a kb source points at a PDF file. */
export function isPdfSource(source: Source): boolean {
  if (source.origin !== "kb" || !source.doc_id) return false;
  return [source.title, source.uri].some((s) => /\.pdf(?:$|[?#])/i.test(s.trim()));
}
