"""The extractive answer composer: no LLM, nothing said that a cited passage does not say.

For each retrieved passage, every sentence is scored against what the question asks for
(`rag.question`): coverage of the question's metric and topic words (weighted by IDF), the
entity, the year or period, and the kind of answer (a number with the asked unit, a year, a
list). The best sentence that passes every check answers; list, comparison and description
questions take a few more. When no sentence passes, the composer refuses and says what was
missing, still listing the closest passages.

Simplifications: sentences are quoted whole (long ones trimmed to the clauses that matter,
with "……" where text was left out; one that opens with 他/她 comes with the one before),
relative dates are annotated only when the article's date is known, and nothing is paraphrased.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.config import DEFAULT, ComposeConfig
from rag.current_year import latest_year
from rag.profile import active as active_profile
from rag.profile import place_stem
from rag.question import PERIOD, PERIOD_SYNONYMS, Question, places_in
from rag.text import (
    DATELINE,
    DIGITS,
    LOCAL_SCOPE,
    NUMBER_WITH_UNIT,
    RELATIVE_YEAR,
    RELATIVE_YEARS,
    WIDE_SCOPES,
    YEAR,
    abbreviates,
    sentence_spans,
    split_clauses,
    split_sentences,
    years_in,
)
from rag.types import Answer, AnswerPart, Chunk, Citation, Hit, Refusal

if TYPE_CHECKING:
    from rag.reader import Reader, ReaderPolicy

__all__ = ["compose", "rank_by_sentences", "refusal", "CHECKS"]

# The tuned numbers (coverage thresholds, lengths, score weights) are in rag.config.ComposeConfig.
# A sentence that opens with a time or a link and no subject of its own continues the one before.
_CONTINUES = re.compile(r"^[“\"]?(?:去年|今年|前年|截至|截止|目前|其中|同时|此外|另外|预计|届时|全年|(?:19|20)\d{2}年|"
                        r"[一二三四]季度|上半年|下半年|\d{1,2}\s*[~-]\s*\d{1,2}\s*月)")
# A figure for part of a year does not answer a question about the whole year ("全年").
_PART_OF_YEAR = re.compile(r"上半年|下半年|[一二三四]季度|前三季度|首季|\d{1,2}\s*[月]?\s*(?:至|-|~|—)\s*\d{1,2}\s*月")
# "有多少家" asks for a total: a sentence about what was added ("净增…41家") ranks below one
# that states the total ("总数147家").
_INCREMENT = re.compile(r"新增|净增|增加|新上|新入库|新备案|新开工|新认定")
# A question that asks for a total ("目前总共有多少家") is not answered by a figure of how many were
# added over a period ("去年以来新增16家"), unless the clause also states the total ("累计…达到"):
# a "period" problem, since the figure covers a span and the total a moment.
_ASKS_TOTAL = re.compile(r"总共|一共|总数|共有|现有|合计|总计")
_STATES_TOTAL = re.compile(r"累计|总数|总量|达|共有|共计|总计|合计|现有|拥有")

# Words a question uses for what the press writes otherwise, and the byline pattern (bylines
# and datelines carry no facts worth quoting): the active profile's (rag.profile).


def _synonyms(term: str) -> tuple[str, ...]:
    return active_profile().synonyms.get(term, ())


@functools.lru_cache(maxsize=8)
def _byline(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
# "市委常委、栖霞市委书记 包华": who wrote or speaks; an answer only to "谁" questions.
TITLE_HOLDER = re.compile(r"(?:书记|主任|局长|区长|市长|县长|主席|总经理|董事长)\s+[\u4e00-\u9fa5]{2,3}[。]?$")


@dataclass
class _Candidate:
    hit_rank: int
    hit: Hit
    chunk: Chunk | None
    sentence: str
    position: int
    span: tuple[int, int]  # the sentence's [start, end) in hit.text
    before: str = ""  # the article's text before the sentence, across the chunk's start (config.before_chars)
    borrowed: str = ""  # the sentence before, when this one continues it ("截至目前，已发放…")
    coverage: float = 0.0
    sentence_coverage: float = 0.0
    context_coverage: float = 0.0
    failures: list[Refusal] = field(default_factory=list)  # each failed check, with what was missing
    score: float = 0.0
    reader: float = 0.0  # the learned reader's probability that the sentence answers
    missing_terms: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [f.reason for f in self.failures]

    @property
    def checks(self) -> list[str]:
        """Which check each problem came from (CHECKS)."""
        return [f.code for f in self.failures]


def _article_year(date: str | None) -> int | None:
    return int(date[:4]) if date and date[:4].isdigit() else None


def _term_hit(term: str, text: str) -> float:
    """1 for the word itself, a synonym or the full name it abbreviates ("规上" -> "规模以上");
    0.5 for the head noun of a 3-character word ("总产值" -> "产值")."""
    if any(alt in text for alt in _synonyms(term)):
        return 1.0
    if len(term) == 1:  # "花": only as what the press calls it (支出, 投入); the character alone is in 花卉
        return 0.0
    if abbreviates(term, text):
        return 1.0
    if len(term) >= 3 and term[-2:] in text:
        return 0.5
    return 0.0


def _coverage(terms: list[str], weights: list[float], text: str) -> tuple[float, list[str]]:
    if not terms:
        return 1.0, []
    if sum(weights) == 0:  # no question word the archive spells so ("高企"): each counts alike,
        weights = [1.0] * len(terms)  # met by the full name it abbreviates (高新技术企业)
    total = sum(weights)
    got = [w * _term_hit(t, text) for t, w in zip(terms, weights)]
    missing = [t for t, g, w in zip(terms, got, weights) if g == 0 and w > 0]
    return sum(got) / total, missing


# Units that answer the same kind of "多少" question.
_UNIT_FAMILIES = (
    ("元",),
    ("%", "％", "个百分点", "百分点"),
    ("人", "名", "人次", "余人", "位"),
    ("个", "项", "件", "家", "户", "条", "批", "座", "所", "处", "台", "套", "辆", "艘", "架", "类", "种"),
    ("次", "场", "批次", "轮"),  # how often, not how many things: "32次" counts no projects
    ("亩", "公顷", "平方米", "平方公里"),
    ("吨", "万吨"),
    ("千瓦", "万千瓦", "兆瓦", "MW", "MWh", "GW"),
)


# "一批", "一个": an indefinite article, not a figure that says how many.
_INDEFINITE = re.compile(r"一\s*\D{1,2}")


# A figure that states a span of time or a date, not an amount.
_DURATION = re.compile(r"(?:年|月|日|天|周|季度|小时|分钟)$")


def _unit_family(unit: str) -> tuple[str, ...]:
    for family in _UNIT_FAMILIES:
        if any(unit.endswith(u) for u in family):
            return family
    return (unit,)


# A place in a ranking answers "多少" asked without a unit ("名次多少？" 排名第18).
_RANK = re.compile(r"第\s*(?:\d+|[一二三四五六七八九十百]+)(?![\d一二三四五六七八九十百批届期轮次])")
# Questions that ask how long something takes ("多长时间"): a span of time answers them.
_ASKS_DURATION = re.compile(r"多长时间|多久|多少天|几天|几个月|多少年|几年|时长")


# A year of any era: "1256年", "民国七十一年", "公元前221年" (YEAR is the press's 19xx and 20xx).
_ANY_YEAR = re.compile(r"(?<![\d.])\d{3,4}\s*年(?!代)|(?:公元前?|民国)\s*[\d〇零一二三四五六七八九十百]+\s*年")


def _has_answer_type(q: Question, sentence: str) -> bool:
    if q.kind in ("number", "compare"):
        numbers = [m.group(0) for m in NUMBER_WITH_UNIT.finditer(sentence) if not _INDEFINITE.fullmatch(m.group(0))
                   and not (m.group(0).endswith("个") and sentence[m.end():m.end() + 1] == "月")]  # "3个月"
        if q.unit:
            family = _unit_family(q.unit)
            return any(any(u in n for u in family) for n in numbers)
        # "多少" without a unit asks how many or how much: "三年培育计划" says how long, not that.
        if not _ASKS_DURATION.search(q.text):
            numbers = [n for n in numbers if not _DURATION.search(n)]
            numbers += _RANK.findall(sentence)  # "名次多少": 第18
        return bool(numbers) or (q.kind == "compare" and bool(DIGITS.search(sentence))) or q.kind == "compare"
    if q.kind == "percent":
        return bool(re.search(r"\d\s*[%％]|个百分点|百分之|倍", sentence))
    sentence = DATELINE.sub("", sentence)
    if q.kind == "year":
        return bool(YEAR.search(sentence) or _ANY_YEAR.search(sentence))
    if q.kind == "date":
        return bool(re.search(r"\d+\s*[月日]|\d{4}\s*年|[一二三四]季度|上半年|下半年|年底|年末|年初|年内|月底|月份"
                              r"|今年|明年|去年|当年|近日|近期", sentence) or _ANY_YEAR.search(sentence))
    return True


def _named_unit(q: Question) -> bool:
    """Whether the question names the unit it asks for ("多少人", "几个项目"), rather than the unit
    being guessed from its words (money words: 元): a figure in another unit does not answer it."""
    return q.kind in ("number", "compare") and bool(q.unit) and bool(
        re.search(rf"(?:多少|几)\s*{re.escape(q.unit)}", q.text))  # type: ignore[arg-type]


def _answer_clauses(q: Question, sentence: str) -> str:
    """The clauses of a sentence that carry a figure, each with the year stated nearest before it."""
    if q.kind not in ("number", "percent", "compare"):
        return sentence
    out, last_year = [], ""
    for clause in re.split(r"[，,；;、]", sentence):
        found = YEAR.findall(clause)
        if found:
            last_year = found[-1] + "年"
        if any(not m.group(0).endswith(("年", "月", "日", "天")) for m in NUMBER_WITH_UNIT.finditer(YEAR.sub("", clause))):
            out.append(clause if found else last_year + clause)
    return "，".join(out)


def _year_problem(q: Question, cand: _Candidate, base_year: int | None) -> str | None:
    """Whether the sentence speaks of the year the question asks about.

    A year stated in the sentence decides; otherwise the nearest year stated before it in
    the passage; otherwise the headline; otherwise the article's own year.
    """
    if not q.years:
        return None
    wanted = set(q.years)
    stated = years_in(_answer_clauses(q, cand.sentence), base_year) or years_in(cand.sentence, base_year)
    if not stated:
        for previous in reversed(split_sentences(cand.before)):
            stated = years_in(previous, base_year)
            if stated:
                break
    if not stated:
        stated = years_in(cand.hit.title + " " + (cand.chunk.heading if cand.chunk else ""), base_year)
    if not stated and base_year:
        stated = {base_year}
    if not (wanted & stated):
        return f"资料中没有{'、'.join(f'{y}年' for y in q.years)}的相关内容"
    return None


def _missing_years(q: Question) -> list[str]:
    return [f"{y}年" for y in q.years] or q.relative_years[:1]


def _relative_problem(q: Question, cand: _Candidate, base_year: int | None) -> str | None:
    """"去年" in the question against what the sentence speaks of: the relative word or year it
    states, else the nearest one stated before it in the article, else its headline's."""
    if not q.relative_years or q.years:
        return None
    wanted = {RELATIVE_YEARS[w] for w in q.relative_years}
    context = cand.hit.title + " " + (cand.chunk.heading if cand.chunk else "")
    for source in [cand.sentence, *reversed(split_sentences(cand.before)), context]:
        said = {RELATIVE_YEARS[w] for w in RELATIVE_YEAR.findall(source)}
        explicit = {int(y) for y in YEAR.findall(source)}
        if source is cand.sentence and not (said or explicit) and PERIOD.match(source):
            said = {0}  # "1~6月份，全市…": a period without a year is the article's own year
        if said or explicit:  # "2023年…，预计今年…" speaks of 去年 too (the article of 2024)
            if wanted & said or (base_year and {base_year + d for d in wanted} & explicit) or \
                    (explicit and not said and not base_year):
                return None
            return f"资料中没有{q.relative_years[0]}的相关内容"
    if 0 not in wanted:
        return f"资料中没有明确说是{q.relative_years[0]}的内容"
    return None


