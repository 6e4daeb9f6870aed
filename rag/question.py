"""What a question asks for: the kind of answer, the entities, the years and the metric terms.

The composer uses this to pick the answering sentence and to refuse when no passage supplies
what was asked: FINDINGS.md shows that retrieval scores cannot tell answerable questions from
near misses (right county, wrong year or metric), so refusal checks these parts instead.

    >>> q = analyze("招远2023年黄金产业总产值是多少？")
    >>> q.kind, q.years, q.places
    ('number', [2023], ['招远'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.tokenize import tokenize

__all__ = ["Question", "analyze", "strip_admin_suffix", "PLACE_SUFFIXES"]

PLACE_SUFFIXES = ("新区", "街道", "省", "市", "区", "县", "镇", "乡", "村")
# Places too broad to decide anything: every article in this press is about Shandong.
GENERIC_PLACES = {"山东", "山东省", "全省", "我省", "中国", "全国", "国家", "全市", "全区", "全县", "该市", "该区", "该县", "本市"}
# Words that say how to ask, not what about.
QUESTION_WORDS = (
    "多少", "几", "哪些", "哪个", "哪家", "哪一年", "哪年", "哪一", "哪", "什么", "谁", "何时", "何地",
    "哪里", "怎样", "怎么", "如何", "是否", "吗", "呢", "请问", "是", "有", "分别", "为", "达到", "达",
    "情况", "方面", "主要", "具体", "一下", "介绍", "相关", "有关", "通过", "采取", "了", "的", "在", "和",
    "与", "及", "对", "从", "把", "被", "年", "月", "日", "时候", "当年", "期间", "目前", "截至",
)
# A number with its unit, as these articles print them ("1308万元", "16.1%", "900亿元").
UNIT = (
    r"(?:万亿元|亿美元|万美元|亿元|万元|千元|元|美元|万人次|人次|万人|余人|人|名|位|户|家|个|项|所|座|处|条|批|件|"
    r"台|套|辆|艘|架|亩|万亩|公顷|平方米|平方公里|公里|千米|米|吨|万吨|千瓦|万千瓦|兆瓦|MW|MWh|GW|倍|%|％|"
    r"个百分点|次|期|届|位次|强|类|种|股|层|间|张|场|天|年|月|日)"
)
NUMBER = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百千]+)"
NUMBER_WITH_UNIT = re.compile(NUMBER + r"\s*(?:多|余|近|约)?\s*" + UNIT)
DIGITS = re.compile(r"\d+(?:\.\d+)?")
YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
MONEY_WORDS = ("投资", "产值", "收入", "零售额", "资金", "报酬", "贷款", "总额", "价值", "营收", "利润", "税收", "金额", "规模", "生产总值", "GDP", "额")
PERCENT_WORDS = ("比重", "占比", "增速", "增长率", "率", "百分之", "提升", "下降", "增幅", "配套率", "占有率")
PERIOD_WORDS = ("上半年", "下半年", "一季度", "二季度", "三季度", "四季度", "首季", "年末", "年底", "年初", "1~6月", "1-6月")


@dataclass
class Question:
    text: str
    kind: str  # number | percent | year | date | person | org | place | list | compare | describe
    unit: str | None = None  # the unit the answer should carry, when the question names one
    places: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)
    relative_years: list[str] = field(default_factory=list)  # 今年 / 去年 / 明年 in the question
    terms: list[str] = field(default_factory=list)  # the metric and topic words, for coverage

    @property
    def entities(self) -> list[str]:
        return self.places + self.orgs


def strip_admin_suffix(name: str) -> str:
    """"招远市" -> "招远", "黄渤海新区" -> "黄渤海"; names too short to stand alone stay whole."""
    for suffix in PLACE_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


def _pos_tokenizer():
    global _POS
    if _POS is None:
        import jieba.posseg

        from rag.tokenize import _get_jieba as jieba_tokenizer  # one dictionary load for both

        _POS = jieba.posseg.POSTokenizer(jieba_tokenizer())
    return _POS


_POS = None
_PLACE_RE = re.compile(r"([\u4e00-\u9fa5]{2,5}?(?:新区|街道|市|区|县|镇))")
# Known organisation endings: a token ending so names a company or institution.
_ORG_ENDINGS = ("集团", "公司", "轮胎", "港口", "化学", "药业", "食品", "电子", "银行", "大学", "学院", "研究院", "矿业")


def _entities(text: str) -> tuple[list[str], list[str]]:
    places: list[str] = []
    orgs: list[str] = []
    for word, flag in _pos_tokenizer().lcut(text):
        if len(word) < 2 or word in GENERIC_PLACES:
            continue
        if flag == "ns" or (flag.startswith("n") and word.endswith(("市", "区", "县", "镇")) and len(word) >= 3):
            places.append(strip_admin_suffix(word))
        elif flag in ("nt", "nz") or word.endswith(_ORG_ENDINGS):
            orgs.append(word)
    for match in _PLACE_RE.findall(text):
        stem = strip_admin_suffix(match)
        if match not in GENERIC_PLACES and stem not in GENERIC_PLACES and not any(stem in p or p in stem for p in places):
            if not stem.startswith(("全", "该", "本", "各", "我")):
                places.append(stem)
    places = [p for p in dict.fromkeys(places) if p not in GENERIC_PLACES and strip_admin_suffix(p) != "山东"]
    return places, list(dict.fromkeys(orgs))


def _kind_and_unit(text: str) -> tuple[str, str | None]:
    if re.search(r"哪一年|哪年|何年|什么时候|何时|哪一?天|几月|什么时间|哪个月|何日", text):
        return ("year" if re.search(r"哪一年|哪年|何年", text) else "date"), None
    if re.search(r"哪几|哪些", text) and "多少" not in text:
        return "list", None
    unit_match = re.search(r"(?:多少|几)\s*(" + UNIT + r")", text)
    if re.search(r"和|与|相比|哪个更|分别|比较|对比|各", text) and len(_entities(text)[0]) >= 2:
        return "compare", unit_match.group(1) if unit_match else None
    if unit_match:
        unit = unit_match.group(1)
        return ("percent" if unit in ("%", "％", "个百分点") else "number"), unit
    if re.search(r"百分之几|百分比|比重|占比|增速|增幅|增长率|增长了?多少|提升了?多少", text):
        return "percent", "%"
    if re.search(r"多少|几|多大|多高|多长|多久", text):
        money = any(w in text for w in MONEY_WORDS)
        return "number", ("元" if money else None)
    if re.search(r"哪些|有什么|包括|列举|几项|哪几", text):
        return "list", None
    if re.search(r"谁|哪位|什么人|姓名", text):
        return "person", None
    if re.search(r"哪家|哪个企业|哪个公司|什么企业|哪一家", text):
        return "org", None
    if re.search(r"哪里|在哪|何地|什么地方|哪个地方|哪个(?:市|区|县|镇)", text):
        return "place", None
    return "describe", None


def analyze(text: str) -> Question:
    """Parse a question into what it asks for."""
    text = text.strip()
    kind, unit = _kind_and_unit(text)
    places, orgs = _entities(text)
    years = [int(y) for y in YEAR.findall(text)]
    years += [int(y) for y in re.findall(r"((?:19|20)\d{2})(?=年度|年末|年底|上半年)", text) if int(y) not in years]
    periods = [p for p in PERIOD_WORDS if p in text]
    relative = [w for w in ("今年", "去年", "明年", "前年") if w in text]
    skip = set(places) | set(orgs) | {str(y) for y in years}
    terms = []
    for token in tokenize(text):
        bare = strip_admin_suffix(token)
        if token in skip or bare in skip or any(token in e for e in places + orgs):
            continue
        if token in QUESTION_WORDS or DIGITS.fullmatch(token) or YEAR.fullmatch(token):
            continue
        if re.fullmatch(r"(?:19|20)\d{2}年?度?", token) or token in PERIOD_WORDS or token in ("今年", "去年", "明年"):
            continue
        terms.append(token)
    return Question(text, kind, unit, places, orgs, years, periods, relative, list(dict.fromkeys(terms)))
