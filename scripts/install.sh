#!/usr/bin/env bash
# Creates .venv and installs the project with its pinned dependencies.
# Order matters: the CPU torch first, then the project, then unstructured-inference
# without its dependencies (it is imported by unstructured's PDF path but would pull a CUDA torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade "pip>=24" wheel
python -m pip install -q -r requirements-torch.txt
python -m pip install -q -e ".[dev,ray,s3]"  # the tests run the Ray engine and s3:// roots too
python -m pip install -q --no-deps "unstructured-inference==1.6.14"
echo "installed into .venv ($(python --version))"
bash scripts/build_ui.sh
