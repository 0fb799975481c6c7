#!/usr/bin/env bash
# Creates .venv-milvus/ holding a real Milvus server (the `milvus` PyPI package, 2.3.5) for the
# contract tests and the benchmark. It lives in its own venv because it needs pymilvus 2.3 and an
# old setuptools, which would clash with the project's pymilvus 3. Safe to run repeatedly: an
# existing, working install is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-milvus
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

if [ -x "$VENV/bin/milvus-server" ] && "$VENV/bin/python" -c "import milvus" 2>/dev/null; then
  echo "milvus server already installed in $VENV ($("$VENV/bin/python" -c 'import milvus; print(milvus.__version__)' 2>/dev/null || echo 2.3.5))"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# setuptools<70 keeps pkg_resources, which the milvus launcher imports; marshmallow 4 breaks
# the environs version that pymilvus 2.3 pins loosely.
"$VENV/bin/python" -m pip install -q "setuptools<70" wheel
"$VENV/bin/python" -m pip install -q "milvus==2.3.5" "pymilvus==2.3.*" "marshmallow<4"

test -x "$VENV/bin/milvus-server" || { echo "milvus-server missing from $VENV/bin after install" >&2; exit 1; }
echo "installed milvus server into $VENV"
