"""Tests for rag.chunking: coverage, sizes, headings, ids, and the real corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_article, chunk_articles, headings
from rag.clean import is_sentence_end
from rag.corpus import load_corpus
from rag.errors import InputError
from rag.types import Article, Chunk, content_id

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture(scope="module")
def articles() -> list[Article]:
    return load_corpus(CORPUS).articles


@pytest.fixture(scope="module")
def chunks(articles: list[Article]) -> list[Chunk]:
    return chunk_articles(articles)


def _covers(article: Article, chunks: list[Chunk]) -> bool:
    return "".join(c.text.replace("\n", "") for c in chunks) == "".join(article.paragraphs)


def test_chunks_cover_every_real_article_exactly(articles: list[Article]) -> None:
    for article in articles:
        assert _covers(article, chunk_article(article)), article.title


def test_real_chunks_are_clean(chunks: list[Chunk]) -> None:
    assert 100 <= len(chunks) <= 300
    for chunk in chunks:
        assert not re.search(r"</?[a-zA-Z][^>]*>", chunk.text), chunk.text  # HTML tags
        assert not re.search(r"^---|^(layout|title|date|categories|tags):", chunk.text, re.M)  # front matter
        assert not re.search(r"\d\s+[.．]|[.．]\s+\d|\d\s+[年月日亿万家个项%]", chunk.text), chunk.text
        assert "http" not in chunk.text and "返回首页" not in chunk.text


def test_real_chunks_break_lines_only_between_sentences(chunks: list[Chunk]) -> None:
    """Every line of a chunk ends a sentence, or is a heading, byline or note with no sentence in it."""
    for chunk in chunks:
        lines = chunk.text.split("\n")
        for line in lines[:-1]:
            ok = is_sentence_end(line) or line.endswith(("）", ")")) or (
                len(line) <= 40 and not re.search(r"[。！？；]", line)
            )
            assert ok, (chunk.title, line)


def test_real_chunks_know_their_article(articles: list[Article], chunks: list[Chunk]) -> None:
    by_id = {a.id: a for a in articles}
    assert len({c.id for c in chunks}) == len(chunks)
    for chunk in chunks:
        article = by_id[chunk.article_id]
        assert (chunk.title, chunk.date, chunk.source) == (article.title, article.date, article.source)
        assert chunk.id == content_id(article.id, chunk.text)
        assert len(chunk.text) <= 300
    for article in articles:
        positions = [c.position for c in chunks if c.article_id == article.id]
        assert positions == list(range(len(positions)))


def test_rechunking_gives_the_same_ids(articles: list[Article], chunks: list[Chunk]) -> None:
    assert [c.id for c in chunk_articles(load_corpus(CORPUS).articles)] == [c.id for c in chunks]


def test_chunks_carry_the_section_heading_they_sit_under(chunks: list[Chunk]) -> None:
    under_golden_season = [c for c in chunks if c.heading == "抢抓项目建设“黄金期” 推动项目建设再提速"]
    assert len(under_golden_season) >= 3
    assert any("远景能源零碳产业园是乳山市引进的龙头项目" in c.text for c in under_golden_season)
    # a paragraph-long lead-in carries over to the paragraphs after it
    foreign = [c for c in chunks if "QFLP试点" in c.text]
    assert [c.heading for c in foreign] == ["拓展领域，利用外资提质增效"]
    gold = [c for c in chunks if "黄金产业总产值达到900亿元" in c.text]
    assert gold[0].heading == "全力推进产业转型 推动经济向“强”而进 做优做强黄金产业全链条"
    assert "招远" in gold[0].context_text().split("\n")[0]


def test_headings_sections_and_lead_ins() -> None:
    paragraphs = [
        "□记者 甲",
        "党建引领抱团发展",
        "探索共富新路径",
        "5月17日，村民将西红柿运出大棚。",
        "驰而不息转作风。",
        "该项目总投资1.2亿元。",
        "培育新质生产力,绿色低碳高质量发展动力不断增强。科技创新是核心要素。",
        "目前共有联盟20个。",
        "①乳山葡萄酒小镇",
        "②积极推进海上风电产业",
        "③威海伯特利汽车车间",
    ]
    section = "党建引领抱团发展 探索共富新路径"
    assert headings(paragraphs) == [
        "",
        section,
        section,
        section,
        f"{section} 驰而不息转作风",
        f"{section} 驰而不息转作风",  # a lead-in paragraph of its own holds on
        f"{section} 培育新质生产力,绿色低碳高质量发展动力不断增强",
        section,  # a lead-in opening a paragraph holds for that paragraph only
        section,  # captions are no headings
        section,
        section,
    ]


def _article(paragraphs: list[str]) -> Article:
    return Article(content_id("t", *paragraphs), "标题", "2024-01-01", "t.txt", paragraphs)


def test_long_paragraph_is_split_at_sentence_ends() -> None:
    sentence = "山东港口在青岛共计32项、总投资754.85亿元的项目正式启动。"
    article = _article([sentence * 12])
    chunks = chunk_article(article, max_chars=100, min_chars=20)
    assert len(chunks) > 1
    assert all(c.text.endswith("。") and len(c.text) <= 100 for c in chunks)
    assert _covers(article, chunks)


def test_a_sentence_longer_than_max_chars_is_cut_outside_numbers() -> None:
    article = _article(["总投资" + "1234567.89亿元和" * 8 + "项目" * 30 + "。"])  # one clause, no comma
    chunks = chunk_article(article, max_chars=25, min_chars=0)
    assert _covers(article, chunks)
    assert all(len(c.text) <= 25 for c in chunks)
    for left, right in zip(chunks, chunks[1:]):
        assert not (left.text[-1].isdigit() and right.text[0] in "0123456789.")


def test_short_paragraphs_are_merged_and_a_short_tail_joins_the_chunk_before() -> None:
    article = _article(["第一段。", "第二段。", "第三段。"])
    assert [c.text for c in chunk_article(article)] == ["第一段。\n第二段。\n第三段。"]


@pytest.mark.parametrize(("max_chars", "min_chars"), [(10, 0), (300, -1), (100, 101)])
def test_bad_sizes_raise_input_error(max_chars: int, min_chars: int) -> None:
    with pytest.raises(InputError, match="must be"):
        chunk_article(_article(["正文。"]), max_chars=max_chars, min_chars=min_chars)


_ALPHABET = st.sampled_from(list("招远市黄金产业亿元万项目") + list("0123456789.") + list("，。！？；、“”") + ["\u3000"])
_PARAGRAPHS = st.lists(st.text(alphabet=_ALPHABET, min_size=1, max_size=400), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(_PARAGRAPHS, st.integers(min_value=20, max_value=400), st.integers(min_value=0, max_value=400))
def test_chunks_always_cover_their_article_within_max_chars(paragraphs: list[str], max_chars: int, min_chars: int) -> None:
    min_chars = min(min_chars, max_chars)
    article = _article(paragraphs)
    chunks = chunk_article(article, max_chars=max_chars, min_chars=min_chars)
    assert _covers(article, chunks)
    assert all(0 < len(c.text) <= max_chars for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