# Verbs before a place that make it the object of the sentence, not its subject: in a speech of
# 栖霞's party secretary, "加快建设黄渤海新区松山产业园" still speaks of 栖霞.
# (Only building verbs: after "赴济南" the question may well ask about the trip to 济南.)
_PLACE_AS_OBJECT = re.compile(r"(?:建设|建成|打造|布局)$")


def _as_object(stem: str, text: str) -> bool:
    """Whether every mention of the place in `text` follows such a verb."""
    starts = [m.start() for m in re.finditer(re.escape(stem), text)]
    return bool(starts) and all(_PLACE_AS_OBJECT.search(text[max(0, s - 4):s]) for s in starts)


def _about_other(stem: str, context: str, article: str, subject_chars: int) -> bool:
    """Whether the article is about another place: its headline and byline name only others."""
    lead_text = context + article[:subject_chars * 5]
    lead = places_in(lead_text)
    return bool(lead) and not any(stem in p or p in stem for p in lead) and not abbreviates(stem, lead_text)


def _place_ok(name: str, cand: _Candidate, context: str, article: str, subject_chars: int) -> bool:
    """A place counts when the sentence names it (not only as the object of a sentence in an
    article about another place); or when its passage or article does and the sentence names
    no other place as its subject (an article about one county may quote another)."""
    stem = place_stem(name)
    if stem in cand.sentence and not (_as_object(stem, cand.sentence)
                                      and _about_other(stem, context, article, subject_chars)):
        return True
    if stem not in cand.hit.text + context + article and not abbreviates(stem, context + article):
        return False  # "综保区": an article that names 综合保税区 speaks of it
    # Another place at the head of the sentence is its subject: the figure is about that place.
    head = cand.sentence[:subject_chars]
    if [p for p in places_in(head) if p != stem and p not in stem and stem not in p and not _as_object(p, head)]:
        return False
    # Nor when the article is about another place and the passage before the sentence does
    # not turn to this one: "栖霞市委书记" speaking of 黄渤海新区.
    return stem in cand.before or not _about_other(stem, context, article, subject_chars)


