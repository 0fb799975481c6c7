"""The ingestion write path (``ingest.writing``, as a re-index job runs it over files) against a
real embedded Chroma and the bundled model."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ingest.errors import EmbeddingModelMismatch
from ingest.manifest import Manifest
from ingest.progress import FileOutcome, ProgressListener
from ingest.reindex import ReindexJob, ReindexReport
from ingest.stores.chroma import ChromaStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
MIXED = ROOT / "tests" / "fixtures" / "mixed_batch"
BAD = ROOT / "tests" / "fixtures" / "bad_files"


class Recorder(ProgressListener):
    def __init__(self) -> None:
        self.total: int | None = None
        self.done: list[FileOutcome] = []
        self.embedded = 0

    def files_found(self, total: int) -> None:
        self.total = total

    def file_done(self, outcome: FileOutcome) -> None:
        self.done.append(outcome)

    def chunks_embedded(self, count: int) -> None:
        self.embedded += count


@pytest.fixture
def store(tmp_path: Path) -> ChromaStore:
    return ChromaStore(tmp_path / "chroma")


Reindex = Callable[..., ReindexReport]


@pytest.fixture
def reindex(tmp_path: Path) -> Reindex:
    """One job as production runs it (in-process parsing), with the knowledge base's own manifest."""

    def run(
        embedder: Any, store: ChromaStore, paths: list[Path], kb: str, progress: ProgressListener | None = None
    ) -> ReindexReport:
        with Manifest(tmp_path / "manifests" / f"{kb}.sqlite") as manifest:
            return ReindexJob(kb, embedder, store, manifest, workers=0).run(paths, progress=progress)

    return run


def problems(report: ReindexReport) -> dict[str, str | None]:
    """Every file not indexed, with its reason: failed to parse or chunk, or never supported."""
    failed = {Path(f.path).name: f.reason for f in report.failed}
    return failed | {Path(s.path).name: s.reason for s in report.plan.skipped}


def test_corrupt_file_is_skipped_and_the_rest_indexed(
    bundled_embedder: Any, store: ChromaStore, reindex: Reindex
) -> None:
    progress = Recorder()
    report = reindex(bundled_embedder, store, [MIXED], "mixed", progress)
    indexed = sorted(Path(f.path).name for f in report.indexed)
    assert indexed == ["dock_checklist.md", "shift_handover.txt"]
    assert problems(report) == {"truncated.pdf": "truncated or damaged PDF (no end-of-file marker)"}
    assert progress.total == 3 and len(progress.done) == 3
    assert progress.embedded == report.chunks_written == store.count("mixed")
    hits = store.search("mixed", bundled_embedder.embed_query("dedicated 16 A circuit"), 1)
    assert hits[0].source.endswith("dock_checklist.md")


def test_every_bad_file_is_reported_with_a_reason(bundled_embedder: Any, store: ChromaStore, reindex: Reindex) -> None:
    report = reindex(bundled_embedder, store, [BAD], "bad")
    reasons = problems(report)
    assert set(reasons) == {"truncated.pdf", "not_really.docx", "empty.txt", "binary.md", "unknown.xyz"}
    assert all(reasons.values())
    assert [Path(f.path).name for f in report.indexed] == ["gbk_notes.txt"]


def test_reindexing_unchanged_files_writes_nothing(bundled_embedder: Any, store: ChromaStore, reindex: Reindex) -> None:
    first = reindex(bundled_embedder, store, [MIXED], "kb")
    count = store.count("kb")
    second = reindex(bundled_embedder, store, [MIXED], "kb")
    assert store.count("kb") == count == first.chunks_written > 0
    assert second.indexed == [] and second.chunks_written == 0 and len(second.plan.unchanged) == 2


def test_a_changed_file_replaces_its_old_chunks(
    bundled_embedder: Any, store: ChromaStore, tmp_path: Path, reindex: Reindex
) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / "policy.md"
    doc.write_text("# Policy\n\n" + "The old rule says robots park in bay seven. " * 60)
    reindex(bundled_embedder, store, [folder], "kb")
    doc.write_text("# Policy\n\nThe new rule says robots park in bay two.\n")
    reindex(bundled_embedder, store, [folder], "kb")
    texts = [h.text for h in store.search("kb", bundled_embedder.embed_query("where do robots park"), 10)]
    assert store.count("kb") == 1
    assert "bay two" in texts[0] and not any("bay seven" in t for t in texts)


