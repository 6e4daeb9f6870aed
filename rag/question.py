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

from rag.text import (
    COUNTY_SUFFIX,
    COUNTY_SUFFIXES,
    DIGITS,
    LEVEL,
    MAGNITUDE,
    NUMBER_WITH_UNIT,
    ORDINAL,
    RELATIVE_YEARS,
    UNIT,
    YEAR,
    YEAR_BEFORE_PERIOD,
)
from rag.profile import active as active_profile
from rag.profile import place_stem

__all__ = ["Question", "analyze", "places_in", "split_comparison", "split_parts", "split_years"]

# Words that say how to ask, not what about.
QUESTION_WORDS = (
    "多少", "几", "哪些", "哪个", "哪家", "哪一年", "哪年", "哪一", "哪", "什么", "谁", "何时", "何地",
    "哪里", "怎样", "怎么", "如何", "是否", "吗", "呢", "请问", "是", "有", "分别", "为", "达到", "达",
    "情况", "方面", "主要", "具体", "一下", "介绍", "相关", "有关", "通过", "采取", "了", "的", "在", "和",
    "与", "及", "对", "从", "把", "被", "年", "月", "日", "时候", "当年", "期间", "目前", "截至",
    "一共", "总共", "合计", "总计", "第几",
    # how users ask in speech: "规模多大", "这块", "各自", "咋样", "啥时候", "那边", "这回"
    "多大", "多高", "多长", "多远", "多久", "各自", "这块", "那块", "这边", "那边", "这回", "这次",
    "啥", "啥时候", "咋", "咋样", "怎么样",
)
# Parts of speech that say when or how, not what about: time words (现在, 如今, 最近 is "f"),
# adverbs (大概, 至今) and localisers (以来). A question's "现在" is no word the answer must print.
FORM_POS = ("t", "d", "f")
# Modifiers jieba joins to the noun after them ("具体措施", "主要任务"): the noun is the topic.
FORM_PREFIXES = ("具体", "主要", "相关", "有关")
MONEY_WORDS = ("钱", "投资", "产值", "收入", "零售额", "资金", "报酬", "贷款", "总额", "价值", "营收", "利润", "税收", "金额", "规模", "生产总值", "GDP", "额")
PERCENT_WORDS = ("比重", "占比", "增速", "增长率", "率", "百分之", "提升", "下降", "增幅", "配套率", "占有率")
PERIOD_WORDS = ("上半年", "下半年", "一季度", "二季度", "三季度", "四季度", "首季", "年末", "年底", "年初")
# Other spellings of a period, in questions and in the press ("今年1到6月" asks for 上半年).
PERIOD_SYNONYMS = {
    "上半年": ("1月至6月", "1-6月", "1~6月", "1至6月", "1到6月", "一到六月", "前6个月", "前半年"),
    "年底": ("年末",),
    "年末": ("年底",),
    "一季度": ("1-3月", "1~3月", "1月至3月", "1至3月", "1到3月", "首季"),
}
PERIOD_SPELLINGS = tuple(dict.fromkeys(PERIOD_WORDS + sum(PERIOD_SYNONYMS.values(), ())))
# Any of them, longest first (the one pattern the follow-up rewriter and the checks match periods by).
PERIOD = re.compile("|".join(map(re.escape, sorted(PERIOD_SPELLINGS, key=len, reverse=True))))


@dataclass
class Question:
    text: str
    kind: str  # number | percent | year | date | person | org | place | list | compare | describe
    unit: str | None = None  # the unit the answer should carry, when the question names one
    places: list[str] = field(default_factory=list)
    orgs: list[str] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)
    relative_years: list[str] = field(default_factory=list)  # 今年 / 去年 / 明年 / 前年 in the question
    terms: list[str] = field(default_factory=list)  # the metric and topic words, for coverage
    focus: str | None = None  # the word the question asks the value of ("总产值" in "总产值是多少")
    focus_words: list[str] = field(default_factory=list)  # focus and the noun joined to it ("进出口总额")
    ordinals: list[str] = field(default_factory=list)  # "第二批", "省级": must match exactly
    # The names among places and orgs that only jieba's tag makes names ("东西", "塔楼", "二战"):
    # not in the gazetteer or the profile's dictionary, no administrative suffix, no organisation ending.
    guessed: list[str] = field(default_factory=list)

    @property
    def entities(self) -> list[str]:
        return self.places + self.orgs


