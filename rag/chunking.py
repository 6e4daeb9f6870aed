"""Cut articles into paragraph chunks that carry their article's title and section heading.

Rules, in order:

1. A paragraph longer than `max_chars` is split at sentence ends (。！？；), a sentence
   still too long at commas, and a clause still too long at `max_chars`, moved back so
   that no number or Latin word is cut ("754.85" stays whole).
2. Short paragraphs are merged, up to `max_chars`, while they sit under the same heading;
   a chunk shorter than `min_chars` is merged with what follows even across a heading,
   and a short last chunk joins the one before it when they fit together.
3. Headings: a short paragraph with no sentence punctuation followed by text is a section
   heading ("抢抓项目建设“黄金期”"; two such paragraphs in a row make one heading); a short
   first sentence that opens a paragraph is a lead-in ("拓展领域，利用外资提质增效。").
   A chunk's `heading` is the section heading and the lead-in it sits under, because the
   answering passage often lacks the name that stands in its heading (FINDINGS.md).

Paragraphs inside a chunk are separated by "\\n"; removing those gives back the article's
paragraphs, concatenated: chunks cover their article exactly, with no overlap.

    >>> from rag.types import Article
    >>> paragraphs = ["抢抓项目建设“黄金期”", "5月17日，村民将西红柿运出大棚。", "该项目总投资超过60亿元。"]
    >>> [(c.heading, c.text) for c in chunk_article(Article("a1", "标题", None, "x.txt", paragraphs))]
    [('抢抓项目建设“黄金期”', '抢抓项目建设“黄金期”\\n5月17日，村民将西红柿运出大棚。\\n该项目总投资超过60亿元。')]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from rag.config import CHUNK_CHARS
from rag.text import split_sentences
from rag.errors import InputError
from rag.pages import paragraph_kind
from rag.types import Article, Chunk, content_id

__all__ = ["MAX_CHARS", "MIN_CHARS", "chunk_article", "chunk_articles", "headings"]

MAX_CHARS = CHUNK_CHARS  # the chunk size, explained in rag.config
MIN_CHARS = 80
MIN_MAX_CHARS = 20  # below this a chunk cannot hold one clause
MAX_HEADING_RUN = 2  # more short lines in a row are a list or captions, not a heading
LEAD_IN_CHARS = 32  # "加强能源保障队伍专业化规范化建设,不断加大重点领域能源保障力度。" is 32
SHORT_LEAD_IN = 20  # a sentence this short that opens a paragraph is a lead-in

_CLAUSE_SPLIT = re.compile(r"(?<=[，,、：:])")
_WORD_CHAR = re.compile(r"[0-9A-Za-z.．%％]")


@dataclass
class _Piece:
    text: str
    heading: str
    starts_paragraph: bool


def _heading_runs(paragraphs: list[str]) -> dict[int, tuple[int, str]]:
    """{first paragraph of a section heading: (paragraph after it, heading text)}."""
    kinds = [paragraph_kind(p) for p in paragraphs]
    runs: dict[int, tuple[int, str]] = {}
    i = 0
    while i < len(paragraphs):
        j = i
        while j < len(paragraphs) and kinds[j] == "cand":
            j += 1
        if i < j <= i + MAX_HEADING_RUN and j < len(paragraphs) and kinds[j] in ("body", "lead"):
            runs[i] = (j, " ".join(paragraphs[i:j]))
        i = max(j, i + 1)
    return runs


def _lead_in(paragraph: str) -> str:
    """The paragraph's opening sentence when it reads as a lead-in heading, else "".

    A short sentence ("驰而不息转作风。"), or two balanced phrases around one comma
    ("培育新质生产力,绿色低碳高质量发展动力不断增强。"); never one with digits, a colon,
    or the particle 的 that marks running prose.
    """
    first = split_sentences(paragraph[: 2 * LEAD_IN_CHARS], strip=False)[0]
    if not 4 <= len(first) <= LEAD_IN_CHARS or first[-1] not in "。！？!?":
        return ""
    first = first.rstrip("。！？!?")
    if re.search(r"[\d：:]", first):
        return ""
    if len(first) <= SHORT_LEAD_IN:
        return first
    parts = re.split(r"[，,]", first)
    if len(parts) != 2 or "的" in first or "、" in first or max(len(p) for p in parts) > SHORT_LEAD_IN - 2:
        return ""
    return first


def headings(paragraphs: list[str]) -> list[str]:
    """The heading each paragraph sits under: section heading and lead-in, space-joined.

    A lead-in that is a paragraph of its own ("拓展领域，利用外资提质增效。") holds for
    the paragraphs after it, until the next lead-in or section heading; one that opens a
    longer paragraph holds for that paragraph only.
    """
    runs = _heading_runs(paragraphs)
    section, carried, out = "", "", []
    in_heading_until = 0
    for i, paragraph in enumerate(paragraphs):
        lead = carried
        if i in runs:
            in_heading_until, section = runs[i]
            lead = carried = ""
        elif i >= in_heading_until and paragraph_kind(paragraph) == "body":
            opening = _lead_in(paragraph)
            if opening:
                lead = opening
                standalone = len(paragraph) <= len(opening) + 1
                carried = opening if standalone else ""
        out.append(" ".join(h for h in (section, lead) if h))
    return out


def _cut_point(text: str, limit: int) -> int:
    """Where to cut `text` at most `limit` characters in, not inside a number or word."""
    cut = limit
    while cut > 1 and _WORD_CHAR.match(text[cut - 1]) and _WORD_CHAR.match(text[cut]):
        cut -= 1
    return cut if cut > 1 else limit


def _hard_split(text: str, limit: int) -> list[str]:
    parts = []
    while len(text) > limit:
        cut = _cut_point(text, limit)
        parts.append(text[:cut])
        text = text[cut:]
    return parts + ([text] if text else [])


def _pack(units: Iterable[str], limit: int) -> list[str]:
    packed: list[str] = []
    for unit in units:
        if packed and len(packed[-1]) + len(unit) <= limit:
            packed[-1] += unit
        else:
            packed.append(unit)
    return packed


def _split_paragraph(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` characters, at the largest boundary that fits."""
    if len(text) <= limit:
        return [text]
    units: list[str] = []
    for sentence in split_sentences(text, strip=False):
        if len(sentence) <= limit:
            units.append(sentence)
            continue
        for clause in _CLAUSE_SPLIT.split(sentence):
            units.extend(_hard_split(clause, limit) if len(clause) > limit else [clause] if clause else [])
    return _pack(units, limit)


