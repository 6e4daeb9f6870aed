"""rag.text: the one home of the Chinese-text rules."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.text import (
    CITATION_MARKER,
    DATELINE,
    LEVEL,
    abbreviates,
    parse_marked,
    render_parts,
    sentence_spans,
    split_clauses,
    split_sentences,
    strip_admin_suffix,
    years_in,
    years_relative_to,
)


def test_split_sentences_keeps_closing_quotes_and_every_character() -> None:
    text = "“今年，我们将增加出口车型。”比亚迪徐磊说。抓项目就是抓发展；谋项目就是谋未来！"
    parts = split_sentences(text, strip=False)
    assert parts == ["“今年，我们将增加出口车型。”", "比亚迪徐磊说。", "抓项目就是抓发展；", "谋项目就是谋未来！"]
    assert "".join(parts) == text


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("", []),
        ("   ", []),
        ("没有句号", ["没有句号"]),
        ("他说：“好。”然后走了。", ["他说：“好。”", "然后走了。"]),
        ("第一段。\n 第二段没有句号\n第三段！", ["第一段。", "第二段没有句号", "第三段！"]),
        ("挥汗如雨……眼下，明阳", ["挥汗如雨……", "眼下，明阳"]),
        ("Growth was 5%! Really? 😀", ["Growth was 5%!", "Really?", "😀"]),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_sentence_spans_point_into_the_text() -> None:
    text = " 甲乙。\n丙丁；戊"
    spans = sentence_spans(text)
    assert [text[a:b] for a, b in spans] == ["甲乙。", "丙丁；", "戊"]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("招远市亿元。！？；…”）\n 　ab1")), max_size=60))
def test_lossless_split_loses_nothing_and_stripped_spans_match(text: str) -> None:
    assert "".join(split_sentences(text, strip=False)) == text
    assert [text[a:b] for a, b in sentence_spans(text)] == split_sentences(text)


def test_split_clauses_keeps_the_mark_with_its_clause() -> None:
    assert split_clauses("一是抓项目，二是抓招商、抓服务：完成") == ["一是抓项目，", "二是抓招商、", "抓服务：", "完成"]


@pytest.mark.parametrize(
    ("name", "stem"),
    [("招远市", "招远"), ("黄渤海新区", "黄渤海"), ("东区", "东区"), ("大辛店镇", "大辛店"), ("马家乡", "马家"), ("城区", "城区")],
)
def test_strip_admin_suffix(name: str, stem: str) -> None:
    assert strip_admin_suffix(name) == stem


def test_relative_years_include_qiannian() -> None:
    assert years_relative_to("前年", 2024) == {2022}
    assert years_relative_to("今年和明年", 2024) == {2024, 2025}
    assert years_relative_to("去年", None) == set()
    assert years_in("2023年末，去年", 2025) == {2023, 2024}
    assert years_in("2021—2023", None) == {2021}


def test_markers_round_trip() -> None:
    parts = [("产值900亿元。", 1), ("", 2), ("资料中没有找到关于“胶州”的相应内容。", None)]
    text = render_parts(parts)
    assert text == "产值900亿元。[1][2]资料中没有找到关于“胶州”的相应内容。"
    assert parse_marked(text) == parts
    assert CITATION_MARKER.findall(text) == ["1", "2"]
    assert parse_marked("") == []


@pytest.mark.parametrize(
    ("short", "text", "found"),
    [
        ("高企", "高新技术企业达到1238家", True),
        ("规上", "规模以上工业企业达969家", True),
        ("综保", "烟台综合保税区工委书记", True),
        ("高企", "高，企业", False),  # no punctuation inside a name
        ("高企", "高质量发展的新兴产业和企业", False),  # too far apart
        ("招远", "招远市", True),
        ("高新技术企业", "高新技术企业", True),  # the word itself, whatever its length
    ],
)
def test_abbreviates(short: str, text: str, found: bool) -> None:
    assert abbreviates(short, text) is found


def test_dateline_and_level() -> None:
    assert DATELINE.sub("", "本报烟台讯2月18日，位于屺姆岛港的项目") == "，位于屺姆岛港的项目"
    assert DATELINE.sub("", "本报烟台2月21日讯 今天下午") == " 今天下午"
    assert LEVEL.findall("新增省级专精特新企业和国家级“小巨人”") == ["省级", "国家级"]
