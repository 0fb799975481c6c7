"""Domain types produced by ingestion and consumed at query time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Element:
    """One structural piece of a parsed file (a title, a paragraph, a table, a list item)."""

    text: str
    category: str  # "Title", "NarrativeText", "Table", "ListItem", ...
    page: int | None = None
    section: str | None = None  # nearest title above this element
    text_as_html: str | None = None  # tables keep their structure here when the parser gives it


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    """A file turned into elements, with the identity every chunk of it inherits."""

    doc_id: str  # stable id derived from the knowledge base and source URI
    source: str  # source URI (absolute path or URL)
    title: str
    elements: list[Element]
    content_hash: str  # sha256 of the file bytes
    file_type: str


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage small enough to embed, with everything needed to cite it."""

    chunk_id: str  # deterministic: same document and text position -> same id
    kb: str
    doc_id: str
    source: str
    title: str
    text: str
    chunk_index: int
    content_hash: str  # sha256 of ``text``
    pages: tuple[int, ...] = ()
    section: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        """Flat scalar metadata as stored beside the vector (stores accept only scalars)."""
        meta: dict[str, Any] = {
            "kb": self.kb,
            "doc_id": self.doc_id,
            "source": self.source,
            "title": self.title,
            "chunk_index": self.chunk_index,
            "content_hash": self.content_hash,
            "pages": ",".join(str(p) for p in self.pages),
            "section": self.section or "",
        }
        for key, value in self.extra.items():
            if isinstance(value, str | int | float | bool):
                meta[key] = value
        return meta


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk returned by a search, with its similarity score (higher is closer, cosine in [-1, 1])."""

    chunk_id: str
    text: str
    score: float
    metadata: dict[str, Any]
    # False for a search asked for ids and scores only (``VectorStore.search(payload=False)``):
    # ``text`` and ``metadata`` are then empty until the hit is hydrated.
    has_payload: bool = True

    @property
    def doc_id(self) -> str:
        return str(self.metadata.get("doc_id", ""))

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", ""))

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", ""))

    @property
    def pages(self) -> tuple[int, ...]:
        raw = str(self.metadata.get("pages", ""))
        return tuple(int(p) for p in raw.split(",") if p.strip().isdigit())

    @property
    def section(self) -> str | None:
        value = self.metadata.get("section")
        return str(value) if value else None


@dataclass(frozen=True, slots=True)
class KnowledgeBaseInfo:
    """What a knowledge base was built with; checked on every read and write."""

    name: str
    embedding_model: str
    dimension: int
    count: int = 0
