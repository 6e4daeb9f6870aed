"""Turn the text of one newspaper page into articles: paragraphs, headlines, datelines.

A page holds several articles. Three line layouts are recognised from the text itself:

- "double":     PDF text with a blank line after every printed line; a headline is a
                group of lines with no blank line between them, or a short line.
- "wrapped":    PDF text hard-wrapped inside sentences; a paragraph starts on an indented
                line, and blank lines are column breaks (they may fall mid-sentence).
- "paragraphs": one paragraph a line; a few paragraphs are broken mid-word.

Lines become units (a paragraph, byline, headline candidate, caption, note...). Articles
start at bylines ("本报讯", "□记者 … 报道", a "title-holder" line "市委常委、… 某某") and at
datelines or "（上接第一版）". A run of headline candidates just before such an anchor (or
at the end of the page) is headline material. In PDF layouts a headline may follow the
body it belongs to, so each headline goes to the article nearest in content among the
article after it and the untitled articles just before it: the one sharing the most
distinctive character bigrams with it. Nothing is dropped: every unit ends up in exactly
one article, as its title or as a paragraph.

Simplified on purpose: the cues are those of Chinese newspaper pages (bylines, datelines,
full-width indents); a page without them is read as one article.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag.clean import CJK, display_width, fix_spaces, is_sentence_end, join_lines
from rag.text import split_sentences

__all__ = ["Piece", "derive_title", "detect_layout", "find_date", "find_month_day", "paragraph_kind", "split_page"]


@dataclass
class Piece:
    """An article as found on a page, before it gets an id."""

    title: str
    paragraphs: list[str]
    date: str | None = None
    title_from_text: bool = False  # no headline was found: the title quotes the text
    date_source: str | None = None  # "dateline" or "front_matter" when `date` is set
    month_day: str | None = None  # "MM-DD" from a dateline without a year ("本报烟台2月21日讯")
    publication: str | None = None


@dataclass
class _Line:
    text: str  # stripped
    indent: int  # leading whitespace characters
    blank_before: bool
    width: float  # display width, indent included


@dataclass
class _Unit:
    kind: str  # body, lead, byline, closing, note, caption, cand
    text: str


@dataclass
class _Body:
    units: list[_Unit] = field(default_factory=list)
    title_units: list[tuple[int, str]] = field(default_factory=list)  # (order, text)

    @property
    def has_text(self) -> bool:
        return any(u.kind not in ("byline", "caption", "note") for u in self.units)

    def text(self) -> str:
        return "".join(u.text for u in self.units)


_WS = " \t\u3000\u00a0"
_BYLINE = re.compile(r"^(?:□|■|本报讯[\s\u3000]|本报[\s\u3000]|本报记者[\s\u3000]|记者[\s\u3000]|通讯员[\s\u3000])")
_NEW_BYLINE = re.compile(r"^(?:□|■|本报讯)")  # other byline lines go on the one before
_TITLE_HOLDER = re.compile(
    rf"^[{CJK}、，,]{{0,40}}(?:书记|主任|市长|区长|县长|镇长|局长|常委|秘书长|主席|部长|董事长|总经理|院长|校长)"
    rf"[ \u3000]+[{CJK}·]{{2,5}}$"
)
_CLOSING = re.compile(rf"^(?:YMG全媒体记者|本报记者|记者|通讯员)[ \u3000]*[{CJK}· ]{{2,24}}?[ \u3000]*(?:整理|采写)$")
_INLINE_CLOSING = re.compile(rf"(?<=[。！？”])[ \u3000]*((?:YMG全媒体记者|本报记者|记者)[ \u3000]*[{CJK}· ]{{2,16}}?[ \u3000]*整理)$")
_INLINE_BYLINE = re.compile(rf"^(本报讯?[ \u3000][{CJK}· \u3000]{{2,40}}?报道)[ \u3000]+(?=\S)")
_LEAD = re.compile(
    rf"^(?:[（(]上接第.{{1,3}}版[）)]|本报[{CJK}]{{0,8}}?(?:\d{{4}}\s*年\s*)?(?:\d{{1,2}}\s*月\s*\d{{1,2}}\s*日\s*)?[讯电]"
    rf"|新华社[{CJK}]{{0,8}}?(?:\d{{4}}年)?\d{{1,2}}月\d{{1,2}}日电)"
)
_DATELINE_YEAR = re.compile(rf"(?:本报|新华社)[{CJK}]{{0,8}}?(\d{{4}})年(\d{{1,2}})月(\d{{1,2}})日[讯电]")
_DATELINE_NO_YEAR = re.compile(rf"^(?:本报|新华社)[{CJK}]{{0,8}}?(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*日\s*[讯电]")
_CAPTION = re.compile(r"^[①-⑳]|[ \u3000]摄$|供图[)）]?$|^图为")
_NOTE = re.compile(r"^[（(].*[）)]$")
_SENTENCE_MARK = re.compile(r"[。！？!?；;]")
_OPEN_END = "，,、：:；;（(“《‘"
_CONTINUED = re.compile(r"[，,、；;]")

MAX_HEADLINE_WIDTH = 40  # a printed headline line is at most about two column widths
SHORT_LINE = 0.75  # a line under 3/4 of the local column width cannot be a wrapped line
PARAGRAPH_LINE_WIDTH = 45  # lines longer than this are whole paragraphs, not column lines


def _fits_headline(text: str) -> bool:
    return len(text) <= 2 * MAX_HEADLINE_WIDTH and display_width(text) <= MAX_HEADLINE_WIDTH


def _classify(text: str) -> str:
    if not text:
        return "body"
    if len(text) > 2 * MAX_HEADLINE_WIDTH:  # too long for a headline, byline or caption
        return "note" if _NOTE.match(text) else "lead" if _LEAD.match(text) else "body"
    if _CLOSING.match(text):
        return "closing"
    if _BYLINE.match(text) and not _SENTENCE_MARK.search(text) and _fits_headline(text):
        return "byline"
    if _TITLE_HOLDER.match(text):
        return "byline"
    if _CAPTION.search(text) and not _SENTENCE_MARK.search(text):
        return "caption"
    if _NOTE.match(text):
        return "note"
    if _LEAD.match(text):
        return "lead"
    if _fits_headline(text) and not _SENTENCE_MARK.search(text) and text[-1] not in _OPEN_END:
        return "cand"
    return "body"


def paragraph_kind(text: str) -> str:
    """What a cleaned paragraph looks like: "byline", "closing" ("… 整理"), "caption",
    "note" (in brackets), "lead" (opens with a dateline), "cand" (short, no sentence
    punctuation: a headline or section heading) or "body"."""
    return _classify(text)


def _read_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    blank = False
    for raw in text.splitlines():
        stripped = raw.strip(_WS)
        if not stripped:
            blank = True
            continue
        indent = len(raw) - len(raw.lstrip(_WS))
        lines.append(_Line(stripped, indent, blank, indent + display_width(stripped)))
        blank = False
    return lines


def detect_layout(text: str) -> str:
    """"double", "wrapped" or "paragraphs" (see the module docstring)."""
    lines = _read_lines(text)
    if len(lines) < MIN_PAGE_LINES:
        return "paragraphs"  # too few lines to tell columns from paragraphs: one a line
    if _upper_quartile([line.width for line in lines]) > PARAGRAPH_LINE_WIDTH:
        return "paragraphs"  # a quarter of the lines are wider than any printed column
    followed_by_blank = sum(1 for a in lines[1:] if a.blank_before)
    if len(lines) >= 10 and followed_by_blank >= 0.7 * (len(lines) - 1):
        return "double"
    return "wrapped"


def _upper_quartile(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[(3 * (len(ordered) - 1)) // 4]


MIN_PAGE_LINES = 10
MIN_BLOCK = 4  # lines a block needs before its own width is trusted


def _column_widths(lines: list[_Line], layout: str) -> list[float]:
    """The column width at each line. Double-spaced pages have one column width; on
    wrapped pages it is the upper quartile of the line widths in the line's block (lines
    between blank lines), or of the last block long enough to say, for headline blocks."""
    if layout == "double":
        return [_upper_quartile([line.width for line in lines])] * len(lines)
    blocks: list[list[int]] = []
    for i, line in enumerate(lines):
        if line.blank_before or not blocks:
            blocks.append([])
        blocks[-1].append(i)
    widths = [0.0] * len(lines)
    last = _upper_quartile([line.width for line in lines])
    for block in blocks:
        if len(block) >= MIN_BLOCK:
            last = _upper_quartile([lines[i].width for i in block])
        for i in block:
            widths[i] = last
    return widths


def _is_byline_continuation(line: _Line) -> bool:
    text = line.text
    if _SENTENCE_MARK.search(text) or "，" in text:
        return False
    return display_width(text) <= 12 or text.endswith("报道")


def _tight_groups(lines: list[_Line]) -> list[list[_Line]]:
    groups: list[list[_Line]] = []
    for line in lines:
        if groups and not line.blank_before:
            groups[-1].append(line)
        else:
            groups.append([line])
    return groups


def _is_heading_group(group: list[_Line]) -> bool:
    return len(group) >= 2 and all(
        line.width <= MAX_HEADLINE_WIDTH and not _SENTENCE_MARK.search(line.text) for line in group
    )


def _breaks(a: _Line, b: _Line, width: float, layout: str) -> bool:
    """Does a paragraph end between line `a` and the next line `b`?"""
    short = a.width < SHORT_LINE * width
    if is_sentence_end(a.text) or a.text[-1] in "）)":
        return layout == "double" or b.indent > 0 or b.blank_before or short
    return short and a.text[-1] not in _OPEN_END


def _wrapped_units(lines: list[_Line], layout: str) -> list[_Unit]:
    widths = _column_widths(lines, layout)
    units: list[_Unit] = []
    para: list[_Line] = []

    def flush(before_anchor: bool = False) -> None:
        """End the paragraph. Lines that never reach a sentence end before a byline or
        the end of the page are headline lines, printed one per line: keep them apart."""
        if not para:
            return
        open_end = not is_sentence_end(para[-1].text) and para[-1].text[-1] not in "）)"
        if before_anchor and open_end and not any(_SENTENCE_MARK.search(line.text) for line in para):
            units.extend(_Unit("body", line.text) for line in para)
        else:
            units.append(_Unit("body", join_lines(line.text for line in para)))
        para.clear()

    index = {id(line): i for i, line in enumerate(lines)}
    groups = _tight_groups(lines) if layout == "double" else [[line] for line in lines]
    for group in groups:
        if _is_heading_group(group):
            flush()
            units.append(_Unit("body", " ".join(line.text for line in group)))
            continue
        for line in group:
            kind = _classify(line.text)
            if kind in ("byline", "caption", "closing"):
                flush(before_anchor=True)
                if kind == "byline" and units and units[-1].kind == "byline" and not _NEW_BYLINE.match(line.text):
                    units[-1].text += " " + line.text
                else:
                    units.append(_Unit(kind, line.text))
                continue
            if units and units[-1].kind == "byline" and not para and _is_byline_continuation(line):
                units[-1].text += " " + line.text
                continue
            if para and _breaks(para[-1], line, widths[index[id(para[-1])]], layout):
                flush()
            para.append(line)
    flush(before_anchor=True)
    return units


def _split_inline(text: str) -> list[str]:
    """Split an inline opening byline off the front and a closing one off the end."""
    parts = [text]
    head = _INLINE_BYLINE.match(text)
    if head:
        parts = [head.group(1), text[head.end() :]]
    tail = _INLINE_CLOSING.search(parts[-1])
    if tail and tail.start() > 0:
        last = parts.pop()
        parts += [last[: tail.start()].rstrip(_WS), tail.group(1)]
    return parts


def _is_fragment(text: str) -> bool:
    """A paragraph line that stops mid-sentence: no sentence end, and either long or
    with a comma in it (a headline of the paragraph layout has neither)."""
    if is_sentence_end(text) or _classify(text) in ("byline", "closing", "note", "caption"):
        return False
    return display_width(text) > PARAGRAPH_LINE_WIDTH or text[-1] in _OPEN_END or bool(_CONTINUED.search(text))


def _paragraph_units(lines: list[_Line]) -> list[_Unit]:
    texts: list[str] = []
    for line in lines:
        for part in _split_inline(line.text):
            if texts and _classify(part) == "body" and _is_fragment(texts[-1]):
                texts[-1] = join_lines([texts[-1], part])
            else:
                texts.append(part)
    return [_Unit("body", text) for text in texts]


def _units(text: str) -> list[_Unit]:
    layout = detect_layout(text)
    lines = _read_lines(text)
    units = _paragraph_units(lines) if layout == "paragraphs" else _wrapped_units(lines, layout)
    out: list[_Unit] = []
    for unit in units:
        cleaned = fix_spaces(unit.text)
        if cleaned:
            kind = unit.kind if unit.kind != "body" else _classify(cleaned)
            out.append(_Unit(kind, cleaned))
    return out


def _segment(units: list[_Unit]) -> tuple[list[_Body], list[list[tuple[int, _Unit]]]]:
    """Bodies, and the headline run before each body (runs[k] precedes bodies[k];
    runs[len(bodies)] is the run at the end of the page)."""
    bodies: list[_Body] = []
    runs: list[list[tuple[int, _Unit]]] = []
    pending: list[tuple[int, _Unit]] = []
    for order, unit in enumerate(units):
        if unit.kind == "cand":
            pending.append((order, unit))
            continue
        anchor = unit.kind in ("byline", "lead")
        if not bodies or (anchor and bodies[-1].has_text):
            runs.append(pending)
            bodies.append(_Body())
            pending = []
        elif pending and unit.kind not in ("caption", "note"):
            bodies[-1].units.extend(u for _, u in pending)  # section headings inside a body
            pending = []
        bodies[-1].units.append(unit)
    if not bodies and pending:  # nothing but headline-like lines: they are the text
        return [_Body(units=[u for _, u in pending])], [[], []]
    runs.append(pending)
    return bodies, runs


def _bigrams(text: str) -> set[str]:
    chars = re.sub(rf"[^{CJK}0-9A-Za-z]", "", text)
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def _best_body(headline: str, candidates: list[int], texts: dict[int, str]) -> tuple[int | None, float]:
    """The candidate sharing the most distinctive bigrams with `headline`, None on a tie."""
    grams = _bigrams(headline)
    holders = {g: [k for k in candidates if g in texts[k]] for g in grams}
    scores = {k: sum(1.0 / len(holders[g]) for g in grams if k in holders[g]) for k in candidates}
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if len(ranked) == 1:
        return ranked[0][0], ranked[0][1]
    if ranked[0][1] > ranked[1][1]:
        return ranked[0][0], ranked[0][1]
    return None, 0.0


def _assign_run(run: list[tuple[int, _Unit]], k: int, bodies: list[_Body]) -> None:
    """Give each headline of the run before bodies[k] to bodies[k] or an untitled body before it."""
    candidates = [k] if k < len(bodies) else []
    j = k - 1
    while j >= 0 and not bodies[j].title_units:
        candidates.insert(0, j)
        j -= 1
    if not candidates:  # the page ends with headline-like lines after a titled article
        bodies[-1].units.extend(u for _, u in run)
        return
    texts = {c: bodies[c].text() for c in candidates}
    chosen = [_best_body(unit.text, candidates, texts)[0] for _, unit in run]
    default = k - 1 if k - 1 in candidates else candidates[-1]
    for i, choice in enumerate(chosen):
        if choice is None:  # a tie: follow the nearest decided neighbour in the run
            near = [c for c in chosen[i + 1 :] + chosen[:i][::-1] if c is not None]
            chosen[i] = near[0] if near else default
    for (order, unit), choice in zip(run, chosen):
        bodies[choice].title_units.append((order, unit.text))


def find_date(paragraphs: list[str]) -> str | None:
    """ISO date from a dateline that states the year ("本报济南2024年2月21日讯"), else None."""
    for text in paragraphs[:4]:
        match = _DATELINE_YEAR.search(text)
        if match:
            year, month, day = (int(g) for g in match.groups())
            if 1 <= month <= 12 and 1 <= day <= 31:
                return f"{year:04d}-{month:02d}-{day:02d}"
    return None


def find_month_day(paragraphs: list[str]) -> str | None:
    """"MM-DD" from a dateline without a year ("本报烟台2 月21 日讯"), else None.

    Only the opening of one of the first paragraphs counts: a date later in a sentence is
    the date of an event, not of the report.
    """
    for text in paragraphs[:4]:
        match = _DATELINE_NO_YEAR.match(text.strip(" \u3000"))
        if match:
            month, day = (int(g) for g in match.groups())
            if 1 <= month <= 12 and 1 <= day <= 31:
                return f"{month:02d}-{day:02d}"
    return None


_LEAD_PREFIX = re.compile(rf"^(?:[（(]上接第.{{1,3}}版[）)]|本报[{CJK}0-9 ]{{0,14}}?[讯电][ \u3000]*)")


def derive_title(paragraphs: list[str], limit: int = 30) -> str:
    """A title for an article printed without one: its first sentence, at most `limit` characters."""
    for text in paragraphs:
        if _classify(text) in ("byline", "caption", "note", "closing"):
            continue
        sentence = split_sentences(_LEAD_PREFIX.sub("", text[: 4 * limit]).strip(), strip=False)[0]
        sentence = sentence.rstrip("。！？!?；;…”’").strip()[:limit].strip()
        if sentence:
            return sentence
    return ""


def split_page(text: str) -> list[Piece]:
    """Split the plain text of a page into articles (see the module docstring)."""
    bodies, runs = _segment(_units(text))
    for k, run in enumerate(runs):
        if run:
            _assign_run(run, k, bodies)
    pieces = []
    for body in bodies:
        paragraphs = [u.text for u in body.units]
        title = " ".join(t for _, t in sorted(body.title_units))
        derived = not title
        if derived:
            title = derive_title(paragraphs)
        if paragraphs or title:
            date = find_date(paragraphs)
            pieces.append(Piece(title, paragraphs, date, title_from_text=derived,
                                date_source="dateline" if date else None,
                                month_day=None if date else find_month_day(paragraphs)))
    return pieces
