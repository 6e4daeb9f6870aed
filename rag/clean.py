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
    "split_sentences",
]

# CJK Unified Ideographs, Extension A and the compatibility block.
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# Full-width punctuation: CJK symbols (、。《》「」【】), general punctuation used in
# Chinese text (— ‘ ’ “ ” …), the middle dot, and the full-width forms (，！？：；（）％).
_CJK_PUNCT = "\u3000-\u303f\u2014-\u2026\u00b7\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
_SPACE = " \t\u3000\u00a0"

_NUMBER_GAP = re.compile(r"(?<=\d)[ \t\u3000]*([.．])[ \t\u3000]*(?=\d)")
_DIGIT_CJK_GAP = re.compile(rf"(?<=[\d%％])[{_SPACE}]+(?=[{CJK}{_CJK_PUNCT}])")
_CJK_DIGIT_GAP = re.compile(rf"(?<=[{CJK}{_CJK_PUNCT}])[{_SPACE}]+(?=\d)")
# Spaces before closing and after opening punctuation go; a space after a closing
# quote stays ("招远“以工代赈” 创新推出" is a headline in two parts).
_PUNCT_GAP_BEFORE = re.compile(rf"[{_SPACE}]+(?=[，。、；：！？）」』》〉】”’—…])")
_PUNCT_GAP_AFTER = re.compile(rf"(?<=[，。、；：！？（「『《〈【“‘—…])[{_SPACE}]+")
# Three or more single CJK characters each followed by one space: a justified line.
_SPACED_RUN = re.compile(rf"(?<![{CJK}])(?:[{CJK}] ){{2,}}[{CJK}](?![{CJK}])")
_MULTI_SPACE = re.compile(rf"[{_SPACE}]+")

_SENTENCE_END = re.compile(r"[。！？!?…]+[”’」』）)\]]*$")
_SENTENCE_SPLIT = re.compile(r"(?<=[。！？!?；;…])(?![。！？!?；;…”’」』）)])|(?<=[。！？!?；;…][”’」』）)])")


def _squeeze(match: re.Match[str]) -> str:
    return match.group(0).replace(" ", "")


def fix_spaces(text: str) -> str:
    """Remove spaces that PDF extraction put inside numbers, dates and CJK runs.

    >>> fix_spaces("总投资754 . 85 亿元，2 月21 日讯")
    '总投资754.85亿元，2月21日讯'
    >>> fix_spaces("进 ， 全 面 掀 起 抓 项 目")
    '进，全面掀起抓项目'
    >>> fix_spaces("培强产业集群 壮大工业规模")
    '培强产业集群 壮大工业规模'
    """
    if not text:
        return text
    text = _MULTI_SPACE.sub(" ", text).strip()
    text = _NUMBER_GAP.sub(r"\1", text)
    text = _DIGIT_CJK_GAP.sub("", text)
    text = _CJK_DIGIT_GAP.sub("", text)
    text = _PUNCT_GAP_BEFORE.sub("", text)
    text = _PUNCT_GAP_AFTER.sub("", text)
    return _SPACED_RUN.sub(_squeeze, text)


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


def split_sentences(text: str) -> list[str]:
    """Split after 。！？；… (keeping a closing quote with its sentence); no character is lost.

    >>> split_sentences("他说：“好。”然后走了；再见！")
    ['他说：“好。”', '然后走了；', '再见！']
    """
    parts = [p for p in _SENTENCE_SPLIT.split(text) if p]
    return parts or [text]


def display_width(text: str) -> float:
    """Printed width in CJK cells: wide characters count 1, narrow ones (ASCII) 0.5.
    Ambiguous ones (“ ” … — □) are set full-width in Chinese type, so they count 1."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WFA" else 0.5 for ch in text)


def content_signature(text: str) -> Counter[str]:
    """The multiset of CJK characters and digits in `text`: what cleaning must preserve."""
    cjk = re.compile(rf"[{CJK}]")
    return Counter(ch for ch in text if ch.isdecimal() or cjk.match(ch))


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
    return title, [p for p in (_MULTI_SPACE.sub(" ", q).strip() for q in parser.paragraphs) if p]
