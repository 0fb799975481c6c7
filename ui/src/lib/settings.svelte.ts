/** Reactive UI settings (language, knowledge base, web mode), remembered in localStorage. */

import { detectLang, translate, type Lang, type MessageKey } from "./i18n";
import type { WebMode } from "./types";

const STORAGE_KEY = "askdocs.settings.v1";

interface Saved {
  lang?: Lang;
  kb?: string;
  web?: WebMode;
}

function load(): Saved {
  try {
    const v: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}");
    return typeof v === "object" && v !== null ? (v as Saved) : {};
  } catch {
    return {};
  }
}

const saved = load();

export const settings = $state({
  lang: (saved.lang === "zh" || saved.lang === "en" ? saved.lang : detectLang()) as Lang,
  kb: saved.kb ?? "",
  web: (saved.web ?? "off") as WebMode,
});

export function saveSettings(): void {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ lang: settings.lang, kb: settings.kb, web: settings.web }));
  } catch {
    /* storage unavailable */
  }
}

/** Translate in the current language (reactive in templates: it reads `settings.lang`). */
export function t(key: MessageKey, params?: Record<string, string | number>): string {
  return translate(settings.lang, key, params);
}

export function webParam(mode: WebMode): false | "auto" | true {
  return mode === "on" ? true : mode === "auto" ? "auto" : false;
}
