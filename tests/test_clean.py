"""Tests for rag.clean: spaces in numbers, hard wraps, sentence ends, HTML text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.clean import (
    content_signature,
    display_width,
    fix_spaces,
    html_to_paragraphs,
    is_sentence_end,
    join_lines,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("总投资754 . 85 亿元", "总投资754.85亿元"),
        ("本报烟台2 月21 日讯 今天下午", "本报烟台2月21日讯 今天下午"),
        ("总投资2 . 66 万亿元", "总投资2.66万亿元"),
        ("与万华化学等10 家企业", "与万华化学等10家企业"),
        ("据了解， 2023 年山东港口", "据了解，2023年山东港口"),
        ("建成投产项目 14 项", "建成投产项目14项"),
        ("（2023— 2025 ）", "（2023—2025）"),
        ("“ 8010 ”三年", "“8010”三年"),
        ("增长5 . 2%，高于", "增长5.2%，高于"),
        ("进 ， 全 面 掀 起 抓 项 目 拼 经 济 的 新", "进，全面掀起抓项目拼经济的新"),
        # spaces that mean something stay
        ("培强产业集群 壮大工业规模", "培强产业集群 壮大工业规模"),
        ("招远“以工代赈” 创新推出", "招远“以工代赈” 创新推出"),
        ("□ 本报记者 刘 兵 于新悦", "□ 本报记者 刘 兵 于新悦"),
        ("通讯员 杨 帆 报道", "通讯员 杨 帆 报道"),
        ("支持 AMD 和 NVIDIA 平台", "支持 AMD 和 NVIDIA 平台"),
        ("　　本报济南讯　品牌", "本报济南讯 品牌"),
        ("", ""),
        ("没有空格。", "没有空格。"),
    ],
)
def test_fix_spaces(raw: str, clean: str) -> None:
    assert fix_spaces(raw) == clean


def test_join_lines_puts_no_space_between_cjk_and_one_between_words() -> None:
    assert join_lines(["近年来，山东省招远市将以工代赈作为", "带动群众就业增收"]) == "近年来，山东省招远市将以工代赈作为带动群众就业增收"
    assert join_lines(["总投资330", "亿元"]) == "总投资330亿元"
    assert join_lines(["Shandong", "Port Group"]) == "Shandong Port Group"
    assert join_lines(["  缩进行", "", "　　续行"]) == "缩进行续行"


@pytest.mark.parametrize(
    ("line", "ends"),
    [("效益。", True), ("“加速键”。", True), ("新突破。”", True), ("如期实现！", True),
     ("谋划适用以工代赈", False), ("“招远速度”", False), ("培训市", False), ("投资计划；", False)],
)
def test_is_sentence_end(line: str, ends: bool) -> None:
    assert is_sentence_end(line) is ends


def test_display_width_counts_cjk_as_one_cell_and_ascii_as_half() -> None:
    assert display_width("招远") == 2
    assert display_width("1234") == 2
    assert display_width("“双循环”") == 5


def test_html_to_paragraphs_drops_tags_and_scripts_and_decodes_entities() -> None:
    title, paragraphs = html_to_paragraphs(
        "<html><head><title>乳山 &amp; 威海</title><script>var x = '不要';</script></head>"
        "<body><h1>标题</h1><p>第一段<b>加粗</b>。</p>散落的文字<p class='em'>（文章来源：大众日报）</p></body></html>"
    )
    assert title == "乳山 & 威海"
    assert paragraphs == ["标题", "第一段加粗。", "散落的文字", "（文章来源：大众日报）"]


_ALPHABET = st.sampled_from(list("招远市黄金产业亿元万") + list("0123456789") + list(" 　.．，。、“”（）%—\n\t") + list("ab"))
_TEXT = st.text(alphabet=_ALPHABET, max_size=80)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_fix_spaces_never_drops_a_cjk_character_or_digit(text: str) -> None:
    assert content_signature(fix_spaces(text)) == content_signature(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT, max_size=8))
def test_join_lines_never_drops_a_cjk_character_or_digit(lines: list[str]) -> None:
    assert content_signature(join_lines(lines)) == content_signature("".join(lines))


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_fix_spaces_is_idempotent(text: str) -> None:
    once = fix_spaces(text)
    assert fix_spaces(once) == once
