"""The year an undated article speaks from, read from its page.

A question's year ("2023年") is checked against the year a sentence speaks of; a sentence
that says "今年" or names no year speaks of its article's year. Articles without a date
(a page scanned without its masthead) get the latest year their page names instead, never
shown to the user as a fact. The whole page counts, not the one piece: the pieces of a
printed page share its date, and a short piece often names no year at all while the piece
beside it does ("2024年1月至6月…") or carries the page's dateline. A year the page names as a
target ("到2025年", "2021—2025年", "力争2025年底前") says nothing about when it was written and
is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from rag.readers import file_format
from rag.types import Article

__all__ = ["latest_year", "page_years"]

_YEAR = re.compile(r"(?<!\d)(20\d{2})(?![\d亿万千百余多])")  # "2023年", "2024方案"; not "2000亿"
_TARGET_BEFORE = re.compile(r"(?:到|至|力争|争取|预计|目标|—|-|～|~)\s*$")
_TARGET_AFTER = re.compile(r"^\s*年?(?:前|底前|末前)")


def latest_year(text: str) -> int | None:
    """The latest year `text` names as past or present, or None."""
    years = [int(m.group(1)) for m in _YEAR.finditer(text)
             if not _TARGET_BEFORE.search(text[max(0, m.start() - 3):m.start()])
             and not _TARGET_AFTER.match(text[m.end():m.end() + 4])]
    return max(years) if years else None


def page_years(articles: Iterable[Article], files: Mapping[str, str] | None = None) -> dict[str, int]:
    """Article id -> its page's year, for the articles without a date: the year of the page's
    dated articles, else the latest year the page names.

    A page is the articles of one page file (`files`: article id -> the corpus file it was read
    from, else its source) and printed page; a record of a .jsonl file is its own page, since a
    feed's records need not share a date (nor do records that name the same source)."""
    files = files or {}
    pages: dict[tuple[str, str | None, str], list[Article]] = {}
    for article in articles:
        file = files.get(article.id, article.source)
        own = article.id if file_format(Path(file)) == "jsonl" else ""
        pages.setdefault((file, article.page, own), []).append(article)
    out: dict[str, int] = {}
    for members in pages.values():
        undated = [a for a in members if not a.date]
        if not undated:
            continue
        dated = [int(a.date[:4]) for a in members if a.date and a.date[:4].isdigit()]
        year = max(dated) if dated else latest_year("\n".join(a.title + "\n" + a.text for a in members))
        if year:
            out.update((a.id, year) for a in undated)
    return out
