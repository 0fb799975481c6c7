"""BM25 search per knowledge base (bm25s), kept in step with ingestion through ``ChunkSink``.

Trade-off: a bm25s index is an immutable CSC matrix whose IDF depends on the whole corpus,
so it cannot be patched per document. Writes therefore go to a persisted table of tokenised
chunks (``ChunkCorpus``) and only mark the matrix stale; the matrix is rebuilt from the stored
tokens once, on the first search after a batch of writes or on an explicit ``commit()``, and
saved beside the table so a restarted process loads it instead of rebuilding. Queries never
rebuild anything unless a write happened since the last build. A rebuild reads every token of
the knowledge base (about 1 s per 10,000 chunks here), so a batch job should ``commit()`` once
at its end rather than interleave searches with writes.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.lexical.corpus import ChunkCorpus, Row, with_title
from ingest.lexical.tokenize import Tokenizer
from ingest.stores.naming import validate_store_name
from ingest.types import Chunk, Hit

log = logging.getLogger(__name__)

_MATRIX_PREFIX = "bm25-g"


@dataclass(frozen=True, slots=True)
class BM25Params:
    """bm25s defaults (Lucene variant); ``k1``/``b`` as in the BM25 formula."""

    k1: float = 1.5
    b: float = 0.75
    method: str = "lucene"


@dataclass(frozen=True, slots=True)
class _Matrix:
    generation: int
    model: Any  # bm25s.BM25, or None for an empty knowledge base
    row_ids: np.ndarray


class LexicalIndex:
    """BM25 over every knowledge base's chunks, persisted under ``root``.

    A ``ChunkSink`` for ``Indexer``: ``replace_document`` makes a document's chunks the given
    ones (an empty list removes it). Searches see every committed write, also those made by
    another process on the same ``root``. ``Hit.score`` is the raw BM25 score (unbounded, not
    comparable across knowledge bases or queries). Safe to share between threads.
    """

    def __init__(
        self, root: str | Path, tokenizer: Tokenizer | None = None, *, params: BM25Params | None = None
    ) -> None:
        self.root = Path(root).expanduser()
        self.tokenizer = tokenizer or Tokenizer()
        self.params = params or BM25Params()
        self.corpus = ChunkCorpus(self.root / "lexical.sqlite3")
        self._matrices: dict[str, _Matrix] = {}
        self._lock = threading.RLock()
        self._checked_tokenizer: set[str] = set()

    # -- writes (ChunkSink) ------------------------------------------------------------------
    def replace_document(self, kb: str, doc_id: str, chunks: list[Chunk]) -> None:
        validate_store_name(kb)
        self._check_tokenizer(kb)
        terms = self._encode([self._indexed_text(c) for c in chunks])
        rows = [Row(c.chunk_id, c.doc_id, c.text, t, c.metadata()) for c, t in zip(chunks, terms, strict=True)]
        self.corpus.replace_document(kb, doc_id, rows, self.fingerprint)

    def delete_document(self, kb: str, doc_id: str) -> int:
        """Remove a document's chunks; returns how many there were."""
        return self.corpus.delete_document(validate_store_name(kb), doc_id)

    def drop_kb(self, kb: str) -> None:
        validate_store_name(kb)
        with self._lock:
            self.corpus.drop_kb(kb)
            self._matrices.pop(kb, None)
            shutil.rmtree(self._kb_dir(kb), ignore_errors=True)

    def ensure_kb(self, kb: str) -> None:
        """Record ``kb`` as indexed (empty), e.g. a staging copy about to be filled."""
        self.corpus.ensure_kb(validate_store_name(kb), self.fingerprint)

    def replace_kb(self, kb: str, staging: str) -> None:
        """Swap a rebuilt ``staging`` copy in as ``kb`` (idempotent, see ``ChunkCorpus.replace_kb``)."""
        validate_store_name(kb)
        validate_store_name(staging)
        with self._lock:
            if self.corpus.replace_kb(kb, staging):
                self._matrices.pop(kb, None)
                self._matrices.pop(staging, None)
                self._checked_tokenizer.discard(kb)
                shutil.rmtree(self._kb_dir(staging), ignore_errors=True)

    def backfill(self, kb: str, hits: Iterable[Hit]) -> int:
        """Add chunks that are already in the vector store (e.g. ``store.export``), for a knowledge
        base created before it had a lexical index. Returns how many chunks were added."""
        validate_store_name(kb)
        self._check_tokenizer(kb)
        added = 0
        batch: list[Hit] = []
        for hit in hits:
            batch.append(hit)
            if len(batch) >= 256:
                added += self._add(kb, batch)
                batch = []
        return added + (self._add(kb, batch) if batch else 0)

    def _add(self, kb: str, hits: list[Hit]) -> int:
        terms = self._encode([with_title(h.text, h.title) for h in hits])
        rows = [Row(h.chunk_id, h.doc_id, h.text, t, dict(h.metadata)) for h, t in zip(hits, terms, strict=True)]
        return self.corpus.add_rows(kb, rows, self.fingerprint)

    @staticmethod
    def _indexed_text(chunk: Chunk) -> str:
        # The document title is part of what the chunk is about; the dense side sees it only when
        # the chunker put the heading in the text, the lexical side always gets it.
        return with_title(chunk.text, chunk.title)

    # -- what a subclass with another term weighting changes (see ``ingest.lexical.sparse``) ----
    @property
    def fingerprint(self) -> str:
        """Names how texts become terms; a knowledge base written with another one is re-encoded."""
        return self.tokenizer.fingerprint

    def _encode(self, texts: list[str]) -> list[str]:
        """Texts to the stored term strings (space-separated tokens here)."""
        return [" ".join(self.tokenizer(t)) for t in texts]

    def _fit(self, rows: list[str]) -> Any:
        bm25s = _bm25s()
        p = self.params
        model = bm25s.BM25(k1=p.k1, b=p.b, method=p.method)
        model.index([r.split() for r in rows], show_progress=False)
        return model

    def _scores(self, model: Any, query: str) -> np.ndarray | None:
        """One score per row of the matrix, or ``None`` when the query shares no term with it."""
        vocab = model.vocab_dict
        terms = [t for t in self.tokenizer(query) if t in vocab]
        return np.asarray(model.get_scores(terms), dtype=np.float32) if terms else None

    def _save_model(self, model: Any, folder: Path) -> None:
        model.save(str(folder), show_progress=False)

    def _load_model(self, folder: Path) -> Any:
        bm25s = _bm25s()
        return bm25s.BM25.load(str(folder), mmap=True, show_progress=False, verbosity=0)

    # -- reads -------------------------------------------------------------------------------
    def has_kb(self, kb: str) -> bool:
        return self.corpus.generation(kb) is not None

    def count(self, kb: str) -> int:
        return self.corpus.count(kb)

    def get(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        """Chunks by id with the text and metadata they were indexed with (the vector store's
        own), for hits that came without them; ids not indexed here are left out."""
        return self.corpus.by_chunk_ids(kb, chunk_ids)

    def commit(self, kb: str | None = None) -> None:
        """Build (and persist) the matrix of ``kb``, or of every stale knowledge base, now."""
        for name in [kb] if kb is not None else self.corpus.kbs():
            self._matrix(name)

    def search(self, kb: str, query: str, top_k: int) -> list[Hit]:
        """Best ``top_k`` chunks by BM25, best first; chunks sharing no term with the query are left out."""
        validate_store_name(kb)
        matrix = self._matrix(kb)
        if matrix.model is None or top_k <= 0:
            return []
        scores = self._scores(matrix.model, query)
        if scores is None:
            return []
        k = min(top_k, int(np.count_nonzero(scores > 0)))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return self.corpus.hits([int(i) for i in matrix.row_ids[top]], [float(s) for s in scores[top]])

    # -- the matrix --------------------------------------------------------------------------
    def _check_tokenizer(self, kb: str) -> None:
        """Re-tokenise ``kb`` once if it was built with another tokenizer configuration."""
        if kb in self._checked_tokenizer:
            return
        stored = self.corpus.tokenizer_of(kb)
        if stored is not None and stored != self.fingerprint:
            log.warning("lexical index of %r was built with %s; re-encoding it with %s", kb, stored, self.fingerprint)
            self.corpus.retokenize(kb, self._encode, self.fingerprint)
        self._checked_tokenizer.add(kb)

    def _kb_dir(self, kb: str) -> Path:
        return self.root / "kbs" / kb

    def _matrix(self, kb: str) -> _Matrix:
        generation = self.corpus.generation(kb) or 0
        current = self._matrices.get(kb)
        if current is not None and current.generation == generation:
            return current
        with self._lock:
            self._check_tokenizer(kb)
            generation = self.corpus.generation(kb) or 0
            current = self._matrices.get(kb)
            if current is None or current.generation != generation:
                current = self._load(kb, generation) or self._build(kb)
                self._matrices[kb] = current
            return current

    def _load(self, kb: str, generation: int) -> _Matrix | None:
        folder = self._kb_dir(kb) / f"{_MATRIX_PREFIX}{generation}"
        if generation == 0 or not (folder / "row_ids.npy").exists():
            return None
        try:
            model = self._load_model(folder)
            row_ids = np.load(folder / "row_ids.npy")
        except (OSError, ValueError, KeyError) as exc:
            log.warning("cannot load the lexical matrix at %s (%s); rebuilding", folder, exc)
            return None
        return _Matrix(generation, model, row_ids)

    def _build(self, kb: str) -> _Matrix:
        generation, row_ids, rows = self.corpus.snapshot(kb)
        ids = np.asarray(row_ids, dtype=np.int64)
        if not row_ids:
            return _Matrix(generation, None, ids)
        model = self._fit(rows)
        self._save(kb, generation, model, ids)
        return _Matrix(generation, model, ids)

    def _save(self, kb: str, generation: int, model: Any, row_ids: np.ndarray) -> None:
        """Write to a temporary folder and rename, so a reader never sees half a matrix."""
        kb_dir = self._kb_dir(kb)
        final = kb_dir / f"{_MATRIX_PREFIX}{generation}"
        tmp = kb_dir / f".tmp-{os.getpid()}-{threading.get_ident()}"
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            self._save_model(model, tmp)
            np.save(tmp / "row_ids.npy", row_ids)
            if final.exists():  # another process built the same generation first
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                os.replace(tmp, final)
        except OSError as exc:
            log.warning("cannot persist the lexical matrix of %r (%s); it will be rebuilt next time", kb, exc)
            shutil.rmtree(tmp, ignore_errors=True)
            return
        for old in kb_dir.glob(f"{_MATRIX_PREFIX}*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)

    def close(self) -> None:
        self.corpus.close()


def _bm25s() -> Any:
    import bm25s

    # bm25s sets its own logger to DEBUG when imported, which lets every index build through
    # whatever level the application chose: make it follow the application's configuration.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s
