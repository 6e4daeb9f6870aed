"""Character-level cleaning of newspaper text: spaces, hard wraps and markup.

PDF extraction leaves three kinds of damage that this module repairs without ever
dropping a CJK character or a digit (a property the tests check with hypothesis):

- spaces inside numbers and dates: "754 . 85 亿元" -> "754.85亿元", "2 月21 日" -> "2月21日";
- justified lines spread out one character at a time: "全 面 掀 起" -> "全面掀起";
- hard line breaks inside sentences: lines are rejoined with no space between CJK
  characters (a space is put back only between two Latin letters).

Spaces that separate words on purpose are kept: "培强产业集群 壮大工业规模" (a headline in
two parts), "本报讯 庄蕾 记者尹明波报道" (names in a byline).

Simplified on purpose: no Unicode normalisation (NFKC would turn "，" into ","), and no
traditional/simplified conversion; the text keeps the characters it was printed with.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from html.parser import HTMLParser

__all__ = [
    "CJK",
    "content_signature",
    "display_width",
    "fix_spaces",
    "html_to_paragraphs",
    "is_sentence_end",
    "join_lines",
]

# CJK Unified Ideographs, Extension A and the compatibility block.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Full-width punctuation: CJK symbols (、。《》「」【】), general punctuation used in
# Chinese text (— ‘ ’ “ ” …), the middle dot, and the full-width forms (，！？：；（）％).
_CJK_PUNCT = "\u3000-\u303f\u2014-\u2026\u00b7\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_SPACE = " \t\u3000\u00a0"

_WS_RUN = re.compile(rf"[{_SPACE}]+")
_CJK_CHAR = re.compile(rf"[{CJK}]")
_CJK_OR_PUNCT = re.compile(rf"[{CJK}{_CJK_PUNCT}]")
# A space before closing and after opening punctuation goes; a space after a closing
# quote stays ("招远“以工代赈” 创新推出" is a headline in two parts).
_CLOSING_PUNCT = frozenset("，。、；：！？）」』》〉】”’—…")
_OPENING_PUNCT = frozenset("，。、；：！？（「『《〈【“‘—…")
_DOTS = frozenset(".．")

_SENTENCE_END = re.compile(r"[。！？!?…]+[”’」』）)\]]*$")


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9" or "０" <= ch <= "９"


def _space_repl(match: re.Match[str]) -> str:
    """Keep one space, or none where PDF extraction put it (see `fix_spaces`)."""
    text, start, end = match.string, match.start(), match.end()
    prev = text[start - 1] if start else ""
    nxt = text[end] if end < len(text) else ""
    if not prev or not nxt:
        return ""
    if (_is_digit(prev) and nxt in _DOTS) or (prev in _DOTS and _is_digit(nxt)):
        return ""  # "754 . 85"
    if (_is_digit(prev) or prev in "%％") and _CJK_OR_PUNCT.match(nxt):
        return ""  # "2 月", "10 家", "50 ”"
    if _CJK_OR_PUNCT.match(prev) and _is_digit(nxt):
        return ""  # "项目 14", "， 2023"
    if nxt in _CLOSING_PUNCT or prev in _OPENING_PUNCT:
        return ""
    return " "


def _isolated_cjk(token: str, at: int) -> bool:
    """Is token[at] a CJK character with no CJK character beside it inside the token?"""
    if not token or not _CJK_CHAR.match(token[at]):
        return False
    neighbour = token[1:2] if at == 0 else token[-2:-1]
    return not (neighbour and _CJK_CHAR.match(neighbour))


def _squeeze_spaced_runs(text: str) -> str:
    """Join three or more single CJK characters spread one space apart: "全 面 掀 起".

    A run may end (or start) against the rest of the next (or previous) printed line:
    "拼 经 济 的 新热潮" -> "拼经济的新热潮".
    """
    tokens = text.split(" ")
    pairs = list(zip(tokens, tokens[1:]))
    strict = [_isolated_cjk(a, -1) and _isolated_cjk(b, 0) for a, b in pairs]
    in_run = [s and ((i > 0 and strict[i - 1]) or (i + 1 < len(strict) and strict[i + 1])) for i, s in enumerate(strict)]
    joined = list(in_run)
    for i, (a, b) in enumerate(pairs):
        if in_run[i]:
            continue
        after_run = i > 0 and in_run[i - 1] and len(a) == 1 and bool(_CJK_CHAR.match(b[:1]))
        before_run = i + 1 < len(pairs) and in_run[i + 1] and len(b) == 1 and bool(_CJK_CHAR.match(a[-1:]))
        joined[i] = after_run or before_run
    return tokens[0] + "".join(("" if j else " ") + t for j, t in zip(joined, tokens[1:]))


def fix_spaces(text: str) -> str:
    """Remove spaces that PDF extraction put inside numbers, dates and CJK runs.

    >>> fix_spaces("总投资754 . 85 亿元，2 月21 日讯")
    '总投资754.85亿元，2月21日讯'
    >>> fix_spaces("进 ， 全 面 掀 起 抓 项 目")
    '进，全面掀起抓项目'
    >>> fix_spaces("培强产业集群 壮大工业规模")
    '培强产业集群 壮大工业规模'
    """
    if not any(space in text for space in _SPACE):  # the common case, in C
        return text
    text = _WS_RUN.sub(_space_repl, text.strip(_SPACE))
    return _squeeze_spaced_runs(text) if " " in text else text


def join_lines(lines: Iterable[str]) -> str:
    """Rejoin hard-wrapped lines: no space between CJK characters or digits, one
    space between two Latin letters ("Shandong" / "Port" -> "Shandong Port")."""
    out = ""
    for line in lines:
        line = line.strip(_SPACE)
        if not line:
            continue
        if out and out[-1].isascii() and out[-1].isalpha() and line[0].isascii() and line[0].isalpha():
            out += " "
        out += line
    return out


def is_sentence_end(text: str) -> bool:
    """True when `text` ends a sentence: 。！？… possibly followed by a closing quote."""
    return bool(_SENTENCE_END.search(text.rstrip(_SPACE)))


def display_width(text: str) -> float:
    """Printed width in CJK cells: wide characters count 1, narrow ones (ASCII) 0.5.
    Ambiguous ones (“ ” … — □) are set full-width in Chinese type, so they count 1."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WFA" else 0.5 for ch in text)


