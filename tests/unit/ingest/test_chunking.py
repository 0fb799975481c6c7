"""Chunking: sizes in model tokens, section and sentence boundaries, tables kept whole."""

from __future__ import annotations

import pytest

from ingest.chunking import Chunker, ChunkingConfig
from ingest.embedders.tokens import estimate_tokens
from ingest.types import Element, ParsedDocument

pytestmark = pytest.mark.unit


def doc(elements: list[Element]) -> ParsedDocument:
    return ParsedDocument(
        doc_id="d1", source="/tmp/x.md", title="X", elements=elements, content_hash="h", file_type="md"
    )


def chunker(size: int = 60, overlap: int = 10) -> Chunker:
    return Chunker(estimate_tokens, ChunkingConfig(chunk_tokens=size, overlap_tokens=overlap), max_tokens=512)


def test_every_chunk_fits_the_token_budget_and_no_text_is_lost() -> None:
    sentences = [f"Sentence number {i} talks about robot model NW-{i} and its battery." for i in range(40)]
    chunks = chunker(60, 10).chunk(doc([Element(" ".join(sentences), "NarrativeText")]), "kb")
    assert len(chunks) > 3
    budget = 60 + 10  # a heading may be prefixed within the overlap allowance
    assert all(estimate_tokens(c.text) <= budget for c in chunks)
    joined = " ".join(c.text for c in chunks)
    for sentence in sentences:
        assert sentence in joined


def test_chinese_text_is_cut_at_sentence_ends() -> None:
    sentence = "北风机器人的巡检机器人每天自动巡检仓库两次，并记录温度和湿度。"
    text = sentence * 20
    chunks = chunker(50, 0).chunk(doc([Element(text, "NarrativeText")]), "kb")
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.endswith("。"), chunk.text[-10:]


def test_sections_start_new_chunks_and_carry_their_title() -> None:
    body_a = "Alpha policy text. " * 30
    body_b = "Beta policy text. " * 30
    elements = [
        Element("Alpha", "Title", section="Alpha"),
        Element(body_a.strip(), "NarrativeText", section="Alpha"),
        Element("Beta", "Title", section="Beta"),
        Element(body_b.strip(), "NarrativeText", section="Beta"),
    ]
    chunks = chunker(80, 0).chunk(doc(elements), "kb")
    assert not any("Alpha policy" in c.text and "Beta policy" in c.text for c in chunks)
    beta = [c for c in chunks if "Beta policy" in c.text]
    assert beta and all(c.section == "Beta" for c in beta)
    assert all(c.text.startswith("Beta") for c in beta)


def test_small_sections_are_packed_together() -> None:
    elements = []
    for name in ("One", "Two", "Three"):
        elements += [Element(name, "Title", section=name), Element(f"{name} is short.", "NarrativeText", section=name)]
    chunks = chunker(200, 0).chunk(doc(elements), "kb")
    assert len(chunks) == 1
    assert "One is short." in chunks[0].text and "Three is short." in chunks[0].text


def test_a_table_that_fits_stays_whole() -> None:
    table = "| Model | Battery |\n| NW-200 | 1,920 Wh |\n| NW-50 | 800 Wh |"
    elements = [
        Element("Specs", "Title", section="Specs"),
        Element("Intro sentence. " * 25, "NarrativeText", section="Specs"),
        Element(table, "Table", section="Specs"),
    ]
    chunks = chunker(60, 0).chunk(doc(elements), "kb")
    assert sum(table in c.text for c in chunks) == 1


def test_a_large_table_is_cut_between_rows_with_the_header_repeated() -> None:
    header = "| Part | Code | Price |"
    rows = [f"| Part {i} | P-{i:04d} | {i * 10} USD |" for i in range(60)]
    chunks = chunker(80, 0).chunk(doc([Element("\n".join([header, *rows]), "Table")]), "kb")
    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.startswith(header)
    seen = "\n".join(c.text for c in chunks)
    assert all(row in seen for row in rows)


def test_pages_follow_the_elements_a_chunk_came_from() -> None:
    elements = [
        Element("Page one text. " * 20, "NarrativeText", page=1),
        Element("Page two text. " * 20, "NarrativeText", page=2),
    ]
    chunks = chunker(50, 0).chunk(doc(elements), "kb")
    assert chunks[0].pages == (1,)
    assert chunks[-1].pages == (2,)


def test_chunk_ids_are_deterministic_and_distinct() -> None:
    elements = [Element("Some text here. " * 60, "NarrativeText")]
    first = chunker().chunk(doc(elements), "kb")
    second = chunker().chunk(doc(elements), "kb")
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert len({c.chunk_id for c in first}) == len(first)
    assert [c.chunk_index for c in first] == list(range(len(first)))


def test_chunk_size_is_clamped_to_the_model_limit() -> None:
    small_model = Chunker(estimate_tokens, ChunkingConfig(chunk_tokens=1000, overlap_tokens=0), max_tokens=128)
    chunks = small_model.chunk(doc([Element("word " * 2000, "NarrativeText")]), "kb")
    assert all(estimate_tokens(c.text) <= 128 for c in chunks)
