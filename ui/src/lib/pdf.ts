/**
 * PDF rendering with PDF.js. This module is only ever loaded with a dynamic import, so PDF.js
 * and its worker (bundled as a same-origin asset) stay out of the first-paint bundle.
 */

import * as pdfjs from "pdfjs-dist";
import type { PDFDocumentProxy } from "pdfjs-dist";
import workerUrl from "pdfjs-dist/build/pdf.worker.min.mjs?url";
import { findPassage } from "./passage";

pdfjs.GlobalWorkerOptions.workerSrc = workerUrl;

// CMaps (needed for CJK text without embedded encodings) and the standard fonts are bundled as
// hashed same-origin assets (only their URLs are in this chunk); each is fetched when a document
// needs it.
const CMAPS = byFileName(
  import.meta.glob<string>("../../node_modules/pdfjs-dist/cmaps/*.bcmap", {
    query: "?url",
    import: "default",
    eager: true,
  }),
);
const FONTS = byFileName(
  import.meta.glob<string>("../../node_modules/pdfjs-dist/standard_fonts/*.{pfb,ttf}", {
    query: "?url",
    import: "default",
    eager: true,
  }),
);

function byFileName(urls: Record<string, string>): Map<string, string> {
  return new Map(Object.entries(urls).map(([path, url]) => [path.slice(path.lastIndexOf("/") + 1), url]));
}

/** Serves PDF.js's binary data requests from the bundled assets (their names are hashed). */
class BundledDataFactory {
  async fetch({ kind, filename }: { kind: string; filename: string }): Promise<Uint8Array> {
    const table = kind === "cMapUrl" ? CMAPS : kind === "standardFontDataUrl" ? FONTS : null;
    const url = table?.get(filename);
    if (!url) throw new Error(`No bundled ${kind} data for ${filename}`);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`Unable to load ${filename}: HTTP ${res.status}`);
    return new Uint8Array(await res.arrayBuffer());
  }
}

export type PdfDocument = PDFDocumentProxy;

export async function openPdf(data: ArrayBuffer): Promise<PdfDocument> {
  return pdfjs.getDocument({
    data,
    isEvalSupported: false,
    enableXfa: false,
    useWorkerFetch: false,
    BinaryDataFactory: BundledDataFactory,
    // Placeholders: the factory above resolves the file names, these only enable the requests.
    cMapUrl: "/",
    cMapPacked: true,
    standardFontDataUrl: "/",
  }).promise;
}

export interface RenderedPage {
  /** Whether the passage was found and highlighted in the text layer. */
  highlighted: boolean;
  cancel: () => void;
}

/**
 * Render page `pageNumber` (1-based) into `container`: a canvas plus a transparent text layer,
 * fitted to `width` CSS pixels. Spans that contain `passage` get the class `highlight`.
 */
export async function renderPage(
  doc: PdfDocument,
  pageNumber: number,
  container: HTMLElement,
  width: number,
  passage: string,
): Promise<RenderedPage> {
  const page = await doc.getPage(Math.min(Math.max(1, pageNumber), doc.numPages));
  const base = page.getViewport({ scale: 1 });
  const scale = Math.max(0.25, width / base.width);
  const viewport = page.getViewport({ scale });
  const ratio = window.devicePixelRatio || 1;

  const wrapper = document.createElement("div");
  wrapper.className = "pdf-page";
  wrapper.style.setProperty("--total-scale-factor", String(scale));
  wrapper.style.setProperty("--scale-round-x", "1px");
  wrapper.style.setProperty("--scale-round-y", "1px");
  wrapper.style.width = `${Math.floor(viewport.width)}px`;
  wrapper.style.height = `${Math.floor(viewport.height)}px`;

  const canvas = document.createElement("canvas");
  canvas.width = Math.floor(viewport.width * ratio);
  canvas.height = Math.floor(viewport.height * ratio);
  canvas.style.width = `${Math.floor(viewport.width)}px`;
  canvas.style.height = `${Math.floor(viewport.height)}px`;
  const textDiv = document.createElement("div");
  textDiv.className = "textLayer";
  wrapper.append(canvas, textDiv);
  container.replaceChildren(wrapper);

  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("Canvas is not available.");
  const task = page.render({
    canvas,
    canvasContext: ctx,
    viewport,
    transform: ratio !== 1 ? [ratio, 0, 0, ratio, 0, 0] : undefined,
  });
  const textLayer = new pdfjs.TextLayer({ textContentSource: page.streamTextContent(), container: textDiv, viewport });
  const cancel = (): void => {
    task.cancel();
    textLayer.cancel();
  };
  await Promise.all([task.promise, textLayer.render()]);

  let highlighted = false;
  const items = textLayer.textContentItemsStr;
  const divs = textLayer.textDivs;
  const hit = passage ? findPassage(items, passage) : null;
  if (hit) {
    for (const i of hit) divs[i]?.classList.add("highlight");
    highlighted = hit.length > 0;
    divs[hit[0] ?? 0]?.scrollIntoView({ block: "center" });
  }
  return { highlighted, cancel };
}
