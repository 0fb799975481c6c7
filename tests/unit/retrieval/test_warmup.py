"""Warm-up: every knowledge base answers one question before the server is ready; a broken one
is reported and does not stop the others; the time budget is honoured."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.lexical import LexicalIndex
from ingest.pipeline import Indexer
from ingest.stores.chroma import ChromaStore
from ingest.types import Element, ParsedDocument
from rag.retrieval.hybrid import HybridRetriever
from rag.warmup import warm_up

from .fakes import HashEmbedder

pytestmark = pytest.mark.unit


def doc(doc_id: str, text: str) -> ParsedDocument:
    return ParsedDocument(doc_id, f"/docs/{doc_id}.txt", doc_id, [Element(text, "NarrativeText")], doc_id, "txt")


@pytest.fixture
def built(tmp_path: Path) -> Path:
    embedder, store = HashEmbedder(), ChromaStore(tmp_path / "chroma")
    lexical = LexicalIndex(tmp_path / "lexical")
    indexer = Indexer(embedder, store, sinks=[lexical])
    indexer.ingest_documents([doc("leave", "员工每年享有二十五天带薪年假。 Annual leave is 25 days.")], "hr")
    indexer.ingest_documents([doc("nw200", "The NW-200 warranty period is three years.")], "products")
    lexical.commit()
    return tmp_path


def reopened(root: Path) -> tuple[HybridRetriever, list[str]]:
    """A fresh process's view: nothing loaded yet."""
    loads: list[str] = []

    class CountingLexical(LexicalIndex):
        def _load(self, kb, generation):  # type: ignore[no-untyped-def]
            loads.append(kb)
            return super()._load(kb, generation)

    retriever = HybridRetriever(HashEmbedder(), ChromaStore(root / "chroma"), CountingLexical(root / "lexical"))
    return retriever, loads


def test_each_knowledge_base_is_loaded_before_the_first_question(built: Path) -> None:
    retriever, loads = reopened(built)
    result = warm_up(retriever, ["hr", "products"], budget_s=30)
    assert result.warmed == ["hr", "products"] and not result.failed and not result.skipped
    assert sorted(loads) == ["hr", "products"]
    assert retriever.retrieve("年假有多少天", "hr", 1).hits[0].doc_id == "leave"
    assert sorted(loads) == ["hr", "products"], "the first question loaded a matrix again"


def test_a_broken_knowledge_base_is_reported_and_the_others_still_warm(built: Path) -> None:
    retriever, _ = reopened(built)
    result = warm_up(retriever, ["ghost", "products"], budget_s=30)
    assert result.warmed == ["products"]
    assert set(result.failed) == {"ghost"} and "ghost" in result.failed["ghost"]


def test_a_spent_budget_leaves_the_rest_cold(built: Path) -> None:
    retriever, loads = reopened(built)
    result = warm_up(retriever, ["hr", "products"], budget_s=0)
    assert result.warmed == [] and result.skipped == ["hr", "products"] and loads == []
