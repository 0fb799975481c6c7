"""The lexical index follows ingestion (replace, delete, drop), persists, and rebuilds only after writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.lexical import LexicalIndex, Tokenizer, TokenizerConfig
from ingest.lexical.index import LexicalIndex as _Index
from ingest.pipeline import Indexer
from ingest.stores.factory import build_store
from ingest.types import Element, ParsedDocument
from tests.unit.retrieval.fakes import HashEmbedder

pytestmark = pytest.mark.integration


def doc(doc_id: str, text: str, title: str = "") -> ParsedDocument:
    elements = ([Element(title, "Title")] if title else []) + [Element(text, "NarrativeText", section=title or None)]
    return ParsedDocument(doc_id, f"/docs/{doc_id}.txt", title or doc_id, elements, f"hash-{text}", "txt")


CORPUS = [
    doc("nw200", "The NW-200 switch reaches a throughput of 40 Gbps per port.", "NW-200 datasheet"),
    doc("leave", "Employees receive 25 days of paid annual leave.", "Employee handbook"),
    doc("zh", "出差报销须在行程结束后三十天内提交。", "差旅政策"),
]


@pytest.fixture
def built(tmp_path: Path):
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    lexical = LexicalIndex(tmp_path / "lexical")
    indexer = Indexer(HashEmbedder(), store, sinks=[lexical])
    indexer.ingest_documents(CORPUS, "kb")
    return indexer, store, lexical, tmp_path


def doc_ids(hits) -> list[str]:
    return [h.doc_id for h in hits]


def test_chunks_written_by_the_indexer_are_searchable_with_their_metadata(built) -> None:
    _, store, lexical, _ = built
    hits = lexical.search("kb", "throughput Gbps", 5)
    assert doc_ids(hits) == ["nw200"]
    assert hits[0].source == "/docs/nw200.txt" and hits[0].title == "NW-200 datasheet"
    assert hits[0].score > 0
    assert lexical.count("kb") == store.count("kb")
    assert doc_ids(lexical.search("kb", "报销", 5)) == ["zh"]


def test_the_title_is_indexed_with_every_chunk(built) -> None:
    _, _, lexical, _ = built
    assert doc_ids(lexical.search("kb", "handbook", 5)) == ["leave"]


def test_replacing_a_document_replaces_its_terms(built) -> None:
    indexer, store, lexical, _ = built
    assert lexical.search("kb", "throughput", 5)
    indexer.ingest_documents([doc("nw200", "The NW-200 now ships with a redundant power supply.")], "kb")
    assert lexical.search("kb", "throughput", 5) == []
    assert doc_ids(lexical.search("kb", "redundant power", 5)) == ["nw200"]
    assert lexical.count("kb") == store.count("kb")


def test_delete_document_and_drop_kb(built) -> None:
    _, _, lexical, tmp_path = built
    assert lexical.delete_document("kb", "leave") == 1
    assert lexical.delete_document("kb", "leave") == 0
    assert lexical.search("kb", "annual leave", 5) == []
    assert doc_ids(lexical.search("kb", "throughput", 5)) == ["nw200"]
    lexical.drop_kb("kb")
    assert not lexical.has_kb("kb")
    assert lexical.search("kb", "throughput", 5) == []
    assert not (tmp_path / "lexical" / "kbs" / "kb").exists()


def test_searches_rebuild_the_matrix_only_after_a_write(built, monkeypatch) -> None:
    indexer, _, lexical, _ = built
    builds: list[str] = []
    original = _Index._build

    def counting(self: _Index, kb: str):
        builds.append(kb)
        return original(self, kb)

    monkeypatch.setattr(_Index, "_build", counting)
    for query in ["throughput", "leave", "报销", "NW-200", "days"]:
        lexical.search("kb", query, 3)
    assert builds == ["kb"]
    indexer.ingest_documents([doc("new", "A brand new warranty document.")], "kb")
    lexical.search("kb", "warranty", 3)
    lexical.search("kb", "warranty", 3)
    assert builds == ["kb", "kb"]


def test_commit_persists_the_matrix_and_a_new_instance_loads_it(built, monkeypatch) -> None:
    _, _, lexical, tmp_path = built
    lexical.commit()
    assert list((tmp_path / "lexical" / "kbs" / "kb").glob("bm25-g*"))

    def no_build(self: _Index, kb: str):
        raise AssertionError("the persisted matrix should have been loaded")

    monkeypatch.setattr(_Index, "_build", no_build)
    reopened = LexicalIndex(tmp_path / "lexical")
    assert doc_ids(reopened.search("kb", "paid annual leave", 3)) == ["leave"]


def test_another_instance_on_the_same_root_sees_new_writes(built) -> None:
    _, _, writer, tmp_path = built
    reader = LexicalIndex(tmp_path / "lexical")
    assert reader.search("kb", "warranty", 3) == []
    writer.replace_document("kb", "warranty", [])  # an empty document is a deletion, nothing appears
    assert reader.search("kb", "warranty", 3) == []
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    Indexer(HashEmbedder(), store, sinks=[writer]).ingest_documents([doc("warranty", "Two year warranty.")], "kb")
    assert doc_ids(reader.search("kb", "warranty", 3)) == ["warranty"]


def test_a_changed_tokenizer_retokenises_the_stored_chunks(tmp_path: Path) -> None:
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    bigram = LexicalIndex(tmp_path / "lexical", Tokenizer(TokenizerConfig(chinese="bigram")))
    Indexer(HashEmbedder(), store, sinks=[bigram]).ingest_documents(
        [doc("kashmir", "印控克什米尔地区寺庙发生踩踏事故")], "kb"
    )
    assert bigram.corpus.tokenizer_of("kb") == bigram.tokenizer.fingerprint
    search_mode = LexicalIndex(tmp_path / "lexical", Tokenizer(TokenizerConfig(chinese="search")))
    assert doc_ids(search_mode.search("kb", "克什米尔地区", 3)) == ["kashmir"]
    assert search_mode.corpus.tokenizer_of("kb") == search_mode.tokenizer.fingerprint
    _, _, tokens = search_mode.corpus.snapshot("kb")
    assert "克什米尔地区" in tokens[0]  # a jieba word, which bigram tokens never contain


def test_backfill_from_the_vector_store(tmp_path: Path) -> None:
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    Indexer(HashEmbedder(), store).ingest_documents(CORPUS, "kb")  # no sink: a knowledge base from before
    lexical = LexicalIndex(tmp_path / "lexical")
    assert not lexical.has_kb("kb")
    added = lexical.backfill("kb", (hit for hit, _ in store.export("kb")))
    assert added == store.count("kb") == lexical.count("kb")
    assert doc_ids(lexical.search("kb", "throughput", 3)) == ["nw200"]
    assert doc_ids(lexical.search("kb", "datasheet", 3)) == ["nw200"]  # titles come along from metadata


def test_rarer_terms_weigh_more_and_unknown_terms_find_nothing(tmp_path: Path) -> None:
    lexical = LexicalIndex(tmp_path / "lexical")
    store = build_store("chroma", path_or_uri=tmp_path / "chroma")
    docs = [doc(f"d{i}", f"common words in report {i}") for i in range(5)] + [doc("rare", "common zeolite report")]
    Indexer(HashEmbedder(), store, sinks=[lexical]).ingest_documents(docs, "kb")
    assert lexical.search("kb", "zeolite common", 3)[0].doc_id == "rare"
    assert lexical.search("kb", "xylophone", 3) == []
    assert lexical.search("kb", "", 3) == []
    assert lexical.search("kb", "common", 0) == []
    assert len(lexical.search("kb", "common", 4)) == 4
