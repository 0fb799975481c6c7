"""The persisted, incrementally updated corpus behind a lexical index (one SQLite file).

bm25s matrices are immutable, so what is updated per document is this table of chunks with
their tokens; the matrix is derived from it. Every write bumps the knowledge base's
``generation``, which is how a searcher (in this process or another one, e.g. the API while
the CLI ingests) knows its matrix is stale. The chunk text is kept too, so the tokens can be
recomputed when the tokenizer changes and a hit can be returned without asking the vector store.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.types import Hit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kbs (
    kb TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    tokenizer TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    kb TEXT NOT NULL,
    chunk_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL,
    metadata TEXT NOT NULL,
    UNIQUE (kb, chunk_id)
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (kb, doc_id);
"""


@dataclass(frozen=True, slots=True)
class Row:
    """One chunk as the lexical index keeps it; ``tokens`` are space-separated terms."""

    chunk_id: str
    doc_id: str
    text: str
    tokens: str
    metadata: dict[str, Any]


class ChunkCorpus:
    """Chunks and their tokens per knowledge base, in ``path`` (created on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._initialised = False

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")  # readers in other processes are not blocked by a writer
            conn.execute("PRAGMA synchronous=NORMAL")
            with self._init_lock:
                if not self._initialised:
                    conn.executescript(_SCHEMA)
                    self._initialised = True
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- knowledge bases ---------------------------------------------------------------------
    def generation(self, kb: str) -> int | None:
        """Current generation of ``kb``; ``None`` when it has never been written."""
        row = self._conn().execute("SELECT generation FROM kbs WHERE kb = ?", (kb,)).fetchone()
        return None if row is None else int(row[0])

    def tokenizer_of(self, kb: str) -> str | None:
        row = self._conn().execute("SELECT tokenizer FROM kbs WHERE kb = ?", (kb,)).fetchone()
        return None if row is None else str(row[0])

    def kbs(self) -> list[str]:
        return [str(r[0]) for r in self._conn().execute("SELECT kb FROM kbs ORDER BY kb")]

    def count(self, kb: str) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM chunks WHERE kb = ?", (kb,)).fetchone()[0])

    def drop_kb(self, kb: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM chunks WHERE kb = ?", (kb,))
            conn.execute("DELETE FROM kbs WHERE kb = ?", (kb,))

    def ensure_kb(self, kb: str, tokenizer: str) -> None:
        """Record ``kb`` (with no chunks) unless it is known already."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO kbs (kb, generation, tokenizer) VALUES (?, ?, ?) ON CONFLICT (kb) DO NOTHING",
                (kb, _fresh_generation(), tokenizer),
            )

    def replace_kb(self, kb: str, staging: str) -> bool:
        """Make ``staging``'s chunks ``kb``'s, in one transaction; False when ``staging`` is gone
        (already swapped), so a repeated call after a crash changes nothing."""
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM kbs WHERE kb = ?", (staging,)).fetchone() is None:
                return False
            conn.execute("DELETE FROM chunks WHERE kb = ?", (kb,))
            conn.execute("DELETE FROM kbs WHERE kb = ?", (kb,))
            conn.execute("UPDATE chunks SET kb = ? WHERE kb = ?", (kb, staging))
            conn.execute("UPDATE kbs SET kb = ?, generation = ? WHERE kb = ?", (kb, _fresh_generation(), staging))
        return True

    @staticmethod
    def _bump(conn: sqlite3.Connection, kb: str, tokenizer: str) -> None:
        conn.execute(
            "INSERT INTO kbs (kb, generation, tokenizer) VALUES (?, ?, ?) "
            "ON CONFLICT (kb) DO UPDATE SET generation = generation + 1",
            (kb, _fresh_generation(), tokenizer),
        )

    # -- writes ------------------------------------------------------------------------------
    def replace_document(self, kb: str, doc_id: str, rows: Sequence[Row], tokenizer: str) -> None:
        """Make ``rows`` the document's only chunks, atomically; an empty list deletes it."""
        with self._write() as conn:
            conn.execute("DELETE FROM chunks WHERE kb = ? AND doc_id = ?", (kb, doc_id))
            self._insert(conn, kb, rows)
            self._bump(conn, kb, tokenizer)

    def add_rows(self, kb: str, rows: Iterable[Row], tokenizer: str) -> int:
        """Insert or replace chunks by id (a backfill from the vector store); returns how many."""
        rows = list(rows)
        with self._write() as conn:
            self._insert(conn, kb, rows)
            self._bump(conn, kb, tokenizer)
        return len(rows)

    @staticmethod
    def _insert(conn: sqlite3.Connection, kb: str, rows: Iterable[Row]) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO chunks (kb, chunk_id, doc_id, text, tokens, metadata) VALUES (?, ?, ?, ?, ?, ?)",
            [(kb, r.chunk_id, r.doc_id, r.text, r.tokens, json.dumps(r.metadata, ensure_ascii=False)) for r in rows],
        )

    def delete_document(self, kb: str, doc_id: str) -> int:
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM chunks WHERE kb = ? AND doc_id = ?", (kb, doc_id)).rowcount
            if deleted:
                conn.execute("UPDATE kbs SET generation = generation + 1 WHERE kb = ?", (kb,))
        return int(deleted)

    def retokenize(self, kb: str, encode: Callable[[list[str]], list[str]], tokenizer: str, batch: int = 256) -> None:
        """Recompute every chunk's terms of ``kb`` with ``encode`` (texts to term strings), because
        the tokenizer's configuration changed."""
        with self._write() as conn:
            rows = conn.execute("SELECT id, text, metadata FROM chunks WHERE kb = ?", (kb,)).fetchall()
            for start in range(0, len(rows), batch):
                part = rows[start : start + batch]
                terms = encode([with_title(text, json.loads(meta).get("title")) for _, text, meta in part])
                conn.executemany(
                    "UPDATE chunks SET tokens = ? WHERE id = ?", [(t, r[0]) for t, r in zip(terms, part, strict=True)]
                )
            conn.execute("UPDATE kbs SET tokenizer = ?, generation = generation + 1 WHERE kb = ?", (tokenizer, kb))

    # -- reads -------------------------------------------------------------------------------
    def snapshot(self, kb: str) -> tuple[int, list[int], list[str]]:
        """``(generation, row ids, stored term strings)`` read in one transaction, so they agree."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            row = conn.execute("SELECT generation FROM kbs WHERE kb = ?", (kb,)).fetchone()
            generation = 0 if row is None else int(row[0])
            ids: list[int] = []
            tokens: list[str] = []
            for rowid, terms in conn.execute("SELECT id, tokens FROM chunks WHERE kb = ? ORDER BY id", (kb,)):
                ids.append(int(rowid))
                tokens.append(terms)
        finally:
            conn.execute("COMMIT")
        return generation, ids, tokens

    def by_chunk_ids(self, kb: str, chunk_ids: Sequence[str]) -> list[Hit]:
        """The chunks of ``kb`` with these ids (in no particular order); ids not here are left out."""
        if not chunk_ids:
            return []
        marks = ",".join("?" * len(chunk_ids))
        rows = self._conn().execute(
            f"SELECT chunk_id, text, metadata FROM chunks WHERE kb = ? AND chunk_id IN ({marks})", [kb, *chunk_ids]
        )
        return [Hit(chunk_id=cid, text=text, score=1.0, metadata=json.loads(meta)) for cid, text, meta in rows]

    def hits(self, row_ids: Sequence[int], scores: Sequence[float]) -> list[Hit]:
        """Hits for ``row_ids`` in the given order; rows deleted meanwhile are left out."""
        if not row_ids:
            return []
        marks = ",".join("?" * len(row_ids))
        found = {
            int(r[0]): r
            for r in self._conn().execute(
                f"SELECT id, chunk_id, text, metadata FROM chunks WHERE id IN ({marks})", list(row_ids)
            )
        }
        out = []
        for rowid, score in zip(row_ids, scores, strict=True):
            if rowid in found:
                _, chunk_id, text, meta = found[rowid]
                out.append(Hit(chunk_id=chunk_id, text=text, score=float(score), metadata=json.loads(meta)))
        return out

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _fresh_generation() -> int:
    """A knowledge base's first generation: unique over time, so a knowledge base dropped and
    created again (or swapped in) never reuses a generation that a reader or a saved matrix of
    the old one still carries."""
    return time.time_ns() // 1000


def with_title(text: str, title: object) -> str:
    """The text a chunk is indexed with: its document title first, unless the text starts with it."""
    return text if not title or text.startswith(str(title)) else f"{title}\n{text}"
