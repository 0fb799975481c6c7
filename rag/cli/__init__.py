"""The ``rag`` command line: commands, key management, migration and terminal output.

``app`` is resolved on first use so that importing a helper module here (``rag.cli.keys``)
does not load every command and the answering stack behind them.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "app":
        from rag.cli.commands import app

        return app
    raise AttributeError(f"module 'rag.cli' has no attribute {name!r}")
