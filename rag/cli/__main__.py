"""``python -m rag.cli``: the same command as the ``rag`` script."""

from rag.cli.commands import app

app()
