"""The rules of Chinese news text, written once: every other module imports them from here.

- sentences and clauses (`sentence_spans`, `split_sentences`, `split_clauses`);
- numbers with units, years and ordinals as these articles print them;
- administrative suffixes and `strip_admin_suffix`;
- relative years (今年, 去年, 前年, 明年) and what they mean against an article's year;
- the citation marker `[n]`: `render_parts` writes it, `parse_marked` reads it back (only
  where free text with markers enters the system: an LLM's reply).

    >>> split_sentences("他说：“好。”然后走了；再见！\\n下一段")
    ['他说：“好。”', '然后走了；', '再见！', '下一段']
    >>> strip_admin_suffix("招远市"), strip_admin_suffix("黄渤海新区"), strip_admin_suffix("城区")
    ('招远', '黄渤海', '城区')
    >>> years_relative_to("去年和前年", 2024)
    {2022, 2023}

Simplified on purpose: no traditional/simplified conversion; a sentence ends at a terminator
(。！？!?；;…) plus any closing quotes after it, or at a line break, even inside quotes.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

__all__ = [
    "ADMIN_SUFFIX",
    "ADMIN_SUFFIXES",
    "COUNTY_SUFFIX",
    "COUNTY_SUFFIXES",
    "CITATION_MARKER",
    "CLAUSE_ENDS",
    "CLOSERS",
    "DATELINE",
    "DIGITS",
    "LEVEL",
    "MAGNITUDE",
    "NUMBER",
    "NUMBER_WITH_UNIT",
    "ORDINAL",
    "RELATIVE_YEAR",
    "RELATIVE_YEARS",
    "SENTENCE_ENDS",
    "TOKEN_MAGNITUDES",
    "TOKEN_UNITS",
    "UNIT",
    "YEAR",
    "YEAR_BEFORE_PERIOD",
    "abbreviates",
    "marker",
    "parse_marked",
    "render_parts",
    "sentence_spans",
    "split_clauses",
    "split_sentences",
    "strip_admin_suffix",
    "years_in",
    "years_relative_to",
]

# ------------------------------------------------------------------------- sentences

SENTENCE_ENDS = "。！？!?；;…"
CLOSERS = "”’」』）)"  # a closing quote or bracket stays with the sentence it ends
CLAUSE_ENDS = "，,、：:"
_SENTENCE = re.compile(rf"[^{SENTENCE_ENDS}\n]*(?:[{SENTENCE_ENDS}]+[{CLOSERS}]*|\n|$)")
_CLAUSE = re.compile(rf"[^{CLAUSE_ENDS}]*[{CLAUSE_ENDS}]?")


def sentence_spans(text: str, strip: bool = True) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, in order.

    With `strip` (the default) spans leave out surrounding whitespace and blank pieces are
    dropped; without it the spans tile the text exactly (no character is lost).
    """
    spans = []
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        if start == end:
            continue
        if strip:
            piece = text[start:end]
            lead = len(piece) - len(piece.lstrip())
            start, end = start + lead, start + len(piece.rstrip())
            if start >= end:
                continue
        spans.append((start, end))
    return spans


def split_sentences(text: str, strip: bool = True) -> list[str]:
    """The sentences of `text` (see `sentence_spans`); with strip=False they join back to `text`."""
    pieces = [text[a:b] for a, b in sentence_spans(text, strip)]
    return pieces if pieces or strip else [text]


def split_clauses(sentence: str) -> list[str]:
    """A sentence cut after each ，,、：: (the mark stays with its clause)."""
    return [c for c in _CLAUSE.findall(sentence) if c]


# --------------------------------------------------------------------- numbers, years

