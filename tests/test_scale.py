"""Tests for rag.scale: splitting, the news loader, the latency helper and the evaluation."""

from __future__ import annotations

import pytest

from rag.scale import (
    NEWS_PATH,
    _pack,
    _sentences,
    bm25_latency,
    corpus_passages,
    lexical_eval,
    load_news_chunks,
    load_news_queries,
    load_questions,
)

needs_news = pytest.mark.skipif(not NEWS_PATH.exists(), reason=f"{NEWS_PATH} not present")


def test_pack_keeps_sentences_whole_and_under_the_limit() -> None:
    text = "第一句话。第二句话很长很长！第三句？" + "没有标点的长句" * 20
    pieces = _pack(_sentences(text), 12)
    assert all(len(p) <= 12 for p in pieces)
    assert "".join(pieces) == text
    assert pieces[0] == "第一句话。"


def test_sentences_keep_closing_quotes() -> None:
    assert _sentences("他说：“好。”然后走了。") == ["他说：“好。”", "然后走了。"]


@needs_news
def test_load_news_chunks_counts_and_sizes() -> None:
    chunks = load_news_chunks(500)
    assert len(chunks) == 500
    assert all(0 < len(c) <= 300 for c in chunks)
    assert chunks == load_news_chunks(500)  # deterministic, file order


@needs_news
def test_load_news_queries() -> None:
    queries = load_news_queries(5)
    assert len(queries) == 5 and all(8 <= len(q) <= 40 for q in queries)


@needs_news
@pytest.mark.parametrize("backend", ["sparse", "rank_bm25"])
def test_bm25_latency_reports_its_keys(backend: str) -> None:
    result = bm25_latency(load_news_chunks(200), load_news_queries(5), backend)  # type: ignore[arg-type]
    assert result["backend"] == backend and result["n_docs"] == 200
    assert 0 < result["p50_ms"] <= result["p95_ms"] and result["build_s"] > 0


def test_corpus_questions_all_have_their_span() -> None:
    passages, questions = corpus_passages(), load_questions()
    assert len(questions) >= 40
    result = lexical_eval(passages, questions)
    assert result["n_questions"] == len(questions)
    assert 0 <= result["hit@1"] <= result["hit@5"] <= result["hit@10"] <= 1


def test_lexical_eval_rejects_a_span_in_no_passage() -> None:
    with pytest.raises(ValueError, match="span not found"):
        lexical_eval(["招远黄金"], [{"q": "招远", "span": "胶州"}])
