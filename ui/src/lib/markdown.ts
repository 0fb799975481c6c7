/**
 * Markdown to safe HTML: marked with raw HTML escaped (never passed through), then DOMPurify
 * with a strict allow-list. Links keep only http(s)/mailto targets and open in a new tab.
 */

import DOMPurify from "dompurify";
import { Marked, type Tokens } from "marked";

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

const SAFE_URL = /^(?:https?:|mailto:)/i;

/** True for absolute http(s) and mailto URLs only. */
export function isSafeUrl(url: string): boolean {
  const trimmed = url.trim();
  if (!SAFE_URL.test(trimmed)) return false;
  try {
    const u = new URL(trimmed);
    return u.protocol === "http:" || u.protocol === "https:" || u.protocol === "mailto:";
  } catch {
    return false;
  }
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    // Raw HTML in the source (block or inline) is shown as text.
    html(token: Tokens.HTML | Tokens.Tag): string {
      return escapeHtml(token.text);
    },
    // Images would load remote content; show their alt text (and a safe link) instead.
    image(token: Tokens.Image): string {
      const alt = escapeHtml(token.text || token.href);
      return isSafeUrl(token.href) ? `<a href="${escapeHtml(token.href)}">${alt}</a>` : alt;
    },
  },
});

const ALLOWED_TAGS = [
  "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
  "i", "input", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
  "th", "thead", "tr", "ul",
];
const ALLOWED_ATTR = ["href", "title", "start", "align", "colspan", "rowspan", "type", "checked", "disabled"];

let purifier: ReturnType<typeof DOMPurify> | null = null;

function getPurifier(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const p = DOMPurify(window);
  p.addHook("uponSanitizeAttribute", (node, data) => {
    if (data.attrName === "href" && !isSafeUrl(data.attrValue)) data.keepAttr = false;
    // Task-list checkboxes only.
    if (node.nodeName === "INPUT" && data.attrName === "type" && data.attrValue !== "checkbox") {
      data.keepAttr = false;
    }
  });
  p.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A") {
      if (node.hasAttribute("href")) {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer");
      }
    }
    if (node.nodeName === "INPUT") {
      if (node.getAttribute("type") !== "checkbox") node.remove();
      else node.setAttribute("disabled", "");
    }
  });
  purifier = p;
  return p;
}

/** Sanitise an HTML string with the strict allow-list. */
export function sanitizeHtml(html: string): string {
  return getPurifier().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
    KEEP_CONTENT: true,
    RETURN_TRUSTED_TYPE: false,
  }) as string;
}

/** Render untrusted Markdown to sanitised HTML. */
export function renderMarkdown(markdown: string): string {
  const html = marked.parse(markdown, { async: false }) as string;
  return sanitizeHtml(html);
}

/**
 * The top-level blocks of a Markdown text, each with the source it was lexed from, so a
 * streaming answer re-renders only the block that is still growing. Reference-style link
 * definitions apply across blocks: a text that has any stays one block.
 */
export function markdownBlocks(markdown: string): string[] {
  const tokens = marked.lexer(markdown);
  if (Object.keys(tokens.links).length > 0) return [markdown];
  const blocks: string[] = [];
  for (const token of tokens) {
    if (token.type === "space" && blocks.length > 0) blocks[blocks.length - 1] += token.raw;
    else blocks.push(token.raw);
  }
  return blocks;
}
