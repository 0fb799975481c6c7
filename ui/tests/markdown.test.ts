import { describe, expect, it } from "vitest";
import { isSafeUrl, markdownBlocks, renderMarkdown, sanitizeHtml } from "../src/lib/markdown";

function dom(html: string): HTMLElement {
  const div = document.createElement("div");
  div.innerHTML = html;
  return div;
}

describe("renderMarkdown", () => {
  it("renders ordinary Markdown", () => {
    const el = dom(renderMarkdown("# Title\n\nSome **bold** and `code`.\n\n- a\n- b"));
    expect(el.querySelector("h1")?.textContent).toBe("Title");
    expect(el.querySelector("strong")?.textContent).toBe("bold");
    expect(el.querySelector("code")?.textContent).toBe("code");
    expect(el.querySelectorAll("li")).toHaveLength(2);
  });

  it("shows raw HTML from the source as text instead of passing it through", () => {
    const el = dom(renderMarkdown('Hello <b onclick="x()">there</b>\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(1)>'));
    expect(el.querySelector("b")).toBeNull();
    expect(el.querySelector("script")).toBeNull();
    expect(el.querySelector("img")).toBeNull();
    expect(el.textContent).toContain("<script>alert(1)</script>");
    expect(el.textContent).toContain("<b onclick=");
    const attrs = [...el.querySelectorAll("*")].flatMap((n) => [...n.attributes].map((a) => a.name));
    expect(attrs.filter((a) => a.startsWith("on"))).toEqual([]);
  });

  it("keeps http(s) and mailto links and opens them in a new tab safely", () => {
    const el = dom(renderMarkdown("[site](https://example.com/a?b=1) and [mail](mailto:a@example.com)"));
    const links = [...el.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://example.com/a?b=1", "mailto:a@example.com"]);
    for (const a of links) {
      expect(a.getAttribute("target")).toBe("_blank");
      expect(a.getAttribute("rel")).toBe("noopener noreferrer");
    }
  });

  it("drops javascript:, data: and relative link targets", () => {
    const el = dom(
      renderMarkdown("[a](javascript:alert(1)) [b](JaVaScRiPt:alert(1)) [c](data:text/html,<script>x</script>) [d](/kbs)"),
    );
    for (const a of el.querySelectorAll("a")) {
      expect(a.hasAttribute("href")).toBe(false);
    }
    expect(el.innerHTML.toLowerCase()).not.toContain("javascript:");
    expect(el.innerHTML).not.toContain("data:text");
  });

  it("turns images into links or text so nothing is fetched", () => {
    const el = dom(renderMarkdown("![chart](https://evil.example/pixel.png) ![x](javascript:alert(1))"));
    expect(el.querySelector("img")).toBeNull();
    expect(el.querySelector("a")?.getAttribute("href")).toBe("https://evil.example/pixel.png");
    expect(el.innerHTML).not.toContain("javascript:");
  });
});

describe("sanitizeHtml", () => {
  it("removes disallowed elements and event-handler attributes", () => {
    const out = sanitizeHtml(
      '<p onclick="x()" style="color:red" class="c">ok</p><img src=x onerror="alert(1)"><iframe src="https://e.x"></iframe>' +
        '<svg><script>alert(1)</script></svg><form action="https://e.x"><input type="text"></form>',
    );
    const el = dom(out);
    expect(el.querySelector("p")?.textContent).toBe("ok");
    expect(el.querySelector("p")?.attributes).toHaveLength(0);
    for (const tag of ["img", "iframe", "svg", "script", "form", "input"]) {
      expect(el.querySelector(tag)).toBeNull();
    }
  });

  it("strips unsafe hrefs left in HTML and keeps data attributes out", () => {
    const el = dom(sanitizeHtml('<a href="javascript:alert(1)" data-x="1">x</a><a href="https://ok.example">y</a>'));
    const [bad, good] = [...el.querySelectorAll("a")];
    expect(bad?.hasAttribute("href")).toBe(false);
    expect(bad?.hasAttribute("data-x")).toBe(false);
    expect(good?.getAttribute("rel")).toBe("noopener noreferrer");
  });
});

describe("isSafeUrl", () => {
  it.each([
    ["https://example.com", true],
    ["http://example.com/x", true],
    ["mailto:someone@example.com", true],
    ["javascript:alert(1)", false],
    [" javascript:alert(1)", false],
    ["data:text/html;base64,AAAA", false],
    ["/relative/path", false],
    ["ftp://example.com", false],
  ])("%s -> %s", (url, expected) => {
    expect(isSafeUrl(url)).toBe(expected);
  });
});

describe("markdownBlocks", () => {
  it("splits top-level blocks so that together they are the whole text", () => {
    const text = "# Title\n\nFirst para.\n\n- a\n- b\n\n```\ncode\n\nmore\n```\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\nLast";
    const blocks = markdownBlocks(text);
    expect(blocks.join("")).toBe(text);
    expect(blocks.length).toBe(6);
    expect(blocks[3]).toContain("code\n\nmore"); // a fence with a blank line inside stays one block
  });

  it("keeps earlier blocks unchanged as the text grows", () => {
    const before = markdownBlocks("Para one.\n\nPara tw");
    const after = markdownBlocks("Para one.\n\nPara two is longer");
    expect(after[0]).toBe(before[0]);
    expect(after.length).toBe(2);
  });

  it("keeps a text with reference links in one block so the references resolve", () => {
    const text = "See [the site][s].\n\nMore.\n\n[s]: https://example.com";
    expect(markdownBlocks(text)).toEqual([text]);
  });

  it("renders block by block like the whole text", () => {
    const text = "Intro **bold**.\n\n1. one\n2. two\n\n> quote\n\nEnd `x`.";
    const whole = dom(renderMarkdown(text)).innerText ?? dom(renderMarkdown(text)).textContent;
    const parts = markdownBlocks(text).map((b) => dom(renderMarkdown(b)).textContent).join("");
    expect(parts.replace(/\s+/g, " ").trim()).toBe((whole ?? "").replace(/\s+/g, " ").trim());
  });
});