# A number with its unit, as these articles print them ("1308万元", "16.1%", "900亿元").
UNIT = (
    r"(?:万亿元|亿美元|万美元|亿元|万元|千元|元|美元|万人次|人次|万人|余人|人|名|位|户|家|个|项|所|座|处|条|批|件|"
    r"台|套|辆|艘|架|亩|万亩|公顷|平方米|平方公里|公里|千米|米|吨|万吨|千瓦|万千瓦|兆瓦|MW|MWh|GW|倍|%|％|"
    r"个百分点|次|期|届|位次|强|类|种|股|层|间|张|场|天|年|月|日)"
)
NUMBER = r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百千]+)"
MAGNITUDE = r"(?:万亿|千亿|百亿|亿|千万|百万|万|千|百)"
NUMBER_WITH_UNIT = re.compile(
    NUMBER + r"\s*(?:多|余|近|约)?\s*(?:" + MAGNITUDE + r"?\s*(?:多|余)?\s*" + UNIT + "|" + MAGNITUDE + ")"
)
DIGITS = re.compile(r"\d+(?:\.\d+)?")
# "一期工程", "三期项目": a project's phase, which the answer must state as exactly as "第二批".
ORDINAL = re.compile(r"第[一二三四五六七八九十\d]+[批届期轮]|首批|首届|(?<![第上下这那同每本前后\d])[一二三四五六七八九十]期(?=工程|项目)")
# The level of government a list or title belongs to ("省级专精特新企业" is not "国家级"):
# like an ordinal, a qualifier the answer must state exactly.
LEVEL = re.compile(r"(?:国家|省|市|县|区|镇|村)级")
# A question about the whole province or country ("全省竣工投产项目有多少个") is not answered by
# one county's figure ("乳山市…新竣工投产项目20个"): what a sentence must say to speak of each
# scope, and the words that give a sentence a narrower one.
WIDE_SCOPES: dict[str, tuple[str, ...]] = {
    "全省": ("全省", "我省", "省里", "省内"),
    "全国": ("全国", "我国", "国内"),
}
LOCAL_SCOPE = re.compile(r"全市|全区|全县|该市|该区|该县|本市")
YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
# "2023年度", "2023年末", "2024上半年": a year joined to a period without its own 年.
YEAR_BEFORE_PERIOD = re.compile(r"((?:19|20)\d{2})(?=年度|年末|年底|上半年)")

# Units and magnitudes that the BM25 tokenizer keeps glued to a number (rag.tokenize). Wider
# than UNIT above, which names what a "多少…" question asks for.
TOKEN_MAGNITUDES = ["万亿", "千亿", "百亿", "十亿", "亿", "千万", "百万", "十万", "万", "千", "百"]
TOKEN_UNITS = [
    "个百分点", "百分点", "美元", "欧元", "元", "人次", "人", "家", "个", "项", "吨", "亩",
    "平方公里", "平方米", "公里", "千米", "米", "千瓦时", "千瓦", "兆瓦", "瓦", "度", "辆",
    "台", "件", "户", "名", "所", "次", "天", "年", "月", "日", "号", "岁", "倍", "条", "座",
    "套", "种", "批", "位", "届", "场", "期", "周", "小时", "分钟", "秒", "股", "份", "艘",
    "架", "班次", "标箱", "栋", "层", "株", "只", "公斤", "千克", "克",
    "立方米", "升", "例", "篇", "类", "强",
]

# Words that name a year by its distance from the year the article was written.
RELATIVE_YEARS: dict[str, int] = {"今年": 0, "去年": -1, "明年": 1, "前年": -2}
RELATIVE_YEAR = re.compile("|".join(RELATIVE_YEARS))


def years_relative_to(text: str, base_year: int | None) -> set[int]:
    """The years that 今年/去年/前年/明年 in `text` stand for, counted from `base_year`."""
    if not base_year:
        return set()
    return {base_year + RELATIVE_YEARS[w] for w in RELATIVE_YEAR.findall(text)}


def years_in(text: str, base_year: int | None = None) -> set[int]:
    """Every year `text` names: "2023年", "2023年末"/"2023—", and relative words given base_year."""
    years = {int(y) for y in YEAR.findall(text)}
    years |= {int(y) for y in re.findall(r"((?:19|20)\d{2})(?=年度|年末|年底|上半年|—|-)", text)}
    return years | years_relative_to(text, base_year)


# ------------------------------------------------------------------------------ places

