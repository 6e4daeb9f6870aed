"""Tests for rag.pages: layouts, paragraphs, article boundaries, headlines and dates.

Golden excerpts of the real pages are in tests/data/page_*.txt (lines copied as they are).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.clean import content_signature
from rag.pages import Piece, derive_title, detect_layout, find_date, find_month_day, paragraph_kind, split_page

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _page(name: str) -> list[Piece]:
    return split_page((DATA / name).read_text(encoding="utf-8"))


def _signature(pieces: list[Piece]) -> Counter[str]:
    """CJK characters and digits of the articles: headline titles count, quoted ones don't."""
    total: Counter[str] = Counter()
    for piece in pieces:
        if not piece.title_from_text:
            total += content_signature(piece.title)
        for paragraph in piece.paragraphs:
            total += content_signature(paragraph)
    return total


@pytest.mark.parametrize(
    ("name", "layout"),
    [("page_double.txt", "double"), ("page_wrapped.txt", "wrapped"), ("page_paragraphs.txt", "paragraphs"),
     ("page_broken.txt", "paragraphs")],
)
def test_detect_layout(name: str, layout: str) -> None:
    assert detect_layout((DATA / name).read_text(encoding="utf-8")) == layout


def test_double_spaced_page_headlines_after_bodies_go_to_their_articles() -> None:
    pieces = _page("page_double.txt")
    assert [p.title for p in pieces] == [
        "招远“以工代赈” 创新推出“1234”工作法",  # printed after the next article's body
        "招远畅通“双循环” 助力县域经济跨越赶超",
        "向“新”而行，以“质”致远 山东招远：县域经济高质量发展迈上新台阶",
        "工业经济为招远县域经济高质量发展注入新动能",
        "招远聚力打造乡村全面振兴“招远模式”",
    ]
    first = pieces[0]
    assert first.paragraphs[0] == "本报讯 庄蕾 记者尹明波报道"
    assert first.paragraphs[1] == (
        "近年来，山东省招远市将以工代赈作为带动群众就业增收、夯实产业发展基础、推动乡村振兴和巩固脱贫"
        "攻坚成果的重要方式，创新推出“1234”工作法，最大程度释放以工代赈政策的经济社会效益。"
    )
    assert pieces[1].paragraphs[-1] == "拓展领域，利用外资提质增效。"
    assert "全力推进产业转型 推动经济向“强”而进" in pieces[2].paragraphs  # a section heading stays in its body
    assert pieces[4].paragraphs[-1] == "俯瞰“金都”招远 乔光先 摄"  # a caption is kept, not a headline
    assert all(p.date is None for p in pieces)


def test_wrapped_page_rejoins_lines_and_fixes_numbers() -> None:
    pieces = _page("page_wrapped.txt")
    assert [p.title for p in pieces] == [
        "省政府召开 政企沟通交流会",
        "山东港口在青岛 新启动推进11个项目",
        "凝聚扩开放抓招商强大合力 ———聚焦全省高水平开放暨高质量招商引资大会",
        "项目为要，实干争先 济南：全力推进“项目深化年”",
        "枣庄：打造“产业森林”“项目矩阵”",
        "济南启动首批 “泉城好品”品牌遴选",  # printed right above the next byline
        "我省能源资源保障取得新进展",
    ]
    port = pieces[1]
    assert port.paragraphs[1].startswith("本报青岛2月21日讯 今天，山东港口2024年世界级港口群建设（青岛）")
    assert "总投资754.85亿元" in port.paragraphs[1]
    assert "（2023—2025）" in port.paragraphs[2]
    rally = pieces[2]
    assert rally.paragraphs[0] == "□ 本报记者 刘 兵 于新悦 李子路"
    # a blank line in the middle of a sentence (a column break) does not end the paragraph
    assert "新泰市党政主要负责同志先后赴广东、湖南、上海、北京等区域开展招商活动32次" in rally.paragraphs[2]
    assert rally.paragraphs[-1] == "（□记者 刘涛 李广寅 通讯员李秀玲 赵洁 参与采写）"
    zaozhuang = pieces[4]
    assert zaozhuang.paragraphs[:2] == ["□记 者 孟令洋 通讯员 杨 帆 报道", zaozhuang.paragraphs[1]]
    assert "齐头并进，全面掀起抓项目拼经济的新热潮。" in zaozhuang.paragraphs[-1]