def _pos_tokenizer():
    """jieba's part-of-speech tagger over the tokenizer of the active profile (rebuilt when another
    profile's dictionary is loaded, so that tags follow the index's profile)."""
    global _POS
    import jieba.posseg

    from rag.tokenize import _get_jieba as jieba_tokenizer  # one dictionary load for both

    tokenizer = jieba_tokenizer()
    if _POS is None or _POS.tokenizer is not tokenizer:
        _POS = jieba.posseg.POSTokenizer(tokenizer)
    return _POS


_POS = None


def _in_dictionary(word: str) -> bool:
    """Whether jieba's dictionary (or the profile's) holds the word. A word it only guessed
    ("招大" of 招大项目, "新开工", "申报") may carry an organisation's tag by chance, so only a word
    it knows counts as a name by its tag."""
    return bool(_pos_tokenizer().tokenizer.FREQ.get(word))


def _gazetteer() -> tuple[str, ...]:
    """The active profile's place names, longest first."""
    return active_profile().places


def places_in(text: str) -> list[str]:
    """Known place names in a text, longest first, without overlaps ("黄岛" inside "青岛"? no)."""
    found: list[str] = []
    taken = [False] * len(text)
    for name in _gazetteer():
        start = text.find(name)
        while start >= 0:
            if not any(taken[start : start + len(name)]):
                found.append(name)
                for i in range(start, start + len(name)):
                    taken[i] = True
            start = text.find(name, start + 1)
    return list(dict.fromkeys(found))


def _entities(text: str) -> tuple[list[str], list[str], list[str]]:
    """Places, organisations, and which of them only jieba's part-of-speech tag names."""
    profile = active_profile()
    generic = profile.generic_places
    places: list[str] = places_in(text)
    orgs: list[str] = []
    guessed: set[str] = set()
    words = _pos_tokenizer().lcut(text)
    for (word, _flag), (after, _) in zip(words, words[1:] + [("", "")]):
        # "蓬莱" + "区": a name jieba does not know, followed by an administrative suffix.
        if after in COUNTY_SUFFIXES and len(word) >= 2 and word not in generic and \
                re.fullmatch(r"[\u4e00-\u9fa5]+", word) and not word.startswith(("全", "该", "本", "各", "我")):
            if not any(word in p or p in word for p in places):
                places.append(word)
    for word, flag in words:
        if len(word) < 2 or word in generic:
            continue
        stem = place_stem(word)
        if stem in generic or stem.startswith(("全", "该", "本", "各", "我")):
            continue
        if flag == "ns" or (word.endswith(COUNTY_SUFFIXES + ("镇",)) and len(word) >= 3 and flag.startswith("n")):
            inside = [p for p in places if p in stem and p != stem]
            if inside and word.endswith(COUNTY_SUFFIXES):  # "烟台综合保税区" names more than "烟台"
                places = [stem if p == inside[0] else p for p in places if p not in inside[1:]]
            elif not any(stem in p or p in stem for p in places):
                places.append(stem)
                if not word.endswith(COUNTY_SUFFIXES + ("镇",)) and word not in profile.names:
                    guessed.add(stem)
        elif word.endswith(profile.org_endings) and word not in profile.org_endings:
            # (a bare "集团" or "公司" is the kind of body, not a name: "港口集团" asks of 山东港口)
            orgs.append(word)
        elif flag in ("nt", "nz") and _in_dictionary(word):
            orgs.append(word)
            if word not in profile.names:  # jieba's own dictionary tags "二战" and "新开工" so
                guessed.add(word)
    orgs = list(dict.fromkeys(orgs))
    places = [p for p in dict.fromkeys(places) if p not in generic and place_stem(p) not in generic
              and not any(p in org for org in orgs)]  # "东港" in "山东港口", "烟台" in "烟台综合保税区"
    places.sort(key=lambda p: text.find(p) if p in text else len(text))
    return places, orgs, [name for name in places + orgs if name in guessed]


