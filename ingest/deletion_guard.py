"""Refusing re-index jobs that would delete much of a knowledge base unless told to.

A job mirrors folders: files gone from them are removed from the index. When the folders are
not what they seem (a share that failed to mount shows an empty mount point; a sync tool that
is half way; a subfolder moved elsewhere) that mirroring would silently empty the knowledge
base. So a job refuses, before deleting anything, when a root that held indexed files is now
empty, or when it would delete more than ``max_share`` of the knowledge base's files.
``allow`` (``--allow-mass-delete``, ``"allow_mass_delete": true`` over REST) overrides both.
"""

from __future__ import annotations

from collections.abc import Sequence

from ingest.errors import MassDeleteRefused

OVERRIDE_HINT = "if that is intended, run again with --allow-mass-delete"


def check_deletions(
    kb: str,
    *,
    deleting: int,
    known: int,
    empty_roots: Sequence[tuple[str, int]],
    max_share: float,
    allow: bool,
) -> None:
    """Raise ``MassDeleteRefused`` unless deleting ``deleting`` of ``known`` files is acceptable.

    ``empty_roots`` pairs each empty root with the number of indexed files the knowledge base
    holds from it.
    """
    if allow or deleting == 0:
        return
    suspicious = [(root, count) for root, count in empty_roots if count > 0]
    if suspicious:
        root, count = suspicious[0]
        raise MassDeleteRefused(
            f"{root} is empty, but knowledge base {kb!r} holds {count} file(s) from it (a share that is "
            f"not mounted, or a folder that was moved?); nothing was deleted; {OVERRIDE_HINT}"
        )
    if known and deleting > max_share * known:
        raise MassDeleteRefused(
            f"this job would delete {deleting} of the {known} files of knowledge base {kb!r} "
            f"({deleting / known:.0%}), more than the limit of {max_share:.0%} "
            f"(RAG_INGEST__MAX_DELETE_SHARE); nothing was deleted; check the folders, or {OVERRIDE_HINT}"
        )
