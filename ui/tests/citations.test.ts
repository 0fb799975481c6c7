import { describe, expect, it } from "vitest";
import {
  AnswerRenderer,
  citedIds,
  isPdfSource,
  renderAnswerHtml,
  sourceLocation,
  toFootnoteMarkdown,
} from "../src/lib/citations";
import type { Source } from "../src/lib/types";

function source(id: number, over: Partial<Source> = {}): Source {
  return {
    id,
    origin: "kb",
    title: `Doc ${id}.pdf`,
    uri: `docs/doc${id}.pdf`,
    snippet: `Passage ${id} <b>text</b>`,
    score: 0.5,
    doc_id: `d${id}`,
    chunk_id: `c${id}`,
    pages: [id],
    section: null,
    site: null,
    published_at: null,
    ...over,
  };
}

function dom(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

describe("renderAnswerHtml", () => {
  const sources = [source(1), source(2, { origin: "web", title: "News", uri: "https://news.example/x" })];

  it("turns markers of known sources into chip buttons with their id", () => {
    const el = dom(renderAnswerHtml("Revenue grew [citation:1] while costs fell [citation:2].", sources));
    const chips = [...el.querySelectorAll("button.citation-chip")];
    expect(chips.map((c) => c.getAttribute("data-source-id"))).toEqual(["1", "2"]);
    expect(chips.map((c) => c.textContent)).toEqual(["1", "2"]);
    for (const c of chips) {
      expect(c.getAttribute("data-testid")).toBe("citation-chip");
      expect(c.getAttribute("type")).toBe("button");
    }
    expect(el.textContent).not.toContain("[citation:");
  });

  it("leaves markers of unknown ids as plain text, never links", () => {
    const el = dom(renderAnswerHtml("Claim [citation:9] and [citation:1].", sources));
    expect(el.querySelectorAll("button")).toHaveLength(1);
    expect(el.querySelector("a")).toBeNull();
    expect(el.textContent).toContain("[citation:9]");
  });

  it("handles adjacent markers and markers inside emphasis and lists", () => {
    const el = dom(renderAnswerHtml("- **fact [citation:1][citation:2]**\n- other", sources));
    const chips = el.querySelectorAll("strong button.citation-chip");
    expect(chips).toHaveLength(2);
  });

  it("does not turn markers inside code into chips", () => {
    const el = dom(renderAnswerHtml("Use `[citation:1]` literally.\n\n```\n[citation:2]\n```", sources));
    expect(el.querySelectorAll("button")).toHaveLength(0);
    expect(el.querySelector("code")?.textContent).toBe("[citation:1]");
  });

  it("keeps the chip label as text so a malicious title cannot inject markup", () => {
    const evil = [source(3, { title: '"><img src=x onerror=alert(1)>' })];
    const el = dom(renderAnswerHtml("See [citation:3]", evil));
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector("button")?.getAttribute("aria-label")).toContain("<img");
  });

  it("still sanitises the surrounding answer", () => {
    const el = dom(renderAnswerHtml("<img src=x onerror=alert(1)> [citation:1]", sources));
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelectorAll("button")).toHaveLength(1);
  });
});

describe("toFootnoteMarkdown", () => {
  const sources = [source(1, { title: "Annual report.pdf", uri: "reports/annual.pdf" }), source(2)];

  it("turns markers into footnotes and appends definitions in order of first use", () => {
    const md = toFootnoteMarkdown("B [citation:2] and A [citation:1], again [citation:2].", sources);
    expect(md).toBe(
      "B [^2] and A [^1], again [^2].\n\n[^2]: Doc 2.pdf — docs/doc2.pdf\n[^1]: Annual report.pdf — reports/annual.pdf\n",
    );
  });

  it("leaves unknown markers untouched and adds nothing when there are no citations", () => {
    expect(toFootnoteMarkdown("Nothing [citation:7].", sources)).toBe("Nothing [citation:7].");
  });

  it("lists each cited id once", () => {
    expect(citedIds("[citation:1][citation:1][citation:3][citation:2]", sources)).toEqual([1, 2]);
  });
});

describe("sourceLocation and isPdfSource", () => {
  const labels = { page: "p.", pages: "pp." };

  it("formats pages, section and site", () => {
    expect(sourceLocation(source(1, { pages: [4, 3], section: "Results" }), labels)).toBe("pp. 3–4 · Results");
    expect(sourceLocation(source(1, { pages: [2, 5] }), labels)).toBe("pp. 2, 5");
    expect(sourceLocation(source(1, { pages: [], site: "news.example" }), labels)).toBe("news.example");
  });

  it("recognises PDF kb sources only", () => {
    expect(isPdfSource(source(1))).toBe(true);
    expect(isPdfSource(source(1, { title: "Notes.md", uri: "notes.md" }))).toBe(false);
    expect(isPdfSource(source(1, { origin: "web", uri: "https://x.example/a.pdf" }))).toBe(false);
    expect(isPdfSource(source(1, { doc_id: null }))).toBe(false);
  });
});

describe("AnswerRenderer", () => {
  const sources = [source(1), source(2)];

  it("reuses the HTML of blocks that did not change while the last one grows", () => {
    const r = new AnswerRenderer();
    const first = r.render("Claim one [citation:1].\n\nClaim tw", sources);
    const second = r.render("Claim one [citation:1].\n\nClaim two [citation:2].", sources);
    expect(second[0]).toBe(first[0]);
    expect(second[1]).not.toBe(first[1]);
    expect(dom(second.join("")).querySelectorAll("button.citation-chip").length).toBe(2);
  });

  it("renders again when the sources change (chips depend on them)", () => {
    const r = new AnswerRenderer();
    const without = r.render("Claim [citation:1].", []);
    expect(dom(without[0]!).querySelector("button")).toBeNull();
    const withSources = r.render("Claim [citation:1].", sources);
    expect(dom(withSources[0]!).querySelector("button.citation-chip")).not.toBeNull();
  });

  it("gives the same chips and text as rendering the whole answer", () => {
    const text = "A [citation:1].\n\n- b [citation:2]\n- c\n\n<img src=x onerror=alert(1)> [citation:9]";
    const blocks = dom(new AnswerRenderer().render(text, sources).join(""));
    const whole = dom(renderAnswerHtml(text, sources));
    expect(blocks.textContent?.replace(/\s+/g, " ").trim()).toBe(whole.textContent?.replace(/\s+/g, " ").trim());
    expect(blocks.querySelectorAll("button.citation-chip").length).toBe(2);
    expect(blocks.querySelector("img")).toBeNull();
  });
});
