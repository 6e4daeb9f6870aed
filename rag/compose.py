"""The extractive answer composer: no LLM, nothing said that a cited passage does not say.

For each retrieved passage, every sentence is scored against what the question asks for
(`rag.question`): coverage of the question's metric and topic words (weighted by IDF), the
entity, the year or period, and the kind of answer (a number with the asked unit, a year, a
list). The best sentence that passes every check answers; list, comparison and description
questions take a few more. When no sentence passes, the composer refuses and says what was
missing, still listing the closest passages.

Simplifications: sentences are quoted whole (long ones trimmed to the clauses that matter,
with "……" where text was left out), relative dates are annotated only when the article's
date is known, and nothing is paraphrased.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rag.question import DIGITS, NUMBER_WITH_UNIT, YEAR, Question, strip_admin_suffix
from rag.types import Answer, Chunk, Citation, Hit

__all__ = ["compose", "split_sentences", "MIN_COVERAGE"]

# A sentence must cover at least this share of the question's IDF-weighted terms. Calibrated
# on eval/gold.jsonl (see eval/README.md): lower lets near misses through, higher refuses
# paraphrased questions.
MIN_COVERAGE = 0.5
MAX_SENTENCE_CHARS = 160  # longer sentences are trimmed to their best clauses
MAX_ANSWER_CHARS = 420
REFUSAL_SOURCES = 3

_SENTENCE = re.compile(r"[^。！？；!?;\n]*(?:[。！？；!?;]+[”’」』）)]*|\n|$)")
_CLAUSE = re.compile(r"[^，,、：:]*[，,、：:]?")
_RELATIVE = {"今年": 0, "去年": -1, "明年": 1, "前年": -2}


def split_sentences(text: str) -> list[str]:
    """Split at 。！？； (keeping closing quotes with their sentence) and at line breaks."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


@dataclass
class _Candidate:
    hit_rank: int
    hit: Hit
    chunk: Chunk | None
    sentence: str
    position: int
    coverage: float = 0.0
    context_coverage: float = 0.0
    problems: list[str] = field(default_factory=list)
    score: float = 0.0
    missing_terms: list[str] = field(default_factory=list)


def _article_year(date: str | None) -> int | None:
    return int(date[:4]) if date and date[:4].isdigit() else None


def _years_in(text: str, article_year: int | None) -> set[int]:
    years = {int(y) for y in YEAR.findall(text)}
    years |= {int(y) for y in re.findall(r"((?:19|20)\d{2})(?=年度|年末|年底|上半年|—|-)", text)}
    if article_year:
        years |= {article_year + d for w, d in _RELATIVE.items() if w in text}
    return years


def _term_hit(term: str, text: str) -> float:
    if term in text:
        return 1.0
    if len(term) >= 3 and (term[:2] in text or term[-2:] in text):
        return 0.5
    return 0.0


def _coverage(terms: list[str], weights: list[float], text: str) -> tuple[float, list[str]]:
    total = sum(weights)
    if total == 0:
        return 1.0, []
    got = [w * _term_hit(t, text) for t, w in zip(terms, weights)]
    missing = [t for t, g in zip(terms, got) if g == 0]
    return sum(got) / total, missing


def _has_answer_type(q: Question, sentence: str) -> bool:
    if q.kind in ("number", "compare") and (q.unit or q.kind == "number"):
        found = NUMBER_WITH_UNIT.findall(sentence)
        numbers = [m for m in NUMBER_WITH_UNIT.finditer(sentence)]
        if not found and not DIGITS.search(sentence):
            return False
        if q.unit:
            unit = q.unit
            wanted = ("元",) if unit.endswith("元") else ("%", "％", "个百分点") if unit in ("%", "％") else (unit,)
            return any(m.group(0).rstrip().endswith(wanted) or any(w in m.group(0) for w in wanted) for m in numbers)
        return bool(found)
    if q.kind == "percent":
        return bool(re.search(r"\d\s*[%％]|个百分点|百分之", sentence))
    if q.kind == "year":
        return bool(YEAR.search(sentence))
    if q.kind == "date":
        return bool(re.search(r"\d+\s*月|\d{4}\s*年|[一二三四]季度|上半年|下半年|年底|年末", sentence))
    return True


