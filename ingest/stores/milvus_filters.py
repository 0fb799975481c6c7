"""Translate ``MetadataFilter`` into a Milvus boolean expression.

Expressions are built as text because Milvus 2.3 servers have no expression templates
(``filter_params`` came in 2.4/2.5), so every literal is escaped here. Only the escapes that
both the Milvus server (Go ``strconv.Unquote``) and Milvus Lite's tokenizer understand are
emitted: ``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\t``; every other character goes through as is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from ingest.stores.base import MetadataFilter

# Metadata keys stored as real scalar columns; every other key lives in the JSON column.
SCALAR_FIELDS: frozenset[str] = frozenset(
    {"doc_id", "source", "title", "section", "pages", "chunk_index", "content_hash"}
)
EXTRA_FIELD = "extra"
PK_FIELD = "id"

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPE_RE = re.compile(r'[\\"\n\r\t]')


def quote(value: str) -> str:
    """A double-quoted Milvus string literal for ``value``."""
    return '"' + _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group(0)], value) + '"'


def literal(value: Any) -> str:
    """A Milvus literal for a scalar; rejects what an expression cannot compare safely."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot filter on non-finite number {value!r}")
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    raise ValueError(f"cannot filter on value of type {type(value).__name__}: {value!r}")


def field_ref(key: str) -> str:
    """The expression for a metadata key: a scalar column or a path into the JSON column."""
    if key in SCALAR_FIELDS:
        return key
    if not key:
        raise ValueError("filter key must not be empty")
    return f"{EXTRA_FIELD}[{quote(key)}]"


def milvus_expr(where: MetadataFilter | None) -> str:
    """``""`` for no filter, else the clauses ANDed; a list value becomes ``in [...]``."""
    if where is None or where.is_empty():
        return ""
    clauses = []
    for key, value in where.equals.items():
        ref = field_ref(key)
        if isinstance(value, list | tuple | set | frozenset):
            items = sorted(value, key=repr) if isinstance(value, set | frozenset) else list(value)
            clauses.append(f"{ref} in [{', '.join(literal(v) for v in items)}]")
        else:
            clauses.append(f"{ref} == {literal(value)}")
    return " and ".join(f"({c})" for c in clauses) if len(clauses) > 1 else clauses[0]


def ids_expr(ids: Iterable[str]) -> str:
    """``id in [...]`` for primary keys."""
    return f"{PK_FIELD} in [{', '.join(quote(i) for i in ids)}]"
