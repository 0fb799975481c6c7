"""Embedded Chroma read by one process while another writes it (``rag ingest`` beside ``rag serve``,
or two ``rag serve`` workers): what the reader finds follows the writer's changes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from ingest.stores.chroma import ChromaStore
from tests.contracts.helpers import HNSW, make_chunk, unit_vectors

KB = "shared"
DIM = 16
WRITER = textwrap.dedent(
    """
    import json, sys
    from ingest.stores.chroma import ChromaStore
    from tests.contracts.helpers import HNSW, make_chunk, unit_vectors
    path, action = sys.argv[1], json.loads(sys.argv[2])
    store = ChromaStore(path, hnsw=HNSW)
    added = action["add"]
    if added:
        vectors = unit_vectors(400, 16, seed=1)
        store.upsert("shared", [make_chunk("shared", i) for i in added], [vectors[i].tolist() for i in added])
    if action["delete"]:
        store.delete("shared", chunk_ids=[f"chunk-{i:05d}" for i in action["delete"]])
    """
)


def write_elsewhere(path: Path, add: list[int] = (), delete: list[int] = ()) -> None:  # type: ignore[assignment]
    """Another process writes (and exits), as ``rag ingest`` does."""
    root = Path(__file__).resolve().parents[3]
    action = json.dumps({"add": list(add), "delete": list(delete)})
    subprocess.run([sys.executable, "-c", WRITER, str(path), action], check=True, cwd=root, timeout=120)


def nearest(store: ChromaStore, i: int) -> str:
    [hit] = store.search(KB, unit_vectors(400, DIM, seed=1)[i].tolist(), 1)
    assert hit.text, "a hit with no text: the index still lists a chunk whose row is gone"
    return hit.chunk_id


def serving_store(path: Path, chunks: int) -> ChromaStore:
    """The reading process's store, holding the first ``chunks`` chunks."""
    serving = ChromaStore(path, hnsw=HNSW)
    serving.ensure_kb(KB, "model", DIM)
    vectors = unit_vectors(400, DIM, seed=1)
    serving.upsert(KB, [make_chunk(KB, i) for i in range(chunks)], [vectors[i].tolist() for i in range(chunks)])
    return serving


def test_a_serving_process_finds_chunks_added_and_loses_chunks_deleted_by_another(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    serving = serving_store(path, 100)
    vectors = unit_vectors(400, DIM, seed=1)
    assert nearest(serving, 7) == "chunk-00007"  # the index is loaded in this process now

    write_elsewhere(path, add=list(range(100, 300)))
    assert nearest(serving, 250) == "chunk-00250"
    assert serving.count(KB) == 300

    write_elsewhere(path, delete=list(range(0, 50)))
    time.sleep(2.1)  # reopens are spaced (two seconds), so a busy writer does not make every call reload
    for i in range(0, 50, 7):
        assert nearest(serving, i) != f"chunk-{i:05d}"
    hits = serving.search(KB, vectors[3].tolist(), 40)
    assert not {h.chunk_id for h in hits} & {f"chunk-{i:05d}" for i in range(50)}
    assert all(h.text for h in hits)


def test_the_writing_process_does_not_reopen_for_its_own_writes(tmp_path: Path) -> None:
    """A job's own batches are visible to it already: reading them again would cost a reload each."""
    path = tmp_path / "chroma"
    store = ChromaStore(path, hnsw=HNSW)
    store.ensure_kb(KB, "model", DIM)
    vectors = unit_vectors(400, DIM, seed=1)
    store.upsert(KB, [make_chunk(KB, 0)], [vectors[0].tolist()])
    client = store._connect()
    for i in range(1, 20):
        store.upsert(KB, [make_chunk(KB, i)], [vectors[i].tolist()])
        assert nearest(store, i) == f"chunk-{i:05d}"
    store.delete(KB, chunk_ids=["chunk-00001"])
    assert store.count(KB) == 19
    assert store._connect() is client


def test_searches_running_while_the_client_is_reopened_all_answer(tmp_path: Path) -> None:
    path = tmp_path / "chroma"
    serving = serving_store(path, 200)
    errors: list[BaseException] = []
    found: list[str] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                found.append(nearest(serving, 11))
            except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                errors.append(exc)
                return

    threads = [threading.Thread(target=search) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        write_elsewhere(path, add=list(range(200, 260)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not errors:
            if nearest(serving, 230) == "chunk-00230":
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"the other process's chunk was not found: {errors}")
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert found and set(found) == {"chunk-00011"}
