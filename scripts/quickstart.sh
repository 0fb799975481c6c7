#!/usr/bin/env bash
# One command from a fresh clone to a cited answer: install, index data/, ask a sample question.
# Works offline: without BGE-M3 in the local cache the bundled model is used (and said so), and
# without a configured model the answer is retrieval-only (and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export RAG_DATA_DIR="${RAG_DATA_DIR:-$PWD/.askdocs}"
exec .venv/bin/rag demo --data data --kb sample "$@"
