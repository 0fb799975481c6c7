/** The knowledge bases the key may read. */

import { listKbs } from "./api";
import { classifyError } from "./errors";
import type { TurnError } from "./conversations";
import { saveSettings, settings } from "./settings.svelte";
import type { KnowledgeBase } from "./types";

export const kbs = $state<{ list: KnowledgeBase[]; loading: boolean; error: TurnError | null }>({
  list: [],
  loading: false,
  error: null,
});

export async function loadKbs(): Promise<void> {
  kbs.loading = true;
  kbs.error = null;
  try {
    kbs.list = await listKbs();
    if (!kbs.list.some((k) => k.name === settings.kb)) {
      settings.kb = kbs.list[0]?.name ?? "";
      saveSettings();
    }
  } catch (err) {
    kbs.error = classifyError(err, "kb");
  } finally {
    kbs.loading = false;
  }
}