def _scope_problems(q: Question, cand: _Candidate, context: str, subject_chars: int) -> list[str]:
    """"全省…" asked without a place: a sentence about one county or city (named at its head, in
    its headline, or as 全市/该县) does not answer it unless it states the wider scope itself."""
    if q.places:
        return []
    out = []
    for scope, spelled in WIDE_SCOPES.items():
        if not any(word in q.text for word in spelled):
            continue
        if any(word in cand.sentence for word in spelled):
            continue
        if places_in(cand.sentence[:subject_chars]) or places_in(context) or LOCAL_SCOPE.search(cand.sentence):
            out.append(scope)
    return out


# The checks a candidate sentence can fail, by what they look at. The learned composer keeps the
# ones named in its policy as vetoes; the rules composer needs all of them to pass.
CHECKS = ("entity", "name", "year", "ordinal", "period", "metric", "unit", "answer_type", "coverage")


def _fail(cand: _Candidate, check: str, problem: str, missing: list[str] | None = None) -> None:
    cand.failures.append(Refusal(check, list(missing or []), problem))


def _check(q: Question, cand: _Candidate, article_year: int | None, inferred_year: int | None,
           article: str, idf: Callable[[str], float], cfg: ComposeConfig) -> None:
    """Fill cand.problems with what the sentence fails to supply."""
    context = cand.hit.title + " " + (cand.chunk.heading if cand.chunk else "")
    absent = [name for name in q.places if not _place_ok(name, cand, context, article, cfg.subject_chars)]
    before = cand.before
    absent += [name for name in q.orgs if name not in cand.sentence + context + before[-200:] and
               not (len(name) >= 4 and name[:4] in cand.sentence)]
    absent += _scope_problems(q, cand, context, cfg.subject_chars)
    if q.kind == "compare" and len(absent) < len(q.entities):
        absent = []  # each side of a comparison is answered by its own sentence
    for name in absent:  # a name only jieba's tag made one ("东西", "塔楼") may be a common word
        _fail(cand, "name" if name in q.guessed else "entity", f"资料中没有提到“{name}”", [name])
    for check, problem in (("year", _year_problem(q, cand, article_year or inferred_year)),
                           ("year", _relative_problem(q, cand, article_year or inferred_year))):
        if problem:
            _fail(cand, check, problem, _missing_years(q))
    for ordinal in q.ordinals:
        if ordinal not in cand.sentence + context:
            _fail(cand, "ordinal", f"资料中没有“{ordinal}”的相关内容", [ordinal])
    if q.kind in ("number", "percent", "compare"):
        for i, word in enumerate(q.focus_words):
            known = idf(word) > 0 or any(idf(alt) > 0 for alt in _synonyms(word))
            if i < len(q.focus_words) - 1 and idf(word) < cfg.specific_idf:
                continue  # a common modifier ("重点任务"): the press may say it otherwise
            if (not known and len(word) >= 3) or (known and not _term_hit(word, cand.borrowed + cand.sentence + context)):
                _fail(cand, "metric", f"资料中没有关于“{word}”的内容", [word])
        if cand.sentence_coverage < cfg.min_sentence_coverage:
            _fail(cand, "coverage", "资料中没有直接回答这个问题的句子")
        if _ASKS_TOTAL.search(q.text) and "增" not in q.text and _INCREMENT.search(cand.sentence) \
                and not _STATES_TOTAL.search(_answer_clauses(q, cand.sentence)):
            _fail(cand, "period", "资料中只有新增的数字，没有总数", ["总数"])
    if "全年" in q.text and not q.periods and _PART_OF_YEAR.search(cand.sentence):
        _fail(cand, "period", "资料中没有全年的数据", ["全年"])  # the figure is for part of the year
    for period in q.periods:
        spelled = (period,) + PERIOD_SYNONYMS.get(period, ())
        if not any(p in cand.sentence or p in context or p in before[-60:] for p in spelled):
            _fail(cand, "period", f"资料中没有“{period}”的相关数据", [period])
    if not _has_answer_type(q, cand.sentence):
        if _named_unit(q):
            _fail(cand, "unit", f"资料中没有以“{q.unit}”计的数字", [q.unit])  # type: ignore[list-item]
        else:
            _fail(cand, "answer_type",
                  {"number": "资料中没有相应的数字", "percent": "资料中没有相应的百分比", "year": "资料中没有提到年份",
                   "date": "资料中没有提到时间"}.get(q.kind, "资料中没有相应的数字"))
    if cand.coverage < (cfg.min_coverage if q.kind in ("number", "percent", "year", "date", "compare")
                        else cfg.min_coverage_open):
        missing = "、".join(f"“{t}”" for t in cand.missing_terms[:3])
        _fail(cand, "coverage", f"资料中没有关于{missing}的内容" if missing else "资料中没有相关内容",
              cand.missing_terms[:3])


