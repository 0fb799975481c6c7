#!/usr/bin/env bash
# Runs the whole test suite; installs what it needs first (idempotent), so it works on a fresh clone.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] && .venv/bin/python -c "import rag, ingest, search_proxy" 2>/dev/null || bash scripts/install.sh
bash scripts/install_milvus_server.sh
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
