"""Structure-aware chunking measured in the embedding model's tokens.

Sections (a title and what follows it) are the first boundary; inside a section text is cut
at paragraph, then sentence boundaries (Chinese ``。！？；`` as well as Western punctuation),
then clauses, and only as a last resort inside a sentence. Tables stay whole when they fit
and are otherwise cut between rows with the header repeated. Small neighbouring sections
are packed together so that a heading with one line does not become a chunk of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.types import Chunk, Element, ParsedDocument

TokenCounter = Callable[[str], int]

# Merging two blocks can save a few tokens at most (a word-piece joined across the break).
_MERGE_SLACK = 8
# Text longer than this is cut into pieces before the splitter sees it, so that splitting (and
# the token counts it makes) works on one piece at a time; pieces end at a natural boundary.
SEGMENT_CHARS = 64_000
_SEGMENT_BREAKS = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ", "；", "; ", " ")

# Boundaries in order of preference; ``keep_separator="end"`` leaves punctuation on its sentence.
SEPARATORS: list[str] = [
    "\n\n",
    "\n",
    "。",
    "！",
    "？",
    "；",
    ". ",
    "! ",
    "? ",
    "; ",
    "，",
    "、",
    ", ",
    " ",
    "",
]


@dataclass(frozen=True, slots=True)
class ChunkingConfig:
    """Sizes in embedding-model tokens; ``chunk_tokens`` is clamped to the model's input limit."""

    chunk_tokens: int = 400
    overlap_tokens: int = 60
    heading_prefix: bool = True  # prepend the section title to chunks that do not start with it


@dataclass(slots=True)
class _Block:
    """A piece of one section, already no larger than the chunk size."""

    text: str
    pages: set[int] = field(default_factory=set)
    section: str | None = None
    is_table: bool = False
    tokens: int | None = None  # known token count, so packing does not count it again


