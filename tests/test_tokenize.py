"""Tests for rag.tokenize: golden cases, number rules, odd input, thread safety."""

from __future__ import annotations

import logging
import threading

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rag.tokenize as tok
from rag.tokenize import STOPWORDS, tokenize, tokenizer_id


def test_golden_sentence_keeps_numbers_with_units_and_names() -> None:
    tokens = tokenize("招远市2023年黄金产业总产值900亿元")
    for expected in ("900亿元", "900", "2023年", "2023", "招远", "黄金", "总产值"):
        assert expected in tokens
    assert "亿元" not in tokens  # the unit stays glued to its number


@pytest.mark.parametrize("text", ["", " ", "\n\t", "，。！？、“”", "😀🎉", "　　"])
def test_empty_or_symbol_only_text_gives_no_tokens(text: str) -> None:
    assert tokenize(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("计划发放劳务报酬1308万元", ["1308万元", "1308", "1308万"]),
        ("全市完成进出口增长16.1%", ["16.1%", "16.1"]),
        ("总投资754 . 85 亿元", ["754.85亿元", "754.85", "754.85亿"]),  # PDF spacing
        ("本报烟台2 月21 日讯", ["2月", "2", "21日", "21"]),
        ("与万华化学等10 家企业", ["10家", "10"]),
        ("面积 1.2 万余亩", ["1.2万余亩", "1.2", "1.2万"]),
        ("培训工作人员200余人", ["200余人", "200"]),
        ("一期工程已完成９１.６５％", ["91.65%", "91.65"]),  # full-width digits and ％
        ("劳务报酬1,308万元", ["1308万元", "1308"]),
        ("提高3.46个百分点", ["3.46个百分点", "3.46"]),
        ("清洁能源装机规模达到93.6万千瓦", ["93.6万千瓦", "93.6", "93.6万"]),
    ],
)
def test_numbers_with_units(text: str, expected: list[str]) -> None:
    tokens = tokenize(text)
    for token in expected:
        assert token in tokens, (token, tokens)


def test_number_in_question_meets_number_in_passage() -> None:
    question = set(tokenize("招远计划发放劳务报酬1308万？"))
    passage = set(tokenize("计划发放劳务报酬1308万元"))
    assert {"1308万", "1308"} <= question & passage


def test_stopwords_and_question_words_are_dropped() -> None:
    tokens = tokenize("请问招远市的劳务报酬是多少？有哪些项目吗？如何申报呢？")
    assert not set(tokens) & STOPWORDS
    assert {"招远", "劳务", "报酬", "项目", "申报"} <= set(tokens)


def test_english_is_lower_cased_and_kept_whole() -> None:
    assert tokenize("Hello World, BM25 rocks!") == ["hello", "world", "bm25", "rocks"]


def test_mixed_script_and_identifiers() -> None:
    tokens = tokenize("抢抓QFLP试点，LNG接收站110kV输变电工程，H5N1防控")
    assert {"qflp", "试点", "lng", "110kv", "110", "h5n1"} <= set(tokens)
    assert "5" not in tokens  # the digit inside "h5n1" is not a number


def test_emoji_are_dropped_around_words() -> None:
    assert tokenize("招远😀黄金🎉") == ["招远", "黄金"]


@pytest.mark.parametrize(
    ("text", "name"),
    [("环翠区入库企业数量", "环翠"), ("环翠入库企业", "环翠"), ("山东省招远市", "招远"), ("青岛胶州市", "胶州")],
)
def test_place_names_become_their_stem(text: str, name: str) -> None:
    tokens = tokenize(text)
    assert name in tokens and not any(t.startswith(name) and t != name for t in tokens)


@pytest.mark.parametrize("word", ["开发区", "示范区", "全市", "山区"])
def test_common_nouns_ending_like_places_stay(word: str) -> None:
    assert word in tokenize(f"招远{word}建设")


def test_user_dictionary_keeps_corpus_names_whole() -> None:
    tokens = tokenize("玲珑轮胎和万华化学入选，招金膜天获评")
    assert {"玲珑轮胎", "万华化学", "招金膜天"} <= set(tokens)


def test_no_token_is_empty_or_holds_whitespace() -> None:
    text = "　　本报济南2 月20日讯 记者 从 济南市 市场监管局 获悉\n\n“泉城好品” 品牌遴选"
    assert all(t and not any(ch.isspace() for ch in t) for t in tokenize(text))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_text_tokenizes_to_clean_tokens(text: str) -> None:
    tokens = tokenize(text)
    assert all(t and t == t.strip() and t not in STOPWORDS for t in tokens)
    assert all(any(ch.isalnum() for ch in t) for t in tokens)


def test_long_text() -> None:
    text = "招远市2023年黄金产业总产值900亿元。" * 1000
    tokens = tokenize(text)
    assert tokens.count("900亿元") == 1000


def test_non_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="takes a str"):
        tokenize(None)  # type: ignore[arg-type]


def test_tokenizer_id_is_stable_and_follows_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    first = tokenizer_id()
    assert first == tokenizer_id()
    assert first.startswith(f"jieba-{jieba.__version__}:")
    monkeypatch.setattr(tok, "STOPWORDS", STOPWORDS | {"招远"})
    assert tokenizer_id() != first


def test_initialises_one_private_jieba_once_across_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created = []
    real = jieba.Tokenizer

    def counting(*args: object, **kwargs: object) -> jieba.Tokenizer:
        created.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(tok, "_jieba", None)
    monkeypatch.setattr(tok.jieba, "Tokenizer", counting)
    text = "山东省招远市将以工代赈作为带动群众就业增收的重要方式，计划发放劳务报酬1308万元"
    results: list[list[str]] = []
    barrier = threading.Barrier(6)

    def work() -> None:
        barrier.wait()
        results.append(tokenize(text))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(created) == 1
    assert tok._jieba is not jieba.dt  # not the global tokenizer
    assert len(results) == 6 and all(r == results[0] for r in results)


def test_jieba_does_not_log_on_load(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tok, "_jieba", None)
    jieba.setLogLevel(logging.DEBUG)  # as jieba starts out: it logs "Building prefix dict"
    tokenize("招远")
    assert "prefix dict" not in capfd.readouterr().err
