"""Rewrite a follow-up question into a standalone one, using the conversation so far.

    >>> rewrite("那胶州呢？", [{"role": "user", "content": "招远2023年黄金产业总产值是多少？"}])
    '胶州2023年黄金产业总产值是多少？'

Rules, in order: an elliptical follow-up ("那胶州呢？", "2022年呢？", "那去年呢？", "那续建的呢？")
takes the previous question and swaps in the new place, year, or sibling word (`data/contrasts.json`:
续建 for 建成投产, 出口 for 进口); a pronoun ("该市", "它") is replaced by
the place the previous question named; anything else is already standalone.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

from rag.question import PERIOD, analyze
from rag.profile import place_stem
from rag.text import ADMIN_SUFFIX, RELATIVE_YEAR, RELATIVE_YEARS, YEAR

__all__ = ["rewrite", "last_user_question"]

_ELLIPTICAL = re.compile(r"^(?:那么?|那|还有|再问一下|再看看|换成|改成)?\s*(.{1,16}?)\s*(?:的情况|怎么样|如何|呢)[？?。]?$")
_PRONOUNS = ("该市", "该区", "该县", "该镇", "这个市", "这个区", "那里", "当地", "它们", "它")
_PLACE_TAIL = re.compile(ADMIN_SUFFIX + "$")
CONTRASTS = Path(__file__).parent / "data" / "contrasts.json"  # package data


@functools.lru_cache(maxsize=1)
def _contrast_sets() -> tuple[tuple[str, ...], ...]:
    sets = json.loads(CONTRASTS.read_text(encoding="utf-8"))["sets"]
    return tuple(tuple(sorted(words, key=len, reverse=True)) for words in sets)


def _swap_sibling(previous: str, focus: str) -> str | None:
    """The previous question with the follow-up's word put in place of its sibling ("续建" for
    "建成投产"); None when the follow-up names no such word or the previous question no sibling.

    >>> _swap_sibling("山东港口2023年在青岛建成投产了多少个项目？", "续建的")
    '山东港口2023年在青岛续建了多少个项目？'
    """
    for words in _contrast_sets():
        new = next((w for w in words if focus.startswith(w)), None)
        if new is None or new in previous:
            continue
        old = next((w for w in words if w in previous and new not in w), None)
        if old is not None:
            return previous.replace(old, new, 1)
    return None


def last_user_question(history: list[dict] | None) -> str | None:
    for turn in reversed(history or []):
        if turn.get("role") == "user" and str(turn.get("content", "")).strip():
            return str(turn["content"]).strip()
    return None


def _swap_year(previous: str, year: int, focus: str = "") -> str:
    """The previous question about `year`: its year, else its 今年/去年, replaced; a follow-up
    about the whole year ("那2023年全年呢？") drops the previous period ("上半年").

    >>> _swap_year("招远今年上半年实施了多少项重点技术创新项目？", 2023, "2023年全年")
    '招远2023年全年实施了多少项重点技术创新项目？'
    """
    if YEAR.search(previous):
        swapped = YEAR.sub(f"{year}年", previous, count=1)
    elif RELATIVE_YEAR.search(previous):
        swapped = RELATIVE_YEAR.sub(f"{year}年", previous, count=1)
    else:
        swapped = f"{year}年" + previous
    if "全年" in focus:
        swapped = re.sub(rf"({year}年)(?:{PERIOD.pattern})", r"\1全年", swapped, count=1)
        swapped = PERIOD.sub("", swapped) if "全年" not in swapped else swapped
    return swapped


# A time a follow-up may name: a year or 今年/去年…, then a period or 全年.
_TIME = re.compile(rf"((?:19|20)\d{{2}}年|{RELATIVE_YEAR.pattern})?({PERIOD.pattern}|全年)?")


def _swap_time(previous: str, focus: str) -> str:
    """The previous question asked of another time: "那今年1到6月呢？" after "2023年规上工业总产值
    是多少？". A follow-up naming only a period keeps the previous year; one naming only a year
    keeps the previous period.

    >>> _swap_time("2023年规上工业总产值是多少？", "今年1到6月")
    '今年1到6月规上工业总产值是多少？'
    >>> _swap_time("招远今年上半年网络零售额是多少？", "去年")
    '招远去年上半年网络零售额是多少？'
    """
    year, period = _TIME.fullmatch(focus).groups()
    found = next((m for m in _TIME.finditer(previous) if m.group(0)), None)
    if not found:
        return focus + previous
    new = (year or found.group(1) or "") + (period or ("" if year and not found.group(1) else found.group(2) or ""))
    return previous[:found.start()] + new + previous[found.end():]


def _ask_of(question: str, what: str) -> str:
    """`what` put before the question's asking words: ("招远今年黄金产业总产值是多少？", "目标") ->
    "招远今年黄金产业总产值目标是多少？"."""
    asking = re.search(r"(?:是|有|为|达到?)?(?:多少|几|哪|什么|谁)", question)
    at = asking.start() if asking else len(question.rstrip("？?。"))
    return question[:at] + what + question[at:]


def rewrite(question: str, history: list[dict] | None) -> str:
    """The standalone form of `question` given earlier turns (unchanged when it stands alone)."""
    question = question.strip()
    previous = last_user_question(history)
    if not previous:
        return question
    prev = analyze(previous)
    match = _ELLIPTICAL.match(question)
    if match and not re.search(r"多少|哪些|什么|哪|谁|几", match.group(1)):
        focus = match.group(1).strip()
        years = [int(y) for y in YEAR.findall(focus)]
        if years:
            return _swap_year(previous, years[0], focus)
        if focus in RELATIVE_YEARS and prev.years:
            return _swap_year(previous, prev.years[0] + RELATIVE_YEARS[focus], focus)
        if _TIME.fullmatch(focus):
            return _swap_time(previous, focus)
        when = _TIME.match(focus).group(0)
        if when and len(focus) > len(when):  # "今年的目标呢？": another time, and what of it
            return _ask_of(_swap_time(previous, when), focus[len(when):].lstrip("的"))
        sibling = _swap_sibling(previous, focus)
        if sibling:
            return sibling
        place = place_stem(focus) if _PLACE_TAIL.search(focus) else focus
        if prev.places:
            old = prev.places[0]
            pattern = re.escape(old) + ADMIN_SUFFIX + "?"
            return re.sub(pattern, place, previous, count=1)
        if prev.orgs:
            return previous.replace(prev.orgs[0], place, 1)
        return place + previous
    if prev.places:
        for pronoun in _PRONOUNS:
            if pronoun in question:
                return question.replace(pronoun, prev.places[0], 1)
    current = analyze(question)
    if (prev.places or prev.orgs) and not current.entities and len(question) <= 24:
        # "那去年全年增长了多少？" after a question about 招远's retail sales: carry over the
        # subject, and the metric when the follow-up names none.
        subject = "".join(prev.places[:1] + prev.orgs[:1])
        metric = "".join(prev.focus_words) if not current.focus_words and prev.focus_words else ""
        body = re.sub(r"^(?:那么?|还有|另外)", "", question)
        if metric and metric in body:
            metric = ""
        return subject + metric + body
    return question