def test_identical_chunk_texts_are_embedded_once(
    bundled_embedder: Any, store: ChromaStore, tmp_path: Path, reindex: Reindex
) -> None:
    calls: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(bundled_embedder, name)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            calls.append(len(texts))
            return bundled_embedder.embed_documents(texts)

    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("Identical notice posted in every warehouse.\n")
    report = reindex(Counting(), store, [tmp_path / "a.txt", tmp_path / "b.txt"], "kb")
    assert report.chunks_written == 2 and store.count("kb") == 2
    assert sum(calls) == 1


def test_a_kb_refuses_another_embedding_model(bundled_embedder: Any, store: ChromaStore, reindex: Reindex) -> None:
    store.ensure_kb("kb", "BAAI/bge-m3", 1024)
    with pytest.raises(EmbeddingModelMismatch, match="BAAI/bge-m3"):
        reindex(bundled_embedder, store, [MIXED / "dock_checklist.md"], "kb")


def test_hidden_files_are_ignored(bundled_embedder: Any, store: ChromaStore, tmp_path: Path, reindex: Reindex) -> None:
    docs = tmp_path / "docs"
    (docs / ".hidden").mkdir(parents=True)
    shutil.copy(MIXED / "dock_checklist.md", docs / "visible.md")
    shutil.copy(MIXED / "dock_checklist.md", docs / ".hidden" / "secret.md")
    report = reindex(bundled_embedder, store, [docs], "kb")
    assert [Path(f.path).name for f in report.indexed] == ["visible.md"] and problems(report) == {}


def test_token_counts_are_the_models_untruncated_counts(bundled_embedder: Any) -> None:
    """Counting uses a private tokenizer copy; it must agree with the model's own tokenizer and
    must not stop at the model's input limit, or long texts would be taken for short ones."""
    tokenizer = bundled_embedder._loaded().tokenizer  # noqa: SLF001 - the reference count
    bundled_embedder.embed_documents(["encoding sets truncation on the model's tokenizer"])
    long_text = "Robots dock overnight at the charging station. " * 80
    for text in ("", "NW-200 payload: 1,500 kg", "机器人夜间自动返回充电桩。", long_text):
        expected = len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"])
        assert bundled_embedder.count_tokens(text) == expected
    assert bundled_embedder.count_tokens(long_text) > bundled_embedder.max_input_tokens * 2


def test_documents_are_batched_by_token_length_and_returned_in_input_order() -> None:
    """Batches are padded to their longest input, so they group texts of equal token counts even
    where character counts say otherwise; the vectors still come back in the caller's order."""
    import numpy as np

    from ingest.embedders.factory import bundled_embedder as make

    embedder = make(batch_size=2)
    # Character counts and token counts disagree: digits split into many tokens, words into few.
    texts = [
        "internationalization " * 6,  # 126 chars, few tokens
        "7 3 9 1 4 8 2 6 5 0 " * 4,  # 80 chars, many tokens
        "communication " * 8,  # 112 chars, few tokens
        "9 1 7 3 5 0 2 8 4 6 " * 4,  # 80 chars, many tokens
        "short",
    ]
    tokens = [min(embedder.count_tokens(t), embedder.max_input_tokens) for t in texts]
    batches = embedder._token_sorted_batches(texts)  # noqa: SLF001 - the grouping is the point
    assert sorted(i for batch in batches for i in batch) == list(range(len(texts)))
    assert all(len(batch) <= 2 for batch in batches)
    # Longest first, and each batch holds the next-longest texts: digit strings go together.
    flat_lengths = [tokens[i] for batch in batches for i in batch]
    assert flat_lengths == sorted(tokens, reverse=True)
    assert set(batches[0]) == {1, 3}

    vectors = np.array(embedder.embed_documents(texts))
    alone = np.array([embedder.embed_documents([t])[0] for t in texts])
    assert vectors.shape == (len(texts), embedder.dimension)
    assert np.allclose((vectors * alone).sum(axis=1), 1.0, atol=1e-5)