def _main_heading(pieces: list[_Piece]) -> str:
    weight: dict[str, int] = {}
    for piece in pieces:
        weight[piece.heading] = weight.get(piece.heading, 0) + len(piece.text)
    return max(weight, key=lambda h: (weight[h], h != ""))


def _join(pieces: list[_Piece]) -> str:
    return "".join(("\n" if p.starts_paragraph and i else "") + p.text for i, p in enumerate(pieces))


def _group(pieces: list[_Piece], max_chars: int, min_chars: int) -> list[list[_Piece]]:
    groups: list[list[_Piece]] = []
    for piece in pieces:
        if groups:
            current = groups[-1]
            size = len(_join(current + [piece]))
            same = current[-1].heading == piece.heading
            if size <= max_chars and (same or len(_join(current)) < min_chars):
                current.append(piece)
                continue
        groups.append([piece])
    if len(groups) > 1 and len(_join(groups[-1])) < min_chars:
        if len(_join(groups[-2] + groups[-1])) <= max_chars:
            groups[-2].extend(groups.pop())
    return groups


def _check(max_chars: int, min_chars: int) -> None:
    if max_chars < MIN_MAX_CHARS:
        raise InputError(f"max_chars must be >= {MIN_MAX_CHARS}, got {max_chars}")
    if not 0 <= min_chars <= max_chars:
        raise InputError(f"min_chars must be between 0 and max_chars ({max_chars}), got {min_chars}")


def chunk_article(article: Article, max_chars: int = MAX_CHARS, min_chars: int = MIN_CHARS) -> list[Chunk]:
    """Paragraph chunks of one article, in order (see the module docstring)."""
    _check(max_chars, min_chars)
    pieces = [
        _Piece(text, heading, starts_paragraph=(j == 0))
        for paragraph, heading in zip(article.paragraphs, headings(article.paragraphs))
        for j, text in enumerate(_split_paragraph(paragraph, max_chars))
    ]
    chunks = []
    for position, group in enumerate(_group(pieces, max_chars, min_chars)):
        text = _join(group)
        chunks.append(
            Chunk(
                id=content_id(article.id, text),
                article_id=article.id,
                position=position,
                text=text,
                title=article.title,
                date=article.date,
                source=article.source,
                heading=_main_heading(group),
            )
        )
    return chunks


def chunk_articles(
    articles: Iterable[Article], max_chars: int = MAX_CHARS, min_chars: int = MIN_CHARS
) -> list[Chunk]:
    """Chunks of every article, article by article."""
    _check(max_chars, min_chars)
    return [chunk for article in articles for chunk in chunk_article(article, max_chars, min_chars)]