def _check(q: Question, cand: _Candidate, article_year: int | None, inferred_year: int | None) -> None:
    """Fill cand.problems with what the sentence fails to supply."""
    chunk_text = cand.hit.text
    context = cand.hit.title + " " + (cand.chunk.heading if cand.chunk else "")
    where = cand.sentence + " " + context + " " + chunk_text
    absent = [name for name in q.places if strip_admin_suffix(name) not in where]
    if q.kind == "compare" and len(absent) < len(q.places):
        absent = []  # each side of a comparison is answered by its own sentence
    for name in absent:
        cand.problems.append(f"资料中没有提到“{name}”")
    for name in q.orgs:
        if name not in where and name[:2] not in cand.sentence:
            cand.problems.append(f"资料中没有提到“{name}”")
    if q.years:
        year_base = article_year or inferred_year
        in_sentence = _years_in(cand.sentence, year_base)
        if not any(y in in_sentence for y in q.years):
            before = chunk_text[: chunk_text.find(cand.sentence)] if cand.sentence in chunk_text else ""
            around = _years_in(context + " " + before, year_base)
            stated = in_sentence or {y for y in _years_in(before[-80:], year_base)}
            if stated or not any(y in around for y in q.years) and (year_base not in q.years):
                years = "、".join(f"{y}年" for y in q.years)
                cand.problems.append(f"资料中没有{years}的相关内容")
    for period in q.periods:
        if period not in cand.sentence and period not in context:
            cand.problems.append(f"资料中没有“{period}”的相关数据")
    if not _has_answer_type(q, cand.sentence):
        cand.problems.append(
            {"number": "资料中没有相应的数字", "percent": "资料中没有相应的百分比", "year": "资料中没有提到年份",
             "date": "资料中没有提到时间"}.get(q.kind, "资料中没有相应的数字")
        )
    if cand.coverage < MIN_COVERAGE:
        missing = "、".join(f"“{t}”" for t in cand.missing_terms[:3])
        cand.problems.append(f"资料中没有关于{missing}的内容" if missing else "资料中没有相关内容")


def _inferred_year(text: str) -> int | None:
    """For an undated article, the latest year it names stands in for "今年" when checking
    a question's year (never shown to the user as a fact)."""
    years = [int(y) for y in YEAR.findall(text)]
    return max(years) if years else None


def _trim(sentence: str, terms: list[str], q: Question) -> str:
    """Keep a long sentence's first clause and the clauses that carry the answer."""
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    clauses = [c for c in _CLAUSE.findall(sentence) if c]
    if len(clauses) < 3:
        return sentence
    def value(c: str) -> float:
        v = sum(_term_hit(t, c) for t in terms)
        v += 1.0 if q.kind in ("number", "percent", "compare") and NUMBER_WITH_UNIT.search(c) else 0.0
        v += 1.0 if any(str(y) in c for y in q.years) else 0.0
        v += 1.0 if any(strip_admin_suffix(p) in c for p in q.places) else 0.0
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
        return f"{m.group(1)}（{article_year + _RELATIVE[m.group(1)]}年）"
    return re.sub(r"(今年|去年|明年|前年)(?!\s*[（(]?\d{4})", repl, sentence)


def _candidates(q: Question, hits: list[Hit], chunks: dict[str, Chunk], articles_text: Callable[[str], str],
                idf: Callable[[str], float]) -> list[_Candidate]:
    weights = [idf(t) for t in q.terms]
    out: list[_Candidate] = []
    for rank, hit in enumerate(hits):
        chunk = chunks.get(hit.chunk_id)
        context = hit.title + " " + (chunk.heading if chunk else "")
        article_year = _article_year(hit.date)
        inferred = None if article_year else _inferred_year(articles_text(hit.article_id))
        for pos, sentence in enumerate(split_sentences(hit.text)):
            if len(sentence) < 6:
                continue
            cand = _Candidate(rank, hit, chunk, sentence, pos)
            cand.coverage, cand.missing_terms = _coverage(q.terms, weights, sentence)
            cand.context_coverage, _ = _coverage(q.terms, weights, sentence + context)
            cand.coverage = max(cand.coverage, 0.85 * cand.context_coverage)
            _check(q, cand, article_year, inferred)
            cand.score = (
                cand.coverage
                + 0.3 * _has_answer_type(q, sentence)
                + 0.15 * any(str(y) in sentence for y in q.years)
                + 0.1 * any(strip_admin_suffix(p) in sentence for p in q.places)
                + 0.1 / (1 + rank)
                - 0.5 * len(cand.problems)
            )
            out.append(cand)
    out.sort(key=lambda c: (-c.score, c.hit_rank, c.position))
    return out