def content_signature(text: str) -> Counter[str]:
    """The multiset of CJK characters and digits in `text`: what cleaning must preserve."""
    return Counter(ch for ch in text if ch.isdecimal() or _CJK_CHAR.match(ch))


_BLOCK_TAGS = frozenset(
    "p div br h1 h2 h3 h4 h5 h6 li tr td th blockquote section article header footer pre dt dd figcaption".split()
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head"})


class _ParagraphParser(HTMLParser):
    """Collects the text of block elements as paragraphs, and the <title>/<h1>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.title = ""
        self.h1 = ""
        self._buf: list[str] = []
        self._skip = 0
        self._in_title = False

    def _flush(self) -> None:
        text = "".join(self._buf).strip()
        self._buf = []
        if text:
            self.paragraphs.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            if tag == "h1" and not self.h1:
                self.h1 = "".join(self._buf).strip()
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip:
            self._buf.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def html_to_paragraphs(markup: str) -> tuple[str, list[str]]:
    """(title, paragraphs) of an HTML fragment or page; tags dropped, entities decoded.

    The title is the page's <title>, else its first <h1>, else "". Text outside block
    elements still counts as a paragraph, so no visible text is dropped.
    """
    parser = _ParagraphParser()
    parser.feed(markup)
    parser.close()
    title = html.unescape(parser.title).strip() or parser.h1
    return title, [p for p in (_WS_RUN.sub(" ", q).strip() for q in parser.paragraphs) if p]
