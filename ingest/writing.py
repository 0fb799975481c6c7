"""The one way documents become stored chunks: chunk each document (within the per-file limits),
gather documents into embedding windows, embed a window slice by slice, and hand over each
document as soon as its last chunk has a vector.

``ReindexJob`` (files, with a manifest) and ``Indexer`` (documents parsed elsewhere) both write
through here, so batching, de-duplication, limits and progress are the same for both; each only
says how a finished document is written (the job with its crash-safe manifest markers).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

from ingest.chunking import Chunker
from ingest.embedders.base import Embedder
from ingest.failpoints import failpoint
from ingest.limits import FileLimits
from ingest.progress import ProgressListener
from ingest.types import Chunk, ParsedDocument

# Chunks embedded together. A window is sorted by token count before it is cut into batches, so a
# wider window pads less: on SciFact, 1,024 chunks pad to 1.02 times the real token count, 256 to
# 1.09.
EMBED_WINDOW = 1024
# A window is embedded in slices of one encoder batch, in sorted order (so padding is as for the
# whole window); progress is reported, and documents whose chunks are all embedded are written,
# after each slice: a window of BGE-M3 on a CPU takes many minutes.
PROGRESS_SLICE = 32

Vectors = dict[str, list[float]]


@dataclass(frozen=True, slots=True)
class ChunkedDocument:
    document: ParsedDocument
    chunks: list[Chunk]


def chunk_document(chunker: Chunker, doc: ParsedDocument, kb: str, limits: FileLimits) -> ChunkedDocument | str:
    """The document's chunks, or the reason it cannot be indexed (too many chunks, no text).

    Chunking stops one chunk past the limit, so a huge file costs no more than the limit."""
    chunks = list(islice(chunker.iter_chunks(doc, kb), limits.max_chunks + 1))
    if len(chunks) > limits.max_chunks:
        return limits.too_many_chunks()
    if not chunks:
        return "no text to index"
    return ChunkedDocument(doc, chunks)


def windows(documents: Iterable[ChunkedDocument], size: int) -> Iterator[list[ChunkedDocument]]:
    """Documents gathered until they hold at least ``size`` chunks: one embedding window each."""
    window: list[ChunkedDocument] = []
    chunks = 0
    for item in documents:
        window.append(item)
        chunks += len(item.chunks)
        if chunks >= size:
            yield window
            window, chunks = [], 0
    if window:
        yield window


def embed_slices(
    embedder: Embedder, texts: list[str], progress: ProgressListener, size: int = PROGRESS_SLICE
) -> Iterator[Vectors]:
    """Vectors of the distinct ``texts``, each embedded once, longest first, one slice at a time.

    The whole window is sorted by token count here, since the embedder can only sort what one
    call gives it; slicing the sorted list keeps its batches evenly padded while ``progress``
    hears of every slice. Duplicates are reported once all are embedded, so the counts add up.

    The next slice is started before this one is handed over. An embedder with
    ``submit_documents`` (the Ray engine's actors, through the embedding cache) embeds it
    meanwhile, so the caller writes while the next slice is embedded; any other is only called
    when its vectors are needed, so its work happens in the same order as without the look-ahead.
    """
    unique = sorted(dict.fromkeys(texts), key=lambda text: -embedder.count_tokens(text))
    submit = getattr(embedder, "submit_documents", None)

    def start(part: list[str]) -> Callable[[], list[list[float]]]:
        if callable(submit):
            return submit(part)  # type: ignore[no-any-return]
        return lambda: embedder.embed_documents(part)

    def finish(part: list[str], result: Callable[[], list[list[float]]]) -> Vectors:
        vectors = dict(zip(part, result(), strict=True))
        progress.chunks_embedded(len(part))
        return vectors

    pending: deque[tuple[list[str], Callable[[], list[list[float]]]]] = deque()
    for begin in range(0, len(unique), size):
        part = unique[begin : begin + size]
        pending.append((part, start(part)))
        if len(pending) > 1:
            yield finish(*pending.popleft())
    while pending:
        yield finish(*pending.popleft())
    if len(texts) > len(unique):
        progress.chunks_embedded(len(texts) - len(unique))


def embed_window(
    embedder: Embedder, window: list[ChunkedDocument], progress: ProgressListener, slice_size: int = PROGRESS_SLICE
) -> Iterator[tuple[list[ChunkedDocument], Vectors]]:
    """Embed ``window`` ``slice_size`` texts at a time; after each slice, the documents whose last
    chunk it embedded (in window order) with every vector so far, so files complete (and progress
    moves) during a window."""
    failpoint("before_embed")
    missing = [{c.text for c in item.chunks} for item in window]
    waiting: dict[str, list[int]] = {}
    for index, texts in enumerate(missing):
        for text in texts:
            waiting.setdefault(text, []).append(index)
    vectors: Vectors = {}
    for part in embed_slices(embedder, [c.text for item in window for c in item.chunks], progress, slice_size):
        failpoint("after_embed")
        vectors.update(part)
        complete = []
        for text in part:
            for index in waiting.pop(text, []):
                missing[index].discard(text)
                if not missing[index]:
                    complete.append(index)
        if complete:
            yield [window[i] for i in sorted(complete)], vectors