def _select(q: Question, ranked: list[_Candidate]) -> list[_Candidate]:
    passing = [c for c in ranked if not c.problems]
    if not passing:
        return []
    best = passing[0]
    chosen = [best]
    if q.kind == "compare" and len(q.places) >= 2:
        chosen = []
        for place in q.places:
            stem = strip_admin_suffix(place)
            side = [c for c in passing if stem in c.sentence or stem in c.hit.title]
            if side and side[0] not in chosen:
                chosen.append(side[0])
        return chosen or [best]
    extra = {"list": 3, "describe": 1}.get(q.kind, 0)
    if extra:
        pool = [c for c in passing[1:] if c.score >= 0.6 * best.score]
        same_chunk = [c for c in pool if c.hit.chunk_id == best.hit.chunk_id]
        others = [c for c in pool if c.hit.chunk_id != best.hit.chunk_id]
        for c in same_chunk + others:
            if len(chosen) > extra or sum(len(x.sentence) for x in chosen) + len(c.sentence) > MAX_ANSWER_CHARS:
                break
            if c.sentence not in {x.sentence for x in chosen}:
                chosen.append(c)
        chosen.sort(key=lambda c: (c.hit_rank, c.position))
    return chosen


def _citation(n: int, hit: Hit) -> Citation:
    return Citation(n, hit.chunk_id, hit.article_id, hit.title, hit.date, hit.source, hit.text, hit.score)


def refusal(question: str, hits: list[Hit], reason: str | None = None) -> Answer:
    """The answer for a question the passages do not answer: say so, list the closest sources."""
    closest = hits[:REFUSAL_SOURCES]
    citations = [_citation(i + 1, h) for i, h in enumerate(closest)]
    text = "资料中没有找到能回答这个问题的内容"
    text += f"（{reason}）。" if reason else "。"
    if citations:
        text += "最接近的资料：" + "；".join(f"《{c.title}》[{c.n}]" for c in citations) + "。"
    return Answer(text, True, citations)


def compose(
    q: Question,
    hits: list[Hit],
    chunks: dict[str, Chunk],
    idf: Callable[[str], float],
    article_text: Callable[[str], str] = lambda _id: "",
) -> Answer:
    """An extractive answer with a [n] marker after every sentence, or a refusal."""
    if not hits:
        return refusal(q.text, hits, "索引中没有相关资料")
    ranked = _candidates(q, hits, chunks, article_text, idf)
    chosen = _select(q, ranked)
    if not chosen:
        reason = ranked[0].problems[0] if ranked and ranked[0].problems else None
        return refusal(q.text, hits, reason)
    numbers: dict[str, int] = {}
    citations: list[Citation] = []
    parts: list[str] = []
    for cand in chosen:
        if cand.hit.chunk_id not in numbers:
            numbers[cand.hit.chunk_id] = len(numbers) + 1
            citations.append(_citation(numbers[cand.hit.chunk_id], cand.hit))
        sentence = _annotate_relative(_trim(cand.sentence, q.terms, q), _article_year(cand.hit.date))
        if not re.search(r"[。！？；!?;…]$", sentence):
            sentence += "。"
        parts.append(f"{sentence}[{numbers[cand.hit.chunk_id]}]")
    if q.kind == "compare" and len(q.places) >= 2:
        found = {p for p in q.places if any(strip_admin_suffix(p) in c.sentence or strip_admin_suffix(p) in c.hit.title for c in chosen)}
        for place in q.places:
            if place not in found:
                parts.append(f"资料中没有找到关于“{place}”的相应内容。")
    return Answer("".join(parts), False, citations)


def default_idf(df: dict[str, int], n_docs: int) -> Callable[[str], float]:
    """BM25-style IDF with a floor, so that unseen words weigh like the rarest."""
    def idf(term: str) -> float:
        return max(0.1, math.log(1 + (n_docs - df.get(term, 0) + 0.5) / (df.get(term, 0) + 0.5)))
    return idf
