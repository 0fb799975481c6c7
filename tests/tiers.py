"""The exhaustive tier: tests that the default run (``scripts/test.sh``, CI) leaves out to stay
inside its time budget, each beside a case of the same guarantee that the default run keeps.
``scripts/test.sh --all`` runs them too; they are marked ``exhaustive`` at collection.

Seconds are what each took on two busy cores (``--durations``), most of it a CLI process loading
the embedding model or a store server starting.
"""

from __future__ import annotations

_SIGKILL = "tests/integration/ingest/test_reindex.py::test_sigkill_at_any_point_then_rerun_converges"
_SIGKILL_LEFT_OUT = ("after_parse:2", "after_embed:1", "after_writing_marker:2", "after_delete_marker:1")

# node id prefix -> what the default run keeps of the same guarantee
EXHAUSTIVE: dict[str, str] = {
    # 4 x 32-42 s; the point between the store write and the manifest commit stays
    **{f"{_SIGKILL}[{point}]": "sigkill[after_store_write:3]" for point in _SIGKILL_LEFT_OUT},
    # 52 s and 50 s: two CLI processes each; the swap itself is covered in-process
    "tests/integration/ingest/test_reindex.py::test_a_crash_during_the_swap_is_finished_by_the_next_job": (
        "test_full_rebuild_switches_over_only_when_complete"
    ),
    "tests/integration/ingest/test_reindex_guards.py::test_a_killed_full_rebuild_is_never_listed": (
        "test_full_rebuild_switches_over_only_when_complete"
    ),
    # 189 s: a measurement of retrieval quality on BEIR SciFact (bench/ reports the same figures)
    "tests/integration/retrieval/test_eval_scifact.py": "test_eval_production_retriever",
    # ~150 s: three CLI ingests of data/; the store contract runs every operation on Milvus Lite
    "tests/e2e/test_milvus_lite_ask.py": "tests/contracts (milvus-lite)",
    # 60 s on a tmpfs that fills; the disk-full mapping is unit-tested
    "tests/integration/ingest/test_disk_full.py": "tests/unit/ingest/test_storage_errors.py",
    # 57 s of load on a real rag serve
    "tests/e2e/test_soak.py": "tests/e2e/test_serve_process.py",
    # ~60 s: a store that hangs then dies, on both backends; a hung Milvus call is bounded in
    # tests/unit/ingest/test_milvus_timeouts.py
    "tests/e2e/test_store_outage.py": "tests/unit/ingest/test_milvus_timeouts.py",
    # 36 s: both servers at once; migration is tested embedded both ways
    "tests/contracts/test_migrate_between_servers.py": "tests/integration/stores/test_migrate.py",
    # 26 + 16 s of CLI processes; the CLI's cited streamed answer and its help stay
    "tests/e2e/test_sample_kb.py::test_cli_ingest_reports_skipped_files_with_exit_code_2": (
        "tests/integration/ingest/test_reindex_guards.py::test_skipped_inputs_are_named_with_a_reason"
    ),
    "tests/e2e/test_sample_kb.py::test_cli_without_a_model_is_retrieval_only_and_says_so": (
        "tests/integration/api/test_ask_api.py (retrieval-only answers)"
    ),
}


# Run in a process of their own, after the parallel run: under pytest-xdist, schemathesis's lazily
# loaded schema fuzzes only its first operation (``test_every_operation_was_fuzzed`` caught it).
SERIAL: tuple[str, ...] = (
    "tests/integration/service/test_fuzz_api.py",
    "tests/integration/search_proxy/test_sp_fuzz.py",
)


def is_serial(nodeid: str) -> bool:
    return nodeid.startswith(SERIAL)


def is_exhaustive(nodeid: str) -> bool:
    return any(nodeid == prefix or nodeid.startswith(prefix) for prefix in EXHAUSTIVE)
