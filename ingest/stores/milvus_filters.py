"""How chunks map onto a Milvus collection's fields, and ``MetadataFilter`` -> boolean expression.

The core metadata keys are real scalar columns (filterable, typed); everything else from
``Chunk.metadata()`` (``kb`` and the scalar extras) goes into one JSON column, and filters on
those keys become JSON-path expressions. VARCHAR limits count UTF-8 bytes, so a Chinese text
of 21,845 characters already fills the 65,535-byte maximum; longer values are refused with a
clear error rather than cut (a cut text would no longer match its embedding).

Expressions are built as text because Milvus 2.3 servers have no expression templates
(``filter_params`` came in 2.4/2.5), so every literal is escaped here. Only the escapes that
both the Milvus server (Go ``strconv.Unquote``) and Milvus Lite's tokenizer understand are
emitted: ``\\\\``, ``\\"``, ``\\n``, ``\\r``, ``\\t``; every other character goes through as is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from ingest.errors import VectorIndexError
from ingest.stores.base import MetadataFilter
from ingest.types import Chunk, Hit

PK_FIELD = "id"
VECTOR_FIELD = "vector"
TEXT_FIELD = "text"
SPARSE_FIELD = "text_bm25"  # filled by the collection's BM25 function, never written by us
BM25_FUNCTION = "askdocs_bm25"
EXTRA_FIELD = "extra"
STRING_FIELDS = ("doc_id", "source", "title", "section", "pages", "content_hash")
SCALAR_FIELDS: frozenset[str] = frozenset({*STRING_FIELDS, "chunk_index"})
MAX_BYTES: dict[str, int] = {
    PK_FIELD: 512,
    TEXT_FIELD: 65_535,
    "doc_id": 512,
    "source": 4_096,
    "title": 2_048,
    "section": 2_048,
    "pages": 4_096,
    "content_hash": 128,
}
OUTPUT_FIELDS = [PK_FIELD, TEXT_FIELD, EXTRA_FIELD, *sorted(SCALAR_FIELDS)]

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


def full_text_analyzer() -> dict[str, Any]:
    """Milvus analyzer for the text of Chinese and English chunks: jieba (search mode) splits the
    Chinese, ``cnalphanumonly`` drops punctuation, English is lower-cased, stop-worded and stemmed.

    The stop words are ours (``ingest.lexical.tokenize``), question words included, so a question
    such as 公司是哪一年成立的 ranks passages by 公司 and 成立, not by 哪一年.
    """
    from ingest.lexical.tokenize import CHINESE_STOPWORDS

    return {
        "tokenizer": "jieba",
        "filter": [
            "cnalphanumonly",
            "lowercase",
            {"type": "stop", "stop_words": ["_english_", *sorted(CHINESE_STOPWORDS)]},
            {"type": "stemmer", "language": "english"},
        ],
    }


def build_schema(dimension: int, *, full_text: bool = False) -> Any:
    """The collection schema of a knowledge base (pymilvus is imported only when needed).

    ``full_text`` adds BM25: the text is analysed (``full_text_analyzer``) and a function derives
    a sparse vector from it on every insert, which ``search(..., anns_field=SPARSE_FIELD)`` ranks.
    """
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field(PK_FIELD, DataType.VARCHAR, is_primary=True, max_length=MAX_BYTES[PK_FIELD])
    schema.add_field(VECTOR_FIELD, DataType.FLOAT_VECTOR, dim=dimension)
    if full_text:
        schema.add_field(
            TEXT_FIELD,
            DataType.VARCHAR,
            max_length=MAX_BYTES[TEXT_FIELD],
            enable_analyzer=True,
            analyzer_params=full_text_analyzer(),
        )
        schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name=BM25_FUNCTION,
                function_type=FunctionType.BM25,
                input_field_names=[TEXT_FIELD],
                output_field_names=[SPARSE_FIELD],
            )
        )
    else:
        schema.add_field(TEXT_FIELD, DataType.VARCHAR, max_length=MAX_BYTES[TEXT_FIELD])
    for field in STRING_FIELDS:
        schema.add_field(field, DataType.VARCHAR, max_length=MAX_BYTES[field])
    schema.add_field("chunk_index", DataType.INT64)
    schema.add_field(EXTRA_FIELD, DataType.JSON)
    return schema


def chunk_to_row(chunk: Chunk, vector: Sequence[float]) -> dict[str, Any]:
    """One entity; raises ``VectorIndexError`` for a value longer than its column allows."""
    meta = chunk.metadata()
    row: dict[str, Any] = {PK_FIELD: chunk.chunk_id, VECTOR_FIELD: [float(x) for x in vector], TEXT_FIELD: chunk.text}
    for field in STRING_FIELDS:
        row[field] = str(meta.pop(field))
    row["chunk_index"] = int(meta.pop("chunk_index"))
    row[EXTRA_FIELD] = meta  # "kb" and the scalar extras
    for field, limit in MAX_BYTES.items():
        size = len(row[field].encode("utf-8"))
        if size > limit:
            raise VectorIndexError(
                f"chunk {chunk.chunk_id!r}: field {field!r} is {size} UTF-8 bytes, Milvus allows {limit}"
            )
    return row


def entity_to_hit(chunk_id: Any, entity: dict[str, Any], score: float) -> Hit:
    """A ``Hit`` whose metadata equals the ``Chunk.metadata()`` that was written."""
    meta: dict[str, Any] = dict(entity.get(EXTRA_FIELD) or {})
    for field in SCALAR_FIELDS:
        if field in entity:
            meta[field] = entity[field]
    if "chunk_index" in meta:
        meta["chunk_index"] = int(meta["chunk_index"])
    return Hit(chunk_id=str(chunk_id), text=str(entity.get(TEXT_FIELD) or ""), score=score, metadata=meta)
