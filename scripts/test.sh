#!/usr/bin/env bash
# Runs the test suite (pytest arguments pass through); installs what it needs first, so it works
# on a fresh clone. The Milvus server (for the contract and outage tests) is installed only when
# it is missing and the run is not the unit-only one: `scripts/test.sh -m unit` installs nothing
# once .venv exists.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] && .venv/bin/python -c "import rag, ingest, search_proxy, servicekit" 2>/dev/null || bash scripts/install.sh
unit_only=false
prev=""
for arg in "$@"; do
  if [ "$prev" = "-m" ] && [ "$arg" = "unit" ]; then unit_only=true; fi
  prev=$arg
done
if ! $unit_only && [ ! -x .venv-milvus/bin/milvus-server ]; then
  bash scripts/install_milvus_server.sh
fi
export HF_HUB_OFFLINE=1
exec .venv/bin/python -m pytest "$@"
