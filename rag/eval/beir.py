"""BEIR-format evaluation data: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``.

Corpus rows become ``ParsedDocument``s (title as a ``Title`` element, text as
``NarrativeText``) so they go through the same chunker, embedder and stores as real files.
The BEIR ``_id`` is the ``doc_id``, which is how retrieved chunks map back to judged documents.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.types import Element, ParsedDocument


@dataclass(frozen=True, slots=True)
class CorpusRow:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True, slots=True)
class BeirDataset:
    name: str
    path: Path
    corpus: list[CorpusRow]
    queries: dict[str, str]  # only queries that have judgments, in file order
    qrels: dict[str, dict[str, int]]

    def limit(
        self,
        max_queries: int | None = None,
        corpus_sample: int | None = None,
        seed: int = 13,
        corpus_limit: int | None = None,
    ) -> BeirDataset:
        """A smaller dataset: the first ``max_queries`` queries; with ``corpus_limit``, the first
        rows of the corpus only (for corpora grouped by query, like RGB, where the rows of the
        first queries come first with their hard negatives); with ``corpus_sample``, every
        document judged for the queries plus ``corpus_sample`` others drawn with ``seed`` (fixed,
        so a threshold measured on it stays valid). Fewer distractors make the task easier:
        compare figures only between runs on the same subset."""
        query_ids = list(self.queries)[:max_queries] if max_queries else list(self.queries)
        queries = {q: self.queries[q] for q in query_ids}
        qrels = {q: self.qrels[q] for q in query_ids}
        corpus = self.corpus[:corpus_limit] if corpus_limit else self.corpus
        if corpus_sample is not None:
            judged = {d for q in query_ids for d in qrels[q]}
            others = sorted(r.doc_id for r in corpus if r.doc_id not in judged)
            keep = judged | set(random.Random(seed).sample(others, min(corpus_sample, len(others))))
            corpus = [r for r in corpus if r.doc_id in keep]
        return BeirDataset(self.name, self.path, corpus, queries, qrels)

    def fingerprint(self) -> str:
        """Identifies the documents indexed (not the queries), to decide whether an index can be reused."""
        digest = hashlib.sha256()
        for row in self.corpus:
            digest.update(f"{row.doc_id}\x00{len(row.title)}\x00{len(row.text)}\x00".encode())
        return f"{self.name}:{len(self.corpus)}:{digest.hexdigest()[:16]}"


def load_beir(path: str | Path, split: str = "test") -> BeirDataset:
    """Read a BEIR folder. Raises ``FileNotFoundError`` or ``ValueError`` on a malformed one."""
    root = Path(path).expanduser().resolve()
    corpus = []
    with (root / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                corpus.append(CorpusRow(str(row["_id"]), str(row.get("title") or ""), str(row.get("text") or "")))
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels" / f"{split}.tsv").open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        for i, fields in enumerate(reader):
            if not fields or (i == 0 and not fields[-1].strip().lstrip("-").isdigit()):
                continue  # blank line or header row
            if len(fields) < 3:
                raise ValueError(f"{root}/qrels/{split}.tsv line {i + 1}: expected query-id, corpus-id, score")
            qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    queries: dict[str, str] = {}
    with (root / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if str(row["_id"]) in qrels:
                    queries[str(row["_id"])] = str(row["text"])
    if not queries:
        raise ValueError(f"{root}: no query in queries.jsonl has judgments in qrels/{split}.tsv")
    return BeirDataset(root.name, root, corpus, queries, {q: qrels[q] for q in queries})


def documents(dataset: BeirDataset) -> Iterator[ParsedDocument]:
    """The corpus as parsed documents, ready for ``Indexer.ingest_documents``."""
    for row in dataset.corpus:
        elements = []
        if row.title.strip():
            elements.append(Element(text=row.title.strip(), category="Title"))
        if row.text.strip():
            elements.append(Element(text=row.text.strip(), category="NarrativeText", section=row.title.strip() or None))
        yield ParsedDocument(
            doc_id=row.doc_id,
            source=f"beir://{dataset.name}/{row.doc_id}",
            title=row.title.strip(),
            elements=elements,
            content_hash=hashlib.sha256(f"{row.title}\x00{row.text}".encode()).hexdigest(),
            file_type="beir",
        )
