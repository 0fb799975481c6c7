"""Files in an object store (``s3://bucket/prefix``), read through fsspec's s3fs.

A root given as a URI is listed instead of walked; each object is a file whose path is its URI,
its size and mtime the store's own (``LastModified`` changes on every write), so the manifest
diff, the content hashes and the crash-safe writes are those of files on disk. Whoever reads an
object (the job, a parser process, a Ray worker) reads it with its own credentials: the usual
AWS chain (environment, config files, an instance or pod role); ``AWS_ENDPOINT_URL`` points it
at an S3-compatible server (MinIO, Ceph, moto).

Like a folder that has gone, a bucket that cannot be reached is an error that changes nothing;
a prefix with no objects is an empty root (the mass-delete guard decides).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import ParseResult, urlparse

from ingest.errors import ParseError, RootUnavailable
from ingest.limits import FileLimits

SCHEMES = ("s3",)


@dataclass(frozen=True, slots=True)
class ObjectFile:
    path: str  # s3://bucket/key
    size: int
    mtime_ns: int


@dataclass(slots=True)
class ObjectListing:
    files: list[ObjectFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uri, reason)
    empty: bool = False


def is_object_uri(path: str | os.PathLike[str]) -> bool:
    return "://" in str(path)


def _parse(uri: str) -> ParseResult:
    try:
        return urlparse(uri)
    except ValueError as exc:  # brackets read as an IPv6 host, a bad port
        raise RootUnavailable(f"{uri} is not a valid object-store URI: {exc}") from exc


def key_path(uri: str) -> PurePosixPath:
    """The object's key as a path: its name and suffix say what the file is."""
    return PurePosixPath(_parse(uri).path)


def _filesystem(scheme: str) -> Any:
    # one client per endpoint: fsspec's own instance cache would not see AWS_ENDPOINT_URL change
    return _client(scheme, os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))


@lru_cache(maxsize=8)
def _client(scheme: str, endpoint: str | None) -> Any:
    try:
        import fsspec

        options: dict[str, Any] = {"endpoint_url": endpoint} if endpoint else {}
        return fsspec.filesystem(scheme, use_listings_cache=False, skip_instance_cache=True, **options)
    except ImportError as exc:
        raise RootUnavailable(f"reading {scheme}:// needs the 's3' extra: pip install 'askdocs[s3]'") from exc


def _scheme(uri: str) -> str:
    scheme = _parse(uri).scheme
    if scheme not in SCHEMES:
        raise RootUnavailable(f"{uri}: only {', '.join(s + '://' for s in SCHEMES)} object stores are supported")
    return scheme


def normalise_root(uri: str) -> str:
    """``s3://bucket/prefix`` without a trailing slash; ``RootUnavailable`` when the bucket is
    missing or out of reach (nothing is changed)."""
    scheme = _scheme(uri)
    parsed = _parse(uri)
    if not parsed.netloc:
        raise RootUnavailable(f"{uri}: no bucket named")
    fs = _filesystem(scheme)
    try:
        if not fs.exists(parsed.netloc):
            raise RootUnavailable(f"{uri}: bucket {parsed.netloc!r} does not exist; nothing was changed")
    except RootUnavailable:
        raise
    except Exception as exc:  # credentials, network, permissions: all "cannot be read"
        raise RootUnavailable(f"{uri} cannot be read: {type(exc).__name__}: {exc}; nothing was changed") from exc
    return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"


def _mtime_ns(info: dict[str, Any]) -> int:
    modified: Any = info.get("LastModified") or info.get("mtime")
    timestamp = getattr(modified, "timestamp", None)
    return int(timestamp() * 1_000_000_000) if callable(timestamp) else 0


def list_objects(root: str, supported: frozenset[str] | set[str]) -> ObjectListing:
    """Every object under ``root`` (a prefix, or one object), hidden names left out silently,
    unsupported types reported; ``RootUnavailable`` when the listing fails."""
    scheme = _scheme(root)
    fs = _filesystem(scheme)
    bare = root.split("://", 1)[1]
    try:
        found = fs.find(bare, detail=True, withdirs=False) if not fs.isfile(bare) else {bare: fs.info(bare)}
    except Exception as exc:
        raise RootUnavailable(f"{root} cannot be listed: {type(exc).__name__}: {exc}; nothing was changed") from exc
    listing = ObjectListing(empty=not found)
    prefix = bare.rstrip("/")
    for name in sorted(found):
        info = found[name]
        relative = name[len(prefix) :].lstrip("/") if name != prefix else PurePosixPath(name).name
        if any(part.startswith(".") for part in PurePosixPath(relative).parts):
            continue
        uri = f"{scheme}://{name}"
        suffix = PurePosixPath(name).suffix.lower()
        if suffix not in supported:
            listing.skipped.append((uri, f"unsupported file type {suffix or '(none)'!r}"))
            continue
        listing.files.append(ObjectFile(uri, int(info.get("size") or 0), _mtime_ns(info)))
    return listing


def read_object(uri: str, limits: FileLimits) -> bytes:
    """The object's bytes, refused past the size limit before they are fetched."""
    fs = _filesystem(_scheme(uri))
    bare = uri.split("://", 1)[1]
    try:
        too_large = limits.file_too_large(int(fs.info(bare).get("size") or 0))
        if too_large:
            raise ParseError(uri, too_large)
        data = bytes(fs.cat_file(bare, start=0, end=limits.max_file_bytes + 1))
    except ParseError:
        raise
    except FileNotFoundError as exc:
        raise ParseError(uri, "cannot read object: it no longer exists (deleted after it was listed)") from exc
    except Exception as exc:
        raise ParseError(uri, f"cannot read object: {type(exc).__name__}: {exc}") from exc
    too_large = limits.file_too_large(len(data))
    if too_large:
        raise ParseError(uri, too_large)
    return data


def object_hash(uri: str) -> str:
    """sha256 of the object's bytes, streamed; "" when it is gone."""
    fs = _filesystem(_scheme(uri))
    digest = hashlib.sha256()
    try:
        with fs.open(uri.split("://", 1)[1], "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return ""
    return digest.hexdigest()
