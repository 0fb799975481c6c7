#!/usr/bin/env bash
# Builds the web workspace (ui/, Vite + Svelte) into rag/api/static/ui, which `rag serve` serves
# at /. Without npm the workspace is skipped, loudly: the API and the CLI work without it.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
  echo "" >&2
  echo "WARNING: npm is not installed, so the web workspace is NOT built." >&2
  echo "         The API and the CLI work; install Node.js 20+ and npm, then run scripts/build_ui.sh." >&2
  echo "" >&2
  exit 0
fi
cd ui
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
echo "built the web workspace into rag/api/static/ui"