class Chunker:
    """Turns a ``ParsedDocument`` into ``Chunk``s no longer than ``chunk_tokens`` model tokens."""

    def __init__(self, count_tokens: TokenCounter, config: ChunkingConfig | None = None, max_tokens: int = 512) -> None:
        config = config or ChunkingConfig()
        self.config = config
        self.max_tokens = max_tokens  # with ``config``: what a worker elsewhere needs to chunk alike
        # Leave room for the special tokens the model adds around every input.
        self.size = max(32, min(config.chunk_tokens, max_tokens - 4))
        self.overlap = max(0, min(config.overlap_tokens, self.size // 2))
        self.heading_prefix = config.heading_prefix
        self._count = count_tokens
        self._splitter = RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            keep_separator="end",
            chunk_size=self.size,
            chunk_overlap=self.overlap,
            length_function=count_tokens,
            add_start_index=True,
            strip_whitespace=True,
        )

    def chunk(self, doc: ParsedDocument, kb: str) -> list[Chunk]:
        return list(self.iter_chunks(doc, kb))

    def iter_chunks(self, doc: ParsedDocument, kb: str) -> Iterator[Chunk]:
        """``chunk``, one chunk at a time: a caller that stops early (a per-file chunk limit)
        never has the rest of a huge document cut, counted or held."""
        blocks = (b for section, elements in _sections(doc.elements) for b in self._section_blocks(section, elements))
        for index, block in enumerate(self._pack(blocks)):
            text = block.text
            if self.heading_prefix and block.section and not text.startswith(block.section):
                with_heading = f"{block.section}\n{text}"
                if self._count(with_heading) <= self.size + self.overlap:
                    text = with_heading
            digest = hashlib.sha256(text.encode()).hexdigest()
            yield (
                Chunk(
                    chunk_id=hashlib.sha256(f"{doc.doc_id}\x00{index}\x00{digest}".encode()).hexdigest()[:40],
                    kb=kb,
                    doc_id=doc.doc_id,
                    source=doc.source,
                    title=doc.title,
                    text=text,
                    chunk_index=index,
                    content_hash=digest,
                    pages=tuple(sorted(block.pages)),
                    section=block.section,
                    extra={"file_type": doc.file_type},
                )
            )

    # -- one section ------------------------------------------------------------------------
    def _section_blocks(self, section: str | None, elements: list[Element]) -> Iterator[_Block]:
        run: list[Element] = []
        for element in elements:
            if element.category == "Table":
                yield from self._text_blocks(section, run)
                run = []
                yield from self._table_blocks(section, element)
            else:
                run.append(element)
        yield from self._text_blocks(section, run)

    def _text_blocks(self, section: str | None, elements: list[Element]) -> Iterator[_Block]:
        if not elements:
            return
        spans: list[tuple[int, int, int | None]] = []  # (start, end, page) of each element in the joined text
        parts: list[str] = []
        offset = 0
        for element in elements:
            parts.append(element.text)
            spans.append((offset, offset + len(element.text), element.page))
            offset += len(element.text) + 2
        joined = "\n\n".join(parts)
        if len(joined) <= SEGMENT_CHARS:
            tokens = self._count(joined)
            if tokens <= self.size:  # the common case: no splitter, one count
                pages = {p for _, _, p in spans if p is not None}
                yield _Block(text=joined, pages=pages, section=section, tokens=tokens)
                return
        for offset, segment in _segments(joined, SEGMENT_CHARS):
            for piece in self._splitter.create_documents([segment]):
                start = offset + int(piece.metadata.get("start_index", 0))
                end = start + len(piece.page_content)
                pages = {p for s, e, p in spans if p is not None and s < end and e > start}
                yield _Block(text=piece.page_content, pages=pages, section=section)

    def _table_blocks(self, section: str | None, table: Element) -> list[_Block]:
        pages = {table.page} if table.page is not None else set()
        if self._count(table.text) <= self.size:
            return [_Block(text=table.text, pages=pages, section=section, is_table=True)]
        rows = table.text.split("\n")
        header, body = rows[0], rows[1:] or [""]
        blocks: list[_Block] = []
        current: list[str] = [header]
        for row in body:
            candidate = "\n".join([*current, row])
            if len(current) > 1 and self._count(candidate) > self.size:
                blocks.append(_Block(text="\n".join(current), pages=set(pages), section=section, is_table=True))
                current = [header, row]
            else:
                current.append(row)
        blocks.append(_Block(text="\n".join(current), pages=set(pages), section=section, is_table=True))
        # A single row longer than the chunk size is cut like prose.
        out: list[_Block] = []
        for block in blocks:
            if self._count(block.text) <= self.size:
                out.append(block)
            else:
                out.extend(
                    _Block(text=t, pages=set(pages), section=section) for t in self._splitter.split_text(block.text)
                )
        return out

    # -- across sections --------------------------------------------------------------------
    def _pack(self, blocks: Iterable[_Block]) -> Iterator[_Block]:
        """Merge neighbouring small blocks (whole sections or tables) while they fit together."""
        last: _Block | None = None
        for block in blocks:
            if last is not None:
                # Token counts are close to additive across a paragraph break; a pair clearly over
                # the size is not counted again (the cost of chunking is mostly these counts).
                if self._tokens(last) + self._tokens(block) <= self.size + _MERGE_SLACK:
                    merged_text = f"{last.text}\n\n{block.text}"
                    merged_tokens = self._count(merged_text)
                    if merged_tokens <= self.size:
                        section = last.section if last.section == block.section else (last.section or block.section)
                        last = _Block(
                            text=merged_text,
                            pages=last.pages | block.pages,
                            section=section,
                            is_table=False,
                            tokens=merged_tokens,
                        )
                        continue
                yield last
            last = block
        if last is not None:
            yield last

    def _tokens(self, block: _Block) -> int:
        if block.tokens is None:
            block.tokens = self._count(block.text)
        return block.tokens


def _segments(text: str, limit: int) -> Iterator[tuple[int, str]]:
    """``(offset, piece)`` of ``text`` in pieces of at most ``limit`` characters, each cut at the
    best boundary in its second half (a paragraph, a line, a sentence, a space), so that a huge
    paragraph is split a piece at a time instead of all at once."""
    start = 0
    while len(text) - start > limit:
        cut = -1
        for separator in _SEGMENT_BREAKS:
            found = text.rfind(separator, start + limit // 2, start + limit)
            if found >= 0:
                cut = found + len(separator)
                break
        end = cut if cut > start else start + limit
        yield start, text[start:end]
        start = end
    yield start, text[start:]


def _sections(elements: list[Element]) -> list[tuple[str | None, list[Element]]]:
    """Group elements under their nearest title; the title itself opens its section's text."""
    sections: list[tuple[str | None, list[Element]]] = []
    for element in elements:
        if element.category == "Title" or not sections:
            section = element.text if element.category == "Title" else element.section
            sections.append((section, [element]))
        else:
            sections[-1][1].append(element)
    return sections