def test_paragraph_page_splits_at_title_holders_and_closings() -> None:
    pieces = _page("page_paragraphs.txt")
    assert [p.title for p in pieces] == [
        "区市书记谈坚定不移推动高质量发展 培强产业集群 壮大工业规模",
        "项目发展风正劲 凝聚力量再出发",
        "突出“项目为王 落地为要”",
    ]
    first = pieces[0]
    assert first.paragraphs[0] == "市委常委、副市长，开发区工委书记、管委主任 牟树青"
    assert first.paragraphs[-1] == "YMG全媒体记者 童佳怡 整理"  # split off the end of the last paragraph
    assert first.paragraphs[-2].endswith("争创高质量发展新优势。")
    # a paragraph broken mid-word is joined again
    assert any("确保3月底前开工53个新项目、全年新开工项目130个以上。" in p for p in first.paragraphs)
    assert pieces[1].paragraphs[-1] == "YMG全媒体记者 赵巍巍 整理"


def test_broken_paragraphs_notes_and_captions_stay_in_their_article() -> None:
    pieces = _page("page_broken.txt")
    assert [p.title for p in pieces] == [
        "威海环翠四次蝉联山东省“高质量发展先进县”",
        "构建青岛特色能源保障体系 服务绿色低碳高质量发展",
        "科技强县“四行动”赋能 蒙阴高质量发展",
        "胶州:全面开启县域经济高质量发展新征程",
    ]
    first = pieces[0]
    assert first.paragraphs[0] == "本报 岳儒焱 刘子佳 记者 尹明波报道"  # inline byline split off
    assert first.paragraphs[1].startswith("今年5月,山东省政府公布")
    assert first.paragraphs[2].startswith("吹响“营在环翠·商通未来”品牌,绿色低碳高质量发展环境持续优化。营商环境")
    assert pieces[1].paragraphs[-1] == "(作者单位:山东省青岛市能源保障中心,青岛大学)"
    assert pieces[2].paragraphs[-2:] == ["一座城,一幅油画。", "(山东省威海市环翠区油画小镇建设指导中心供图)"]


@pytest.mark.parametrize("name", ["page_double.txt", "page_wrapped.txt", "page_paragraphs.txt", "page_broken.txt"])
def test_no_character_is_lost_or_duplicated_on_an_excerpt(name: str) -> None:
    raw = (DATA / name).read_text(encoding="utf-8")
    assert _signature(split_page(raw)) == content_signature(raw)


@pytest.mark.parametrize("name", ["000_cf2c951dabb43637.txt", "001_bc9608eda24c4c9c.txt", "002_eb706093a411a0ab.txt",
                                  "003_bad21ed3cf753cea.txt"])
def test_no_character_is_lost_or_duplicated_on_a_real_page(name: str) -> None:
    raw = (CORPUS / name).read_text(encoding="utf-8")
    assert _signature(split_page(raw)) == content_signature(raw)


def test_an_article_without_a_headline_gets_a_title_from_its_first_sentence() -> None:
    raw = (CORPUS / "002_eb706093a411a0ab.txt").read_text(encoding="utf-8")
    continued = [p for p in split_page(raw) if p.paragraphs[0].startswith("（上接第一版）")]
    assert len(continued) == 1
    assert continued[0].title == "深化机关运转提速提效行动"
    assert continued[0].title_from_text


def test_headline_goes_to_the_article_that_shares_its_words() -> None:
    page = (
        "□记者 甲 报道\n　　本报讯 港口新建码头三座，吞吐量大增。\n\n"
        "港口新建码头\n\n"
        "□记者 乙 报道\n　　本报讯 果园苹果丰收，果农增收。\n\n"
        "苹果丰收\n"
    )
    pieces = split_page(page)
    assert [(p.title, p.paragraphs[0]) for p in pieces] == [("港口新建码头", "□记者 甲 报道"), ("苹果丰收", "□记者 乙 报道")]


