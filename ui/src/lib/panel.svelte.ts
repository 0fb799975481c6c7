/** The source panel on the right: which source of which knowledge base is open. */

import type { Source } from "./types";

export const panel = $state<{ source: Source | null; kb: string }>({ source: null, kb: "" });

export function openSource(source: Source, kb: string): void {
  panel.source = source;
  panel.kb = kb;
}

export function closeSource(): void {
  panel.source = null;
}
