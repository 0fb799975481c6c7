/** Hash routing: `#/kb/NAME` is a knowledge-base page, anything else is the chat. */

export type Route = { view: "chat" } | { view: "kb"; kb: string };

export function parseHash(hash: string): Route {
  const m = /^#\/kb\/(.+)$/.exec(hash);
  if (m) {
    try {
      return { view: "kb", kb: decodeURIComponent(m[1] as string) };
    } catch {
      return { view: "chat" };
    }
  }
  return { view: "chat" };
}

export function kbHref(kb: string): string {
  return `#/kb/${encodeURIComponent(kb)}`;
}

export const route = $state<{ current: Route }>({ current: parseHash(location.hash) });

window.addEventListener("hashchange", () => {
  route.current = parseHash(location.hash);
});