_LIST = r"哪几|哪些|哪[两二三四五六七八九十\d]+|分别(?:指|是)什么|分别指|包括什么|包括哪|都有什么|有哪"


def _kind_and_unit(text: str, names: int) -> tuple[str, str | None]:
    """The kind of answer asked and its unit; `names` is how many places and organisations the
    question names (two or more may make it a comparison)."""
    if re.search(r"哪一年|哪年|何年|什么时候|何时|哪一?天|几月|什么时间|哪个月|何日|啥时候?|几时|多会儿", text):
        return ("year" if re.search(r"哪一年|哪年|何年", text) else "date"), None
    if re.search(_LIST, text) and "多少" not in text:
        return "list", None
    # "那几个城郊村…多少钱": 那/这/哪几 points back at things named, it does not ask how many.
    unit_match = re.search(r"(?<![那这哪])(?:多少|几)\s*(" + UNIT + r")", text)
    if re.search(r"和|与|相比|哪个更|分别|比较|对比|各", text) and names >= 2 \
            and re.search(r"分别|各|相比|哪个更|比较|对比", text):
        return "compare", unit_match.group(1) if unit_match else None
    if unit_match:
        unit = unit_match.group(1)
        return ("percent" if unit in ("%", "％", "个百分点") else "number"), unit
    if re.search(r"百分之几|百分比|比重|占比|增速|增幅|涨幅|增长率|(?:增长|提升|上涨|涨)了?多少", text):
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


# One-character words that jieba's guesser glues to an unknown word before them.
_GLUED = "有是为在的了和与"
_COUNTERS = "家个项名位人条次所座户辆台架艘套"


def _words(text: str) -> list[str]:
    """Content words in jieba's precise mode (no overlapping sub-words), numbers whole."""
    from rag.tokenize import STOPWORDS, _get_jieba

    out = []
    # "多少家" / "几个" is cut off first: jieba would glue the counter to the next word ("家规上").
    for piece in re.split(r"(" + NUMBER_WITH_UNIT.pattern + r")|(?:多少|几)[" + _COUNTERS + "]", text):
        if not piece:
            continue
        if NUMBER_WITH_UNIT.fullmatch(piece):
            out.append(piece)
            continue
        tokenizer = _get_jieba()
        for word in tokenizer.lcut(piece):
            word = word.strip()
            if len(word) >= 3 and not tokenizer.FREQ.get(word):  # a word jieba guessed ("家高企有"):
                word = word[1:] if word[0] in _COUNTERS else word  # the counter of "多少家"
                word = word[:-1] if word[-1] in _GLUED else word  # and the "有" after it are not part of it
            one_word = len(word) == 1 and word in active_profile().synonyms  # "挣": what the press calls 利润
            if (len(word) >= 2 or one_word) and word not in STOPWORDS and any(ch.isalnum() for ch in word):
                out.append(word)
    return out


