"""Whether a Milvus can run BM25 full-text search, and whether a collection was built for it.

Detected by probing rather than by version alone: Milvus Lite reports no comparable version, and
a server may accept a BM25 schema yet drop the function.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from ingest.stores.milvus_filters import BM25_FUNCTION, SPARSE_FIELD

log = logging.getLogger(__name__)


def version_lacks_bm25(version: str) -> bool:
    """A server that reports a version below 2.5 has no BM25 function; anything else must be probed."""
    match = re.match(r"^v?(\d+)\.(\d+)", version)
    return match is not None and (int(match.group(1)), int(match.group(2))) < (2, 5)


def has_bm25_function(description: dict[str, Any]) -> bool:
    """Whether a ``describe_collection`` answer lists our BM25 function filling the sparse field."""
    return any(
        f.get("name") == BM25_FUNCTION and SPARSE_FIELD in (f.get("output_field_names") or [])
        for f in description.get("functions") or []
    )


def probe_bm25(client: Any, where: str) -> bool:
    """Create a throwaway collection with a BM25 function, insert one row and search it by text;
    ``where`` names the store in the log line when the server refuses."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient
    from pymilvus.exceptions import MilvusException

    name = f"askdocs_probe_{uuid.uuid4().hex[:12]}"  # never "kb_": list_kbs must not see it
    try:
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("text", DataType.VARCHAR, max_length=256, enable_analyzer=True)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        bm25 = Function(
            name="bm25", function_type=FunctionType.BM25, input_field_names="text", output_field_names="sparse"
        )
        schema.add_function(bm25)
        index = MilvusClient.prepare_index_params()
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        if not client.describe_collection(name).get("functions"):
            return False  # an older server accepted the schema but dropped the function
        client.insert(name, [{"id": 1, "text": "probe full text search"}])
        hits = client.search(name, data=["probe"], anns_field="sparse", limit=1, consistency_level="Strong")
        return len(hits[0]) == 1 and hits[0][0]["id"] == 1
    except MilvusException as exc:  # the server refused a part of it: no full-text search
        log.info("%s has no BM25 full-text search: %s", where, exc)
        return False
    finally:
        try:
            if client.has_collection(name):
                client.drop_collection(name)
        except Exception:
            pass