def _trim(sentence: str, terms: list[str], q: Question, max_chars: int) -> str:
    """Keep a long sentence's first clause and the clauses that carry the answer."""
    if len(sentence) <= max_chars:
        return sentence
    clauses = split_clauses(sentence)
    if len(clauses) < 3:
        return sentence
    def value(c: str) -> float:
        v = sum(_term_hit(t, c) for t in terms)
        v += 1.0 if q.kind in ("number", "percent", "compare") and NUMBER_WITH_UNIT.search(c) else 0.0
        v += 1.0 if any(str(y) in c for y in q.years) else 0.0
        v += 1.0 if any(place_stem(p) in c for p in q.places) else 0.0
        return v
    best = max(range(len(clauses)), key=lambda i: (value(clauses[i]) + (value(clauses[i + 1]) * 0.5 if i + 1 < len(clauses) else 0), -i))
    keep = {0, best, min(best + 1, len(clauses) - 1)}
    out, last = "", -1
    for i in sorted(keep):
        if last >= 0 and i != last + 1:
            out = out.rstrip("，,、：:") + "……"
        out += clauses[i]
        last = i
    if last != len(clauses) - 1:
        out = out.rstrip("，,、：:") + "……"
    return out if len(out) < len(sentence) else sentence


def _annotate_relative(sentence: str, article_year: int | None) -> str:
    """"今年" -> "今年（2022年）" when the article's date says which year that is."""
    if not article_year:
        return sentence
    def repl(m: re.Match) -> str:
        return f"{m.group(1)}（{article_year + RELATIVE_YEARS[m.group(1)]}年）"
    return re.sub(rf"({RELATIVE_YEAR.pattern})(?!\s*[（(]?\d{{4}})", repl, sentence)


