"""Environment every test process shares, set on import (by ``tests/conftest.py`` first)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# One ONNX export of the bundled model for the whole run (every worker and CLI process), not one
# per test's data directory; an export is renamed into place whole, so workers may race for it.
# CLI helpers that drop the caller's RAG_* settings keep this one.
ONNX_CACHE_ENV = "RAG_EMBEDDING__ONNX_CACHE"
os.environ.setdefault(ONNX_CACHE_ENV, os.path.join(tempfile.gettempdir(), "askdocs-tests-onnx"))