def analyze(text: str) -> Question:
    """Parse a question into what it asks for."""
    text = text.strip()
    places, orgs, guessed = _entities(text)
    kind, unit = _kind_and_unit(text, len(places) + len(orgs))
    years = [int(y) for y in YEAR.findall(text)]
    years += [int(y) for y in YEAR_BEFORE_PERIOD.findall(text) if int(y) not in years]
    periods = [p for p in PERIOD_WORDS if p in text or any(alt in text for alt in PERIOD_SYNONYMS.get(p, ()))]
    relative = [w for w in RELATIVE_YEARS if w in text]
    skip = set(places) | set(orgs) | {str(y) for y in years}
    terms = []
    for token in _words(text):
        bare = place_stem(token)
        if token in skip or bare in skip or any(token in e for e in places + orgs):
            continue
        if token in QUESTION_WORDS or DIGITS.fullmatch(token) or YEAR.fullmatch(token):
            continue
        if re.fullmatch(r"(?:19|20)\d{2}年?度?", token) or token in PERIOD_SPELLINGS or token in RELATIVE_YEARS:
            continue
        terms.append(token)
    pos = dict(_pos_tokenizer().lcut(text))
    terms = [t for t in terms if pos.get(t, "n")[:1] not in FORM_POS]
    terms = [t[2:] if t.startswith(FORM_PREFIXES) and len(t) >= 4 else t for t in terms]
    terms = _join_everyday_phrases(list(dict.fromkeys(terms)), text)
    # Chinese-numeral counts ("哪三个", "四个") are the question's form, not its topic.
    terms = [t for t in terms if not re.fullmatch(r"[一二两三四五六七八九十]+\S?", t)
             and not re.fullmatch(MAGNITUDE + "?" + UNIT, t)]  # "亿元" alone is the answer's unit
    nouns = {w for w, flag in pos.items() if flag[:1] in ("n", "j", "l", "x") or flag == "vn"}
    focus = _focus(text, terms)
    focus = focus if focus in nouns else None
    focus_words = []
    if focus:
        focus_words = [focus]
        at = text.find(focus)
        for term in terms:  # a noun printed right before the focus belongs to it
            if term != focus and term in nouns and text.find(term + focus) == at - len(term) >= 0:
                focus_words.insert(0, term)
    return Question(text, kind, unit, places, orgs, years, periods, relative, terms,
                    focus, focus_words, ORDINAL.findall(text) + LEVEL.findall(text), guessed)


def _join_everyday_phrases(terms: list[str], text: str) -> list[str]:
    """Two words that make one everyday phrase the synonyms know ("网上" + "卖货": 网上卖货, which
    the press calls 网络零售) count as that phrase."""
    synonyms = active_profile().synonyms
    out: list[str] = []
    for term in terms:
        if out and out[-1] + term in synonyms and out[-1] + term in text:
            out[-1] += term
        else:
            out.append(term)
    return out


_ASKING = re.compile(r"多少|几|哪|什么|谁|何时|何地|怎样|如何|是否")


def _focus(text: str, terms: list[str]) -> str | None:
    """The metric asked for: the noun after "多少家"-style counters, else the last term before
    the question word."""
    match = _ASKING.search(text)
    if not match or not terms:
        return None
    after = text[match.end():]
    counted = re.match(r"\s*(?:" + UNIT + r")?\s*(.{2,12}?)(?:[？?。，,]|$)", after)
    if counted and text[match.start():match.end()] in ("多少", "几"):
        inside = [(counted.group(1).rfind(t), t) for t in terms if t in counted.group(1)]
        if inside:
            return max(inside)[1]  # the head noun ends the phrase: "国家级高新技术企业" counts 企业
    before = text[: match.start()]
    placed = [(before.rfind(t), t) for t in terms if t in before and t not in _CHANGE_WORDS]
    return max(placed)[1] if placed else None


# Words that say how a figure moved, not which figure: "利润总额同比增长多少" asks for 利润总额.
_CHANGE_WORDS = {"增长", "同比", "增速", "提升", "下降", "完成", "实现", "达到", "比重", "占比", "增加", "减少",
                 "突破", "超过", "累计", "共计", "一共", "总共", "预计", "计划", "目标"}


