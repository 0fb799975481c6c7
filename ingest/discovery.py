"""Finding the files a job reads, and naming every one it leaves out.

A job is given roots (folders or files). Every root must exist and be readable: a root that
has gone (a moved folder, an unmounted share) is an error, never an empty folder, since
mirroring an empty folder deletes the whole knowledge base. Under the roots, hidden files and
folders (``.git``, ``.DS_Store``) are left out silently; everything else that is not indexed
is reported with a reason: unsupported types, links that point outside the roots, broken or
looping links, folders that cannot be read, sockets and other special files.

Symbolic links are followed only to targets inside the roots being indexed. A link pointing
elsewhere would publish a file (``/etc/shadow``, another team's share) to everyone who may query
the knowledge base without anyone having chosen to index it, so it is skipped and reported;
index such a file by naming its folder as a root. A link to a file inside the roots is the
same file, indexed once under its real path; links to folders are never walked (their targets
inside the roots are walked anyway, and it rules out cycles).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.errors import RootUnavailable
from ingest.loaders import SUPPORTED_EXTENSIONS
from ingest.object_store import ObjectFile, is_object_uri, list_objects, normalise_root


@dataclass(frozen=True, slots=True)
class SkippedPath:
    """Something under a root that is not indexed, and why."""

    path: str
    reason: str


@dataclass(slots=True)
class Discovery:
    """Files to read (real paths, each once, in a stable order) and what was left out."""

    roots: list[str] = field(default_factory=list)  # as ``check_roots`` resolved them
    files: list[Path] = field(default_factory=list)
    objects: list[ObjectFile] = field(default_factory=list)  # under object-store roots (s3://...)
    skipped: list[SkippedPath] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # folders whose contents are unknown this run
    empty_roots: list[str] = field(default_factory=list)  # folders with nothing in them at all


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _inside(path: str, roots: Sequence[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def check_roots(roots: Iterable[str | Path]) -> list[str]:
    """The roots as real absolute paths (object-store URIs as given, without a trailing slash);
    ``RootUnavailable`` for one that is missing or unreadable."""
    resolved: list[str] = []
    for raw in roots:
        if is_object_uri(raw):
            uri = normalise_root(str(raw))
            if uri not in resolved:
                resolved.append(uri)
            continue
        path = Path(raw).expanduser()
        try:
            info = path.stat()
        except FileNotFoundError:
            raise RootUnavailable(
                f"{path} does not exist (moved, renamed, or a share that is not mounted?); nothing was changed"
            ) from None
        except OSError as exc:
            raise RootUnavailable(f"{path} cannot be read: {exc.strerror or exc}; nothing was changed") from exc
        real = str(path.resolve())
        mode = os.R_OK | os.X_OK if stat.S_ISDIR(info.st_mode) else os.R_OK
        if not os.access(real, mode):
            raise RootUnavailable(f"{path} cannot be read: permission denied; nothing was changed")
        if real not in resolved:
            resolved.append(real)
    return resolved


def _link_problem(path: str) -> str | None:
    """Why the link at ``path`` cannot be followed, or None when its target exists."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link points back to itself)"
        if exc.errno == errno.ENOENT:
            return f"broken symbolic link (its target {os.readlink(path)!r} does not exist)"
        return f"symbolic link cannot be followed: {exc.strerror or exc}"
    return None


class _Walker:
    def __init__(self, roots: list[str]) -> None:
        self.roots = roots
        self.found = Discovery()
        self._seen: set[str] = set()

    def add_file(self, path: str) -> None:
        if path in self._seen:
            return
        self._seen.add(path)
        suffix = Path(path).suffix.lower()
        if suffix not in SUPPORTED_EXTENSIONS:
            self.skip(path, f"unsupported file type {suffix or '(none)'!r}")
            return
        self.found.files.append(Path(path))

    def skip(self, path: str, reason: str) -> None:
        self.found.skipped.append(SkippedPath(path, reason))

    def walk(self, folder: str, *, is_root: bool = False) -> None:
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            self.found.unreadable.append(folder)
            self.skip(folder, f"folder cannot be read: {exc.strerror or exc}; its files are left as they are")
            return
        if is_root and not entries:
            self.found.empty_roots.append(folder)
        for entry in entries:
            if _hidden(entry.name):
                continue
            self.visit(entry)

    def visit(self, entry: os.DirEntry[str]) -> None:
        path = entry.path
        if entry.is_symlink():
            problem = _link_problem(path)
            if problem is not None:
                self.skip(path, problem)
                return
            target = os.path.realpath(path)
            if not _inside(target, self.roots):
                self.skip(path, f"symbolic link to {target}, outside the folders being indexed (not followed)")
                return
            if os.path.isfile(target):
                self.add_file(target)
            return  # a folder inside the roots: walked by its real path
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
        except FileNotFoundError:
            return  # removed while being listed: it is gone, as if listed a moment later
        except OSError as exc:
            self.skip(path, f"cannot be read: {exc.strerror or exc}")
            return
        if stat.S_ISDIR(mode):
            self.walk(path)
        elif stat.S_ISREG(mode):
            self.add_file(path)
        else:
            self.skip(path, "not a regular file (a socket, pipe or device)")


def discover(roots: Iterable[str | Path]) -> Discovery:
    """Every file under ``roots`` to index, and everything left out with its reason.

    Raises ``RootUnavailable`` when a root is missing or unreadable. Files come in a stable
    order (root by root, names sorted), as real paths, each once.
    """
    resolved = check_roots(roots)
    walker = _Walker(resolved)
    walker.found.roots = resolved
    for root in resolved:
        if is_object_uri(root):
            listing = list_objects(root, SUPPORTED_EXTENSIONS)
            walker.found.objects += listing.files
            walker.found.skipped += [SkippedPath(path, reason) for path, reason in listing.skipped]
            if listing.empty:
                walker.found.empty_roots.append(root)
        elif os.path.isdir(root):
            walker.walk(root, is_root=True)
        else:
            walker.add_file(root)
    return walker.found