def _candidates(q: Question, hits: list[Hit], chunks: dict[str, Chunk], articles_text: Callable[[str], str],
                idf: Callable[[str], float], cfg: ComposeConfig = DEFAULT.compose,
                page_year: Callable[[str], int | None] | None = None) -> list[_Candidate]:
    # A word the archive spells otherwise weighs as its synonym does ("财政收入": 一般公共预算收入).
    weights = [max([idf(t)] + [idf(alt) for alt in _synonyms(t)]) for t in q.terms]
    w = cfg.weights
    byline = _byline(active_profile().byline)
    asks_stock = q.kind in ("number", "compare") and not _INCREMENT.search(q.text) and "增" not in q.text
    out: list[_Candidate] = []
    for rank, hit in enumerate(hits):
        chunk = chunks.get(hit.chunk_id)
        context = hit.title + " " + (chunk.heading if chunk else "")
        article = articles_text(hit.article_id) or hit.text
        article_year = _article_year(hit.date)
        # An undated article speaks from its page's year (rag.current_year), never shown as a fact.
        inferred = None if article_year else page_year(hit.article_id) if page_year else latest_year(article)
        at = article.find(hit.text)
        preceding = article[max(0, at - cfg.before_chars):at] if at > 0 else ""
        for pos, span in enumerate(sentence_spans(hit.text)):
            sentence = hit.text[span[0]:span[1]]
            if len(sentence) < 6 or byline.search(sentence) and len(sentence) < 40:
                continue
            if q.kind != "person" and TITLE_HOLDER.search(sentence):
                continue
            cand = _Candidate(rank, hit, chunk, sentence, pos, span, (preceding + hit.text[: span[0]])[-cfg.before_chars:])
            cand.coverage, cand.missing_terms = _coverage(q.terms, weights, sentence)
            if _CONTINUES.match(sentence) and cand.before:  # "截至目前，已发放劳务报酬322.7万元": the
                cand.borrowed = split_sentences(cand.before)[-1]  # sentence before names what of
                joined = cand.borrowed + sentence
                cand.coverage = max(cand.coverage, cfg.context_share * _coverage(q.terms, weights, joined)[0])
            cand.sentence_coverage = cand.coverage
            cand.context_coverage, _ = _coverage(q.terms, weights, sentence + context + cand.before[-120:])
            cand.coverage = max(cand.coverage, cfg.context_share * cand.context_coverage)
            _check(q, cand, article_year, inferred, article, idf, cfg)
            cand.score = (
                cand.coverage
                + w.answer_type * _has_answer_type(q, sentence)
                + w.year * any(str(y) in sentence for y in q.years)
                + w.place * any(place_stem(p) in sentence for p in q.places)
                + w.org * any(o in sentence for o in q.orgs)
                + w.figure_clauses * _coverage(q.terms, weights, _answer_clauses(q, sentence))[0]
                * (q.kind in ("number", "percent"))
                + w.rank / (1 + rank)
                - w.problem * len(cand.problems)
                - w.length * len(sentence)
                - w.increment * (asks_stock and bool(_INCREMENT.search(sentence)))
            )
            out.append(cand)
    out.sort(key=lambda c: (-c.score, c.hit_rank, c.position))
    return out


_LEAST_READ = 1e-4  # a probability floor, so that log-odds stay finite


