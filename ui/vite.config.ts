import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// Relative to this folder (the Vite root): the API serves the built site from there.
const outDir = "../rag/api/static/ui";

export default defineConfig(({ mode }) => ({
  base: "/",
  plugins: [svelte()],
  // Tests mount components in jsdom: resolve Svelte's client runtime, not the server one.
  resolve: mode === "test" ? { conditions: ["browser"] } : undefined,
  build: {
    outDir,
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 1500,
    rolldownOptions: {
      output: {
        // The PDF.js worker ships as .mjs; serve it as .js so any static server sends a JS MIME type.
        assetFileNames: (asset) =>
          asset.names.some((n) => n.endsWith(".mjs")) ? "assets/[name]-[hash].js" : "assets/[name]-[hash][extname]",
      },
    },
  },
  server: {
    proxy: {
      "/kbs": "http://127.0.0.1:8000",
      "/ask": "http://127.0.0.1:8000",
      "/jobs": "http://127.0.0.1:8000",
    },
  },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.ts"],
  },
}));