def split_comparison(text: str, entities: list[str]) -> list[str]:
    """"招远和环翠区的高新技术企业分别有多少家？" -> one question per side:
    ["招远的高新技术企业有多少家？", "环翠区的高新技术企业有多少家？"]; [] when it is not a comparison."""
    spans = {}
    for name in entities:
        match = re.search(re.escape(name) + COUNTY_SUFFIX + "?", text)
        if match:
            spans[name] = match
    for link in re.finditer(r"和|与|及|跟|、", text):
        before = [m for m in spans.values() if m.end() <= link.start()]
        after = [m for m in spans.values() if m.start() >= link.end()]
        if before and after:
            break
    else:
        return []
    side_a = max(before, key=lambda m: m.start())  # the entity right before the link
    second_start = min(m.start() for m in after)
    second_end = min(m.end() for m in after if m.start() == second_start)
    while any(m.start() == second_end for m in after):  # "烟台综保区": one side named by two names
        second_end = max(m.end() for m in after if m.start() == second_end)
    second_name = text[second_start:second_end]
    head_start = min(m.start() for m in before)
    part_a, part_b = text[:link.start()], text[link.end():]
    prefix = text[:head_start]
    shared = re.search(r"(分别|各自|各)", part_b)
    tail = re.sub(r"^(分别|各自|各)", "", part_b[shared.start():]) if shared else ""
    body_b = part_b[: shared.start()] if shared else part_b
    body_a = part_a[head_start:]
    if len(body_a) - len(side_a.group(0)) <= 1 and body_a.startswith(side_a.group(0)):
        rest = body_b.replace(second_name, "", 1)  # "招远和环翠区的…": the first side borrows the rest
        return [prefix + side_a.group(0) + rest + tail, prefix + body_b + tail]
    return [prefix + body_a + tail, prefix + body_b + tail]


# Words that relate two years in one figure ("2024年和2023年相比"): such a question is not split.
_RELATES_YEARS = re.compile(r"相比|比较|对比|相差|差距|之间|变化")


def split_years(text: str, years: list[int]) -> list[str]:
    """"招远2023年和2024年规划实施的重点项目分别有多少个？" -> one question per year:
    ["招远2023年规划实施的重点项目有多少个？", "招远2024年规划实施的重点项目有多少个？"];
    [] unless two years are joined by 和/与/及/、, each part asks something ("…和2024年上半年的
    投资增长多少？" leaves the first part without a question) and nothing relates the years."""
    if len(set(years)) != 2 or _RELATES_YEARS.search(text):
        return []
    sides = split_comparison(text, [f"{year}年" for year in dict.fromkeys(years)])
    return sides if all(_ASKING.search(side) for side in sides) else []


# A message of more questions than this is read as one question.
MAX_PARTS = 3
# Time words that say a part asks about the present, not the year an earlier part named.
_NOW = re.compile(r"现在|目前|如今|当前|眼下|至今|截至")


def _comma_parts(question: str) -> list[str]:
    """"劳务报酬：招远计划发多少，胶州已经发了多少？" -> two questions, when both clauses ask and
    the second names its own place or company; the topic before "：" goes with each."""
    topic, _, body = question.rpartition("：") if "：" in question else ("", "", question)
    clauses = [c.strip() for c in re.split(r"[，,；;]", body) if c.strip()]
    if len(clauses) != 2 or not all(_ASKING.search(c) for c in clauses) or not analyze(clauses[1]).entities:
        return [question]
    first = clauses[0] if clauses[0].endswith(("？", "?")) else clauses[0] + "？"
    return [topic + first, topic + clauses[1]]


def split_parts(text: str) -> list[str]:
    """A question of several questions, one per part, each standing alone; [] for one question.

    A later part without a place, company or year takes the first part's ("现在" keeps it
    in the present):

    >>> split_parts("招远2023年净增了多少家高新技术企业？现在高企总数是多少？")
    ['招远2023年净增了多少家高新技术企业？', '招远现在高企总数是多少？']
    """
    parts = [p.strip() for p in re.findall(r"[^？?]+[？?]?", text) if p.strip()]
    parts = [p for p in parts if len(p) >= 4 and _ASKING.search(p)]
    if len(parts) == 1:
        parts = _comma_parts(parts[0])
    if not 2 <= len(parts) <= MAX_PARTS:
        return []  # one question, or a list of many, which is read as one (each part costs a search)
    first = analyze(parts[0])
    out = [parts[0]]
    for part in parts[1:]:
        q = analyze(part)
        prefix = first.entities[0] if not q.entities and first.entities else ""
        if not (q.years or q.relative_years or _NOW.search(part)):  # undated: the first part's year
            prefix += f"{first.years[0]}年" if first.years else "".join(first.relative_years[:1])
        out.append(prefix + re.sub(r"^(?:那么?|另外|还有|以及|并且|而且)", "", part))
    return out