def rank_by_sentences(q: Question, hits: list[Hit], chunks: dict[str, Chunk], idf: Callable[[str], float],
                      article_text: Callable[[str], str], weight: float,
                      cfg: ComposeConfig = DEFAULT.compose,
                      page_year: Callable[[str], int | None] | None = None,
                      reader: Reader | None = None, reader_weight: float = 0.0, pool: int = 8) -> list[Hit]:
    """The hits reordered by the sentence in each that best answers the question: weight x that
    sentence's score (less 1 when it fails a check) + 1 / (1 + the hit's rank). A passage whose
    sentence states the asked figure moves above the one that only introduces the topic (the
    LNG terminal's first paragraph above the one that gives its progress). With a `reader`, it
    reads the rules' best `pool` sentences (and the best of each of the first `cfg.lead_passages`
    hits), and each hit also gains reader_weight x the log-odds of its best-read sentence (a hit
    with none read counts as read at probability 1e-4). Each hit's score becomes that value."""
    best: dict[int, float] = {}
    ranked = _candidates(q, hits, chunks, article_text, idf, cfg, page_year)
    for cand in ranked:
        best.setdefault(cand.hit_rank, cand.score - (1.0 if cand.problems else 0.0))
    value = {r: weight * best.get(r, -2.0) + 1.0 / (1 + r) for r in range(len(hits))}
    if reader is not None and reader_weight > 0:
        read: dict[int, float] = {}
        pooled = _pool(ranked, pool, cfg.lead_passages)
        for cand, p in zip(pooled, reader.score(q.text, [(c.hit.title, _previous(c), c.sentence) for c in pooled])):
            read[cand.hit_rank] = max(read.get(cand.hit_rank, 0.0), float(p))
        for r in value:
            p = min(max(read.get(r, 0.0), _LEAST_READ), 1 - _LEAST_READ)
            value[r] += reader_weight * math.log(p / (1 - p))
    order = sorted(value, key=lambda r: (-value[r], r))
    return [dataclasses.replace(hits[r], score=round(value[r], 6)) for r in order]


def _select(q: Question, ranked: list[_Candidate], cfg: ComposeConfig = DEFAULT.compose) -> list[_Candidate]:
    return _choose(q, [c for c in ranked if not c.problems], config=cfg)


def _previous(cand: _Candidate) -> str:
    """What the reader sees before the sentence: the sentence before it, else the heading."""
    if cand.position > 0:
        sentences = split_sentences(cand.hit.text)
        if cand.position - 1 < len(sentences):
            return sentences[cand.position - 1]
    return cand.chunk.heading if cand.chunk else ""


def _pool(ranked: list[_Candidate], size: int, lead_hits: int = 0) -> list[_Candidate]:
    """The rules' best `size` candidates, and the best one of each of the first `lead_hits`
    passages that has none among them: the reader sees something of every leading passage."""
    pool = ranked[:size]
    have = {c.hit_rank for c in pool}
    for cand in ranked[size:]:
        if cand.hit_rank < lead_hits and cand.hit_rank not in have:
            pool.append(cand)
            have.add(cand.hit_rank)
    return pool


def _read(q: Question, ranked: list[_Candidate], reader: Reader, policy: ReaderPolicy,
          cfg: ComposeConfig = DEFAULT.compose) -> list[_Candidate]:
    """Score the best `policy.pool` candidates (and the best of each lead passage) with the
    reader; the pool, best-read first."""
    pool = _pool(ranked, policy.pool, cfg.lead_passages)
    probs = reader.score(q.text, [(c.hit.title, _previous(c), c.sentence) for c in pool])
    for cand, p in zip(pool, probs):
        cand.reader = float(p)
    return sorted(pool, key=lambda c: (-c.reader, c.hit_rank, c.position))


def _select_learned(q: Question, read: list[_Candidate], policy: ReaderPolicy,
                    cfg: ComposeConfig = DEFAULT.compose) -> list[_Candidate]:
    """The reader decides; the checks named in the policy veto (a wrong year or place), and the
    other checks (a missing word, say) can be overruled only by a confident reader."""
    vetoes = set(policy.vetoes)
    passing = [c for c in read if c.reader >= policy.accept and not vetoes & set(c.checks)
               and (not c.checks or c.reader >= policy.override)]
    return _choose(q, passing, policy, config=cfg)


def _refusal_reason(ranked: list[_Candidate], vetoes: tuple[str, ...] | None = None) -> Refusal | None:
    """What the best candidate lacked: its first failed check (with a reader, its first vetoed one)."""
    if not ranked or not ranked[0].failures:
        return None
    best = ranked[0]
    if vetoes is not None:
        vetoed = [f for f in best.failures if f.code in vetoes]
        return vetoed[0] if vetoed else Refusal("not_found", [], "资料中没有直接回答这个问题的句子")
    return best.failures[0]