# Administrative suffixes, longest first so that "新区" wins over "区". A name keeps its
# suffix when fewer than two characters would remain ("城区", "市区").
ADMIN_SUFFIXES: tuple[str, ...] = ("新区", "街道", "省", "市", "区", "县", "镇", "乡", "村")
# The suffixes that follow a county-level name in running text ("蓬莱区", "招远市"): how an
# unknown word before one is recognised as a place.
COUNTY_SUFFIXES: tuple[str, ...] = ("新区", "市", "区", "县")
COUNTY_SUFFIX = "(?:" + "|".join(COUNTY_SUFFIXES) + ")"
ADMIN_SUFFIX = "(?:" + "|".join(ADMIN_SUFFIXES) + ")"


def strip_admin_suffix(name: str, suffixes: Iterable[str] = ADMIN_SUFFIXES) -> str:
    """"招远市" -> "招远", "黄渤海新区" -> "黄渤海"; names too short to stand alone stay whole."""
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


# --------------------------------------------------------------------------- datelines

# "本报烟台2月21日讯", "本报烟台讯2月18日": when the report was filed, never what it reports.
DATELINE = re.compile(r"本报[\u4e00-\u9fa5]{0,6}(?:\d{1,2}\s*月\s*\d{1,2}\s*日)?\s*讯(?:\s*\d{1,2}\s*月\s*\d{1,2}\s*日)?")


# ------------------------------------------------------------------------ abbreviations

# A Chinese abbreviation keeps the first character of each word of the full name, in order:
# 高企 = 高新技术企业, 规上 = 规模以上, 综保区 = 综合保税区. At most this many characters are
# dropped between two kept ones (高[新技术]企 drops 3).
ABBREVIATION_GAP = 4


@functools.lru_cache(maxsize=4096)
def _abbreviation(short: str) -> re.Pattern[str] | None:
    if not 2 <= len(short) <= 4 or not re.fullmatch(r"[\u4e00-\u9fa5]+", short):
        return None
    gap = rf"[\u4e00-\u9fa5]{{0,{ABBREVIATION_GAP}}}?"
    return re.compile(re.escape(short[0]) + "".join(gap + re.escape(ch) for ch in short[1:]))


def abbreviates(short: str, text: str) -> bool:
    """Whether `text` says `short` or a full name it abbreviates: the characters of `short` in
    order, each within ABBREVIATION_GAP characters of the one before, no punctuation between.

    >>> abbreviates("高企", "高新技术企业达到1238家"), abbreviates("综保", "综合保税区"), abbreviates("高企", "高，企")
    (True, True, False)
    """
    if short in text:
        return True
    pattern = _abbreviation(short)
    return bool(pattern and pattern.search(text))


# --------------------------------------------------------------------------- citations

CITATION_MARKER = re.compile(r"\[(\d+)\]")


def marker(n: int | None) -> str:
    """The marker written after a sentence taken from citation n ("" for none)."""
    return f"[{n}]" if n is not None else ""


def render_parts(parts: Iterable[tuple[str, int | None]]) -> str:
    """Text with `[n]` markers from (text, citation number) pairs.

    >>> render_parts([("产值900亿元。", 1), ("", 2), ("资料中没有找到关于“胶州”的相应内容。", None)])
    '产值900亿元。[1][2]资料中没有找到关于“胶州”的相应内容。'
    """
    return "".join(text + marker(n) for text, n in parts)


def parse_marked(text: str) -> list[tuple[str, int | None]]:
    """The inverse of `render_parts`: (text, n) pairs, one per marker; text after the last
    marker comes as (text, None). A run of markers ("…[1][2]") gives ("…", 1), ("", 2).

    >>> parse_marked("甲。[1]乙[2][3]丙")
    [('甲。', 1), ('乙', 2), ('', 3), ('丙', None)]
    """
    out: list[tuple[str, int | None]] = []
    pos = 0
    for match in CITATION_MARKER.finditer(text):
        out.append((text[pos : match.start()], int(match.group(1))))
        pos = match.end()
    if pos < len(text):
        out.append((text[pos:], None))
    return out
