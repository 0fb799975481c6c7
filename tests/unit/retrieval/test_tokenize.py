"""Tokenisation for BM25: English stems and stop words, Chinese words, mixed text, digits."""

from __future__ import annotations

import pytest

from ingest.lexical.tokenize import Tokenizer, TokenizerConfig, drop_chinese_stopwords

pytestmark = pytest.mark.unit


def test_english_is_lowercased_stemmed_and_stopwords_dropped() -> None:
    tokens = Tokenizer()("The Mapping of human genomes is mapped")
    assert tokens == ["map", "human", "genom", "map"]


def test_stemming_and_stopwords_can_be_turned_off() -> None:
    tokens = Tokenizer(TokenizerConfig(stem=False, stopwords=False))("The mapping of genomes")
    assert tokens == ["the", "mapping", "of", "genomes"]


def test_single_letters_are_dropped_but_digits_kept() -> None:
    assert Tokenizer()("a 5 x 12 mg") == ["5", "12", "mg"]


def test_chinese_search_mode_adds_the_words_inside_long_words() -> None:
    search = Tokenizer(TokenizerConfig(chinese="search"))("印控克什米尔地区")
    cut = Tokenizer(TokenizerConfig(chinese="cut"))("印控克什米尔地区")
    assert "克什米尔地区" in search and "克什米尔地区" in cut
    assert {"克什", "米尔", "地区"} <= set(search)  # lets a query for 克什米尔 match this text
    assert not {"克什", "米尔"} & set(cut)


def test_search_mode_lets_a_short_query_share_terms_with_a_long_compound() -> None:
    tokenizer = Tokenizer(TokenizerConfig(chinese="search"))
    assert set(tokenizer("克什米尔")) & set(tokenizer("印控克什米尔地区寺庙"))


def test_chinese_function_words_are_dropped() -> None:
    tokens = Tokenizer(TokenizerConfig(chinese="cut"))("我们的国家")
    assert tokens == ["国家"]


def test_bigram_mode_needs_no_dictionary() -> None:
    assert Tokenizer(TokenizerConfig(chinese="bigram"))("寺庙踩踏") == ["寺庙", "庙踩", "踩踏"]
    assert Tokenizer(TokenizerConfig(chinese="bigram"))("年") == ["年"]


def test_mixed_chinese_english_and_numbers() -> None:
    tokens = Tokenizer(TokenizerConfig(chinese="cut"))("RCEP具体包括哪些国家？2022年Mapping")
    assert tokens[0] == "rcep"
    assert "国家" in tokens and "哪些" not in tokens
    assert "2022" in tokens and "年" in tokens
    assert tokens[-1] == "map"


def test_punctuation_and_empty_text_give_no_tokens() -> None:
    assert Tokenizer()("，。！？ -- ...") == []
    assert Tokenizer()("") == []


def test_fingerprint_names_the_configuration() -> None:
    assert Tokenizer(TokenizerConfig(chinese="cut")).fingerprint != Tokenizer().fingerprint
    assert Tokenizer(TokenizerConfig(stem=False)).fingerprint != Tokenizer().fingerprint
    assert Tokenizer().fingerprint == Tokenizer(TokenizerConfig()).fingerprint


def test_question_words_and_their_parts_are_not_terms() -> None:
    """哪一年 would otherwise match every passage that says 一年 (one year)."""
    tokens = Tokenizer()("北风机器人是哪一年成立的？")
    assert "一年" not in tokens and "哪一年" not in tokens
    assert {"北风", "机器人", "成立"} <= set(tokens)
    assert "一年" in Tokenizer()("数据默认保留一年")


def test_question_words_are_cut_whole_before_another_engine_analyses_the_query() -> None:
    """Milvus's analyser would split 哪一年 and keep 一年; the cut leaves no part of it behind."""
    cleaned = drop_chinese_stopwords("北风机器人是哪一年成立的？")
    assert "一年" not in cleaned and "哪" not in cleaned
    assert cleaned.split()[:3] == ["北风", "机器人", "成立"]
    assert drop_chinese_stopwords("NW-200 payload, 1,500 kg") == "NW-200 payload, 1,500 kg"
    assert "几乎" in drop_chinese_stopwords("几乎所有机器人都能充电")  # 几 inside a word is not a question