def _choose(q: Question, passing: list[_Candidate], policy: ReaderPolicy | None = None,
            config: ComposeConfig = DEFAULT.compose) -> list[_Candidate]:
    """From the sentences that pass, best first: the answer's sentences."""
    if not passing:
        return []
    best = passing[0]
    chosen = [best]
    if policy is not None and q.kind != "compare":
        limit = policy.max_extra + (2 if q.kind == "list" else 0)
        if q.kind == "list" and _needs_more_items(q.text, best.sentence):
            listing = [c for c in passing[1:] if not _needs_more_items(q.text, c.sentence)
                       and c.reader >= config.list_share * best.reader]
            chosen += listing[:1]
        for c in passing[1:]:
            if len(chosen) > limit or c.reader < policy.extra * best.reader:
                break
            if sum(len(x.sentence) for x in chosen) + len(c.sentence) > config.max_answer_chars:
                break
            if c.sentence not in {x.sentence for x in chosen}:
                chosen.append(c)
        chosen.sort(key=lambda c: (c.hit_rank, c.position))
        return chosen
    if q.kind == "compare" and len(q.places) >= 2:
        chosen = []
        for place in q.places:
            stem = place_stem(place)
            side = [c for c in passing if stem in c.sentence or stem in c.hit.title]
            if side and side[0] not in chosen:
                chosen.append(side[0])
        return chosen or [best]
    extra = {"list": 3, "describe": 1}.get(q.kind, 0)
    if extra:
        pool = [c for c in passing[1:] if c.score >= config.extra_share * best.score]
        same_chunk = [c for c in pool if c.hit.chunk_id == best.hit.chunk_id]
        others = [c for c in pool if c.hit.chunk_id != best.hit.chunk_id]
        for c in same_chunk + others:
            if len(chosen) > extra or sum(len(x.sentence) for x in chosen) + len(c.sentence) > config.max_answer_chars:
                break
            if c.sentence not in {x.sentence for x in chosen}:
                chosen.append(c)
        chosen.sort(key=lambda c: (c.hit_rank, c.position))
    return chosen


