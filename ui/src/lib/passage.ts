/** Locating a cited passage among the text items of a PDF page (best effort). */

function normalize(s: string): string {
  return s.toLowerCase().replace(/[\s\u00ad\u200b]+/g, "").replace(/[-‐‑–—]/g, "");
}

/**
 * Indexes of the `items` whose text overlaps the passage. Whitespace, soft hyphens and dashes
 * are ignored (text layers split words and lines arbitrarily). The passage's opening is tried
 * first, then shorter pieces of it; null when nothing matches.
 */
export function findPassage(items: readonly string[], passage: string): number[] | null {
  let joined = "";
  const owner: number[] = [];
  items.forEach((text, i) => {
    const n = normalize(text);
    joined += n;
    for (let k = 0; k < n.length; k++) owner.push(i);
  });
  const target = normalize(passage);
  if (!joined || target.length < 4) return null;

  const tryMatch = (needle: string): number[] | null => {
    if (needle.length < 4) return null;
    const at = joined.indexOf(needle);
    if (at < 0) return null;
    const first = owner[at] as number;
    const last = owner[at + needle.length - 1] as number;
    const out: number[] = [];
    for (let i = first; i <= last; i++) out.push(i);
    return out;
  };

  const whole = tryMatch(target);
  if (whole) return whole;
  // The chunk may span pages or be re-flowed: try shrinking windows from the start and middle.
  for (const len of [200, 120, 60, 30, 16]) {
    if (len >= target.length) continue;
    for (const start of [0, Math.floor((target.length - len) / 2), target.length - len]) {
      const found = tryMatch(target.slice(start, start + len));
      if (found) return found;
    }
  }
  return null;
}
