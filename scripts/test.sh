#!/usr/bin/env bash
# Runs the test suite (pytest arguments pass through); installs what it needs first, so it works
# on a fresh clone. The Milvus server (for the contract and outage tests) is installed only when
# it is missing and the run is not the unit-only one: `scripts/test.sh -m unit` installs nothing
# once .venv exists.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] && .venv/bin/python -c "import rag, ingest, search_proxy, servicekit" 2>/dev/null || bash scripts/install.sh
unit_only=false
has_marker=false
has_workers=false
run_all=false
args=()
prev=""
for arg in "$@"; do
  case "$arg" in
    --all) run_all=true; continue ;;
    -m) has_marker=true ;;
    -n|--numprocesses|--numprocesses=*) has_workers=true ;;
  esac
  if [ "$prev" = "-m" ] && [ "$arg" = "unit" ]; then unit_only=true; fi
  args+=("$arg")
  prev=$arg
done
# The default run leaves out the exhaustive tier (tests/tiers.py) to stay in CI's budget; --all runs it.
# It runs on every core (at most 4; a test file stays on one worker, so its module fixtures are
# built once), then the serial tests in one process. A -m or -n of the caller's runs as given.
if ! $unit_only && [ ! -x .venv-milvus/bin/milvus-server ]; then
  bash scripts/install_milvus_server.sh
fi
# The browser tests (tests/e2e/browser) drive Debian's chromium, never a downloaded browser; as
# root it is installed when missing (with CJK fonts, for the Chinese pages). Without root they
# fail and say what to install.
if ! $unit_only && ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests" >&2
  apt-get install -y -q chromium fonts-noto-cjk >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q chromium fonts-noto-cjk >/dev/null; }
fi
if command -v npm >/dev/null 2>&1; then  # the workspace's own unit tests (vitest)
  [ -d ui/node_modules ] || bash scripts/build_ui.sh
  (cd ui && npm test --silent)
fi
export HF_HUB_OFFLINE=1
if $has_marker || $has_workers || $unit_only; then
  exec .venv/bin/python -m pytest "${args[@]}"
fi
tier=""
$run_all || tier="not exhaustive and "
status=0
.venv/bin/python -m pytest -m "${tier}not serial" -n auto --maxprocesses 4 --dist loadfile "${args[@]}" || status=$?
serial=0
.venv/bin/python -m pytest -m "${tier}serial" "${args[@]}" || serial=$?
# 5 is "no test selected": the paths given held none of that kind
if [ "$status" -eq 5 ] && [ "$serial" -eq 5 ]; then exit 5; fi
[ "$status" -eq 5 ] && status=0
[ "$serial" -eq 5 ] && serial=0
[ "$status" -ne 0 ] && exit "$status"
exit "$serial"