_COUNTS = {"两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}


def _needs_more_items(question: str, sentence: str) -> bool:
    """Whether a list question asks for more items than the best sentence enumerates."""
    asked = [int(d) for d in re.findall(r"(?<!\d)([2-9])(?!\d)", question)]
    asked += [_COUNTS[c] for c in re.findall(r"[两二三四五六七八九十](?=[个项大种类户家条位方块]|行动|全力|张|化|到位)", question)]
    listed = sentence.count("、") + 1
    if asked:
        return listed < max(asked)
    return listed < 3


def _lead_ins(best: _Candidate, article_chunks: list[Chunk], cfg: ComposeConfig) -> list[_Candidate]:
    """The short sentences that open the paragraphs after the best sentence: the items of an
    enumeration the article spells out paragraph by paragraph ("“一套流程”… “两项机制”…")."""
    items: list[_Candidate] = []
    seen_best = False
    for chunk in article_chunks:
        hit = Hit(chunk.id, chunk.article_id, chunk.title, chunk.date, chunk.source, chunk.text, 0.0)
        offset = 0
        for paragraph in chunk.text.split("\n"):
            start, offset = offset, offset + len(paragraph) + 1
            spans = sentence_spans(paragraph)
            if not spans:
                continue
            if not seen_best:
                seen_best = chunk.id == best.hit.chunk_id and best.sentence in paragraph
                continue
            lead = paragraph[spans[0][0]:spans[0][1]]
            if len(lead) > cfg.lead_in_chars or len(spans) == 1 and len(paragraph) > cfg.lead_in_chars:
                return items if len(items) >= 2 else []
            items.append(_Candidate(0, hit, chunk, lead, 0, (start + spans[0][0], start + spans[0][1])))
            if len(items) == cfg.max_list_items:
                return items
    return items if len(items) >= 2 else []


# A sentence that opens with "他" or "她" says who only in the sentence before it.
_PERSON_PRONOUN = re.compile(r"^[“\"]?(?:他|她)(?![国乡人日])")


def _neighbour(cand: _Candidate, step: int) -> _Candidate | None:
    """The sentence `step` places after (or before) a quoted one in its passage, if there is one."""
    spans = sentence_spans(cand.hit.text)
    at = cand.position + step
    if cand.position >= len(spans) or spans[cand.position] != cand.span or not 0 <= at < len(spans):
        return None
    start, end = spans[at]
    return _Candidate(cand.hit_rank, cand.hit, cand.chunk, cand.hit.text[start:end], at, (start, end))


def _same_paragraph(first: _Candidate, second: _Candidate) -> bool:
    return "\n" not in first.hit.text[first.span[1]:second.span[0]]


def _antecedent(cand: _Candidate) -> list[_Candidate]:
    """The sentence before a quoted one that opens with a personal pronoun, when both are in one
    paragraph: "他主张与近邻修好…" is quoted with the sentence that names him."""
    before = _neighbour(cand, -1) if _PERSON_PRONOUN.match(cand.sentence) else None
    return [before] if before and _same_paragraph(before, cand) else []


def _context_answer(q: Question, cand: _Candidate, candidates: list[_Candidate],
                    vetoes: set[str]) -> list[_Candidate]:
    """The sentence before a quoted one, when the quoted one lacks what was asked (a figure, a
    year) and that one states it: the reader read it as the quoted sentence's context, so it may
    be what made the quoted one score ("忽必烈率军抵达河南汝南" after "1256年夏天，…"). It is taken
    from `candidates`, which carry their checks."""
    before = next((c for c in candidates if c.hit_rank == cand.hit_rank and c.position == cand.position - 1), None)
    if before is None or _has_answer_type(q, cand.sentence) or not _has_answer_type(q, before.sentence):
        return []
    return [] if vetoes & set(before.checks) else [before]


def _elaboration(cand: _Candidate, cfg: ComposeConfig) -> list[_Candidate]:
    """The sentence after a quoted one that only heads what follows ("谋划布局新能源产业新赛道。": short,
    no figure, first in its paragraph or a subheading of its own): that sentence says what was done."""
    if len(cand.sentence) > cfg.lead_in_chars or DIGITS.search(cand.sentence):
        return []
    before = _neighbour(cand, -1)
    if before and _same_paragraph(before, cand):
        return []  # not the paragraph's first sentence
    after = _neighbour(cand, 1)  # in its paragraph, or the next one when it is a subheading
    return [after] if after else []


def _citation(n: int, hit: Hit) -> Citation:
    return Citation(n, hit.chunk_id, hit.article_id, hit.title, hit.date, hit.source, hit.text, hit.score)


def refusal(hits: list[Hit], reason: Refusal | None = None, sources: int = DEFAULT.compose.refusal_sources) -> Answer:
    """The answer for a question the passages do not answer: why, and the closest sources."""
    closest = hits[:sources]
    citations = [_citation(i + 1, h) for i, h in enumerate(closest)]
    return Answer([], citations, reason or Refusal("not_found"))


def compose(
    q: Question,
    hits: list[Hit],
    chunks: dict[str, Chunk],
    idf: Callable[[str], float],
    article_text: Callable[[str], str] = lambda _id: "",
    article_chunks: Callable[[str], list[Chunk]] = lambda _id: [],
    reader: Reader | None = None,
    policy: ReaderPolicy | None = None,
    config: ComposeConfig = DEFAULT.compose,
    rules_first: bool = False,
    page_year: Callable[[str], int | None] | None = None,
) -> Answer:
    """An extractive answer: sentences with the citation each came from, or a refusal.

    With a `reader` (and its `policy`), the learned reader picks the sentences and the policy's
    checks veto; without one, every rule check must pass (the rules composer). With both and
    `rules_first`, the rules answer and the reader reads only what they would refuse.
    `page_year` gives an undated article's page year (`rag.current_year.page_years`); without
    it, the latest year the article itself names stands in."""
    if not hits:
        return refusal(hits, Refusal("no_passages", [], "索引中没有相关资料"), config.refusal_sources)
    ranked = candidates = _candidates(q, hits, chunks, article_text, idf, config, page_year)
    learned = reader is not None and policy is not None
    chosen: list[_Candidate] = []
    if not learned or rules_first:
        chosen = _select(q, ranked, config)
        reason = _refusal_reason(ranked)
    if not chosen and learned:
        ranked = _read(q, ranked, reader, policy, config)  # type: ignore[arg-type]
        chosen = _select_learned(q, ranked, policy, config)  # type: ignore[arg-type]
        reason = _refusal_reason(ranked, policy.vetoes)  # type: ignore[union-attr]
    if not chosen:
        return refusal(hits, reason, config.refusal_sources)
    best = max(chosen, key=lambda c: (c.reader, c.score))  # chosen is in reading order
    if q.kind == "list" and all(_needs_more_items(q.text, c.sentence) for c in chosen):
        first = chosen[0]  # the items follow the sentence that introduces them
        items = _lead_ins(first, article_chunks(first.hit.article_id), config)
        if items:
            chosen = [first] + items
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    parts: list[AnswerPart] = []
    quoted: set[tuple[str, int]] = set()
    vetoes = set(policy.vetoes) if learned else set(CHECKS)  # type: ignore[union-attr]
    for cand in chosen:
        if cand.hit.chunk_id not in numbers:
            numbers[cand.hit.chunk_id] = len(numbers) + 1
            citations.append(_citation(numbers[cand.hit.chunk_id], cand.hit))
        after = _elaboration(cand, config) if len(chosen) == 1 else []
        stated = _context_answer(q, cand, candidates, vetoes) if cand is best else []
        for quote in _antecedent(cand) + stated + [cand] + after:
            if (quote.hit.chunk_id, quote.span[0]) in quoted:
                continue
            quoted.add((quote.hit.chunk_id, quote.span[0]))
            text = quote.sentence if q.kind == "list" else _trim(quote.sentence, q.terms, q, config.max_sentence_chars)
            sentence = _annotate_relative(text, _article_year(quote.hit.date))
            sentence = re.sub(r"[；;，,、：:]$", "", sentence)  # a clause cut at "；" ends as a sentence
            if not re.search(r"[。！？!?…”]$", sentence):
                sentence += "。"
            parts.append(AnswerPart(sentence, numbers[quote.hit.chunk_id], quote.hit.chunk_id, quote.span))
    if q.kind == "compare" and len(q.places) >= 2:
        found = {p for p in q.places if any(place_stem(p) in c.sentence or place_stem(p) in c.hit.title for c in chosen)}
        for place in q.places:
            if place not in found:
                parts.append(AnswerPart(f"资料中没有找到关于“{place}”的相应内容。"))
    return Answer(parts, citations)
