"""The folders a knowledge base was indexed from, which a re-index without paths re-checks."""

from __future__ import annotations

from pathlib import Path

from ingest.manifest import Manifest


def test_folders_are_remembered_once_and_a_parent_covers_its_children(tmp_path: Path) -> None:
    with Manifest(tmp_path / "manifest.sqlite") as manifest:
        assert manifest.folders() == []
        manifest.remember_folders(["/srv/docs/contracts", "/srv/wiki"])
        manifest.remember_folders(["/srv/docs/contracts", "/srv/docs/contracts/2025"])
        assert manifest.folders() == ["/srv/docs/contracts", "/srv/wiki"]
        manifest.remember_folders(["/srv/docs"])  # the parent replaces the child it covers
        assert manifest.folders() == ["/srv/docs", "/srv/wiki"]
        manifest.remember_folders(["/srv/docs-old"])  # a sibling whose name starts the same is not covered
        assert manifest.folders() == ["/srv/docs", "/srv/docs-old", "/srv/wiki"]
    with Manifest(tmp_path / "manifest.sqlite") as reopened:
        assert reopened.folders() == ["/srv/docs", "/srv/docs-old", "/srv/wiki"]