def test_batches_are_bounded_by_padded_tokens_so_long_texts_go_in_small_batches() -> None:
    """A batch ends when one more input would take inputs x longest past ``batch_tokens``: long
    texts are embedded a few at a time, short ones many at a time, and no text is lost or moved."""
    import numpy as np

    from ingest.embedders.factory import bundled_embedder as make
    from ingest.embedders.sentence_transformers import CPU_BATCH_TOKENS

    embedder = make(batch_size=8, batch_tokens=120)
    texts = [("robots dock at the charging station overnight " * (1 + i % 5)).strip() for i in range(20)]
    padded = [min(embedder.count_tokens(t) + 2, embedder.max_input_tokens) for t in texts]
    batches = embedder._token_sorted_batches(texts)  # noqa: SLF001 - the grouping is the point
    assert sorted(i for batch in batches for i in batch) == list(range(len(texts)))
    for batch in batches:
        assert len(batch) <= 8
        assert len(batch) == 1 or len(batch) * max(padded[i] for i in batch) <= 120
    # The longest texts fill the first batch up to the budget; shorter ones make larger batches.
    assert len(batches[0]) == 120 // max(padded) < 8
    assert max(len(batch) for batch in batches) > len(batches[0])

    vectors = np.array(embedder.embed_documents(texts))
    alone = np.array([embedder.embed_documents([t])[0] for t in texts])
    assert np.allclose((vectors * alone).sum(axis=1), 1.0, atol=1e-5)

    assert make().batch_tokens == CPU_BATCH_TOKENS  # the bundled model runs on this CPU
    unbounded = make(batch_size=4, batch_tokens=0)
    assert unbounded.batch_tokens is None
    assert [len(b) for b in unbounded._token_sorted_batches(texts)] == [4] * 5  # noqa: SLF001


def test_a_window_is_embedded_longest_first_in_slices_that_report_progress(bundled_embedder: Any) -> None:
    """A window is sorted by tokens as a whole, embedded slice by slice (each slice reported as it
    is done), each distinct text once; the reported counts add up to every chunk of the window."""
    from ingest.writing import PROGRESS_SLICE, embed_slices

    calls: list[list[str]] = []

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(bundled_embedder, name)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            calls.append(texts)
            return bundled_embedder.embed_documents(texts)

    distinct = [f"robot {i} " + "docks at the charging station " * (i % 17) for i in range(3 * PROGRESS_SLICE + 7)]
    texts = distinct + distinct[:25]  # 25 duplicates
    recorder = Recorder()
    vectors = {t: v for part in embed_slices(Recording(), texts, recorder) for t, v in part.items()}  # type: ignore[arg-type]

    assert [len(c) for c in calls] == [PROGRESS_SLICE] * (len(distinct) // PROGRESS_SLICE) + [
        len(distinct) % PROGRESS_SLICE
    ]
    order = [bundled_embedder.count_tokens(t) for c in calls for t in c]
    assert order == sorted(order, reverse=True)
    assert recorder.embedded == len(texts)
    assert set(vectors) == set(distinct)
    alone = bundled_embedder.embed_documents([distinct[3]])[0]
    assert sum(a * b for a, b in zip(vectors[distinct[3]], alone, strict=True)) > 0.99999


def test_a_remote_embedder_is_given_the_next_slice_before_this_one_is_written() -> None:
    """With an embedder that takes submissions (the Ray engine's actors) the caller writes a slice
    while the next one is embedded: exactly one slice ahead, results in order, counts as without it."""
    from ingest.writing import embed_slices

    events: list[str] = []

    class Remote:
        def count_tokens(self, text: str) -> int:
            return len(text)

        def submit_documents(self, texts: list[str]) -> Any:
            events.append(f"submit {texts[0]}")
            return lambda: [[float(len(t)), 1.0] for t in texts]

    texts = [("x" * n) for n in range(10, 0, -1)]  # already longest first
    recorder = Recorder()
    slices = embed_slices(Remote(), texts, recorder, size=4)  # type: ignore[arg-type]
    for part in slices:
        events.append(f"write {min(part, key=len)}")
    assert events == [
        "submit " + "x" * 10,
        "submit " + "x" * 6,
        "write " + "x" * 7,
        "submit " + "x" * 2,
        "write " + "x" * 3,
        "write " + "x",
    ]
    assert recorder.embedded == len(texts)