def test_a_plain_text_without_bylines_is_one_article_with_its_first_line_as_title() -> None:
    pieces = split_page("乡村振兴新篇章\n\n今年以来，全市新建大棚38个。\n\n产值达到400万元。\n")
    assert len(pieces) == 1
    assert pieces[0].title == "乡村振兴新篇章"
    assert pieces[0].paragraphs == ["今年以来，全市新建大棚38个。", "产值达到400万元。"]


@pytest.mark.parametrize(
    ("paragraphs", "date"),
    [
        (["□记者 刘童 报道", "本报济南2024年2月21日讯 记者今天获悉"], "2024-02-21"),
        (["本报烟台2月21日讯 今天下午"], None),  # no year stated: not guessed
        (["新华社北京2023年8月1日电 记者"], "2023-08-01"),
        (["本报济南2024年13月40日讯"], None),
        ([], None),
    ],
)
def test_find_date(paragraphs: list[str], date: str | None) -> None:
    assert find_date(paragraphs) == date


def test_derive_title_skips_bylines_and_datelines() -> None:
    assert derive_title(["□记者 王健 报道", "本报济南讯 塔吊林立、机器轰鸣。后文"]) == "塔吊林立、机器轰鸣"
    assert derive_title(["一" * 50 + "。"]) == "一" * 30
    assert derive_title([]) == ""


@pytest.mark.parametrize(
    ("text", "kind"),
    [("□记者 袁涛 报道", "byline"), ("芝罘区委书记 李良", "byline"), ("YMG全媒体记者 赵巍巍 整理", "closing"),
     ("俯瞰“金都”招远 乔光先 摄", "caption"), ("①乳山葡萄酒小镇", "caption"), ("（文章来源：大众日报）", "note"),
     ("本报济南讯 品牌是企业的生命力。", "lead"), ("抢抓项目建设“黄金期”", "cand"), ("效益很好。", "body")],
)
def test_paragraph_kind(text: str, kind: str) -> None:
    assert paragraph_kind(text) == kind


def test_empty_page_has_no_articles() -> None:
    assert split_page("") == []
    assert split_page("\n\n   \n") == []


_LINE = st.one_of(
    st.text(alphabet=st.sampled_from(list("招远市黄金产业亿元项目") + list("0123456789") + list(" 　.，。“”（）：")), max_size=40),
    st.sampled_from(["", "", "□记者 甲 报道", "本报讯 乙 记者丙报道", "本报济南2024年2月21日讯 今天", "（上接第一版）",
                     "YMG全媒体记者 丁 整理", "市委书记 戊己", "俯瞰招远 庚 摄", "①图片说明", "（作者单位：某处）"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=40))
def test_splitting_any_page_never_loses_or_duplicates_a_character(lines: list[str]) -> None:
    raw = "\n".join(lines)
    assert _signature(split_page(raw)) == content_signature(raw)


@pytest.mark.parametrize(
    ("paragraphs", "month_day"),
    [
        (["　　本报烟台2 月21 日讯 今天下午，省政府在烟台召开政企沟通交流会"], "02-21"),
        (["□记者 刘童 报道", "本报济南2月21日讯 记者今天从全省大会上获悉"], "02-21"),
        (["本报烟台讯 2 月18 日，位于屺姆岛的项目开工"], None),  # an event's date, not the report's
        (["今年2月21日，会议召开。"], None),
        (["本报烟台13月40日讯 不是日期"], None),
    ],
)
def test_find_month_day(paragraphs: list[str], month_day: str | None) -> None:
    assert find_month_day(paragraphs) == month_day


def test_a_dateline_with_the_year_is_recorded_as_a_dateline() -> None:
    (piece,) = split_page("本报济南2024年2月21日讯 记者今天从全省煤田地质高质量发展大会上获悉，资源保障取得新进展。\n")
    assert (piece.date, piece.date_source, piece.month_day) == ("2024-02-21", "dateline", None)
