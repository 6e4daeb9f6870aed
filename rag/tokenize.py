"""The lexical tokenizer shared by chunks and queries: jieba words plus number rules.

`tokenize(text)` turns Chinese (or mixed) text into the tokens BM25 indexes:

1. NFKC (full-width digits, letters, ``％`` and spaces become ASCII) and lower case;
   spaces that PDF extraction left inside numbers are closed up
   (``"754 . 85 亿元"`` -> ``"754.85亿元"``, ``"2 月21 日"`` -> ``"2月21日"``).
2. A number with its unit stays one token, next to the bare number and, where the unit
   starts with 万/亿/..., the number with that magnitude, so that ``"1308万"`` in a question
   meets ``"1308万元"`` in a passage: ``"1308万元"`` -> ``["1308万元", "1308", "1308万"]``.
3. The text between numbers is cut by jieba (accurate mode, with a user dictionary of the
   corpus's place, company and programme names); an administrative name becomes its stem
   (``"招远市"`` and ``"招远"`` -> ``"招远"``). jieba's search mode (``cut_for_search``, which
   adds the dictionary sub-words of each word) measured worse and is off; see below.
4. Tokens without a letter or digit (punctuation, whitespace, emoji) and a compact list of
   stopwords (function words and question words such as 多少, 什么, 哪些) are dropped.

Simplified on purpose: no traditional/simplified conversion, no synonyms, no Chinese
numerals ("三个" stays as jieba cuts it).

Example:

>>> tokenize("招远市2023年黄金产业总产值900亿元")
['招远', '2023年', '2023', '黄金', '产业', '总产值', '900亿元', '900', '900亿']

jieba's dictionary takes about a second to load, so a private `jieba.Tokenizer` (not the
global one) is built on first use, under a lock, with jieba's logging silenced; after that
cutting only reads the dictionary and is safe from several threads.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import threading
import unicodedata
from pathlib import Path

import jieba

from rag.profile import active as active_profile
from rag.text import TOKEN_MAGNITUDES, TOKEN_UNITS

__all__ = ["tokenize", "tokenizer_id", "STOPWORDS"]

# The options below were chosen on 73 questions written over the corpus, against 161 corpus
# passages and again with 20,000 news passages added (`python -m rag.bench.scale eval`):
# hit@1 0.918 / 0.863 as set here, 0.836 / 0.808 for plain `jieba.lcut_for_search`.
USE_USERDICT = True  # the profile's place, company and programme names (rag/profiles/<name>/userdict.txt)
ADMIN_STEMS = True  # "环翠区" -> "环翠", "招远市" -> "招远": the name, whichever form is used
_SEARCH_MODE = False  # jieba's search-mode sub-words; measured worse (noise: "山区" in "福山区")
_HMM = True  # jieba's HMM for words not in its dictionary; off measured no better

STOPWORDS: frozenset[str] = frozenset(
    """
    的 地 得 之 了 着 过 和 与 及 以及 或 或者 跟 同 是 为 为了 在 于 对 对于 以 将 把 被 让
    也 都 就 而 并 并且 其 其中 从 向 由 这 那 这个 那个 这些 那些 该 此 有 个 等 等等 啊 吧 呀
    吗 呢 嘛 么 我 你 他 她 它 我们 你们 他们 请 请问 多少 什么 什么样 哪 哪些 哪个 哪里 哪儿
    哪家 哪一年 几 几个 多 如何 怎样 怎么 怎么样 为什么 是否 谁 时候 一下
    """.split()
)

# Units that stay glued to a number (rag.text). Magnitudes may stand alone ("1308万") or
# precede a base unit ("1308万元"); 余/多 ("200余人", "70多项") are kept inside the token.
_MAGNITUDES = TOKEN_MAGNITUDES
_BASE_UNITS = TOKEN_UNITS


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_NUMBER_RE = re.compile(
    r"(?<![a-z0-9.])"  # not inside an identifier such as "h5n1" or a version "3.0.2"
    r"(?P<num>\d+(?:\.\d+)?)"
    r"(?P<unit>[a-z]+\d*"  # "110kv", "5g", "2000mwh"
    r"|%|‰"
    rf"|[余多]?(?P<mag>{_alternation(_MAGNITUDES)})?[余多]?(?:{_alternation(_BASE_UNITS)})?)"
)
# Spaces that PDF text leaves inside numbers: "754 . 85", "2 月", "10 家", "1,308".
_SPACED_DECIMAL_RE = re.compile(r"(?<=\d)\s*\.\s*(?=\d)")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SPACE_BEFORE_UNIT_RE = re.compile(
    rf"(?<=\d)\s+(?=%|‰|[余多]|{_alternation(_MAGNITUDES + _BASE_UNITS)})"
)
_NOT_PLACES = frozenset(
    """
    开发区 示范区 试验区 集聚区 先行区 保税区 功能区 起步区 自贸区 核心区 中心区 自治区
    行政区 风景区 工业区 产业区 商务区 生活区 居住区 服务区 管理区 旅游区 实验区 综试区
    县级市 地级市 直辖市 中心城区 主城区 老城区 新城区 大城市 城中村 示范村 示范县 示范镇
    强县 百强县 先进县 示范市 强市 工业强县 工业强市
    """.split()
)

_QUESTION_PREFIXES = ("哪些", "什么", "多少", "怎么", "如何", "是否")

_lock = threading.Lock()
_jieba: jieba.Tokenizer | None = None
_jieba_dict: Path | None = None  # the user dictionary _jieba was built with


def _userdict() -> Path | None:
    return active_profile().userdict if USE_USERDICT else None


def _get_jieba() -> jieba.Tokenizer:
    """The jieba tokenizer for the active profile's dictionary, initialised once per dictionary
    (thread-safe, double-checked)."""
    global _jieba, _jieba_dict
    userdict = _userdict()
    if _jieba is None or _jieba_dict != userdict:
        with _lock:
            if _jieba is None or _jieba_dict != userdict:
                jieba.setLogLevel(logging.WARNING)  # "Building prefix dict..." at DEBUG
                tk = jieba.Tokenizer()
                tk.initialize()
                if userdict is not None:
                    tk.load_userdict(str(userdict))
                _split_question_words(tk)
                _jieba, _jieba_dict = tk, userdict
    return _jieba


def _split_question_words(tk: jieba.Tokenizer) -> None:
    """Drop dictionary entries such as "哪些项目" and "多少钱", so that the question word is
    cut off (and dropped as a stopword) and "项目" meets "项目" in passages."""
    entries = [w for w, f in tk.FREQ.items() if f and w.startswith(_QUESTION_PREFIXES)]
    for word in entries:
        if word not in STOPWORDS and word not in _QUESTION_PREFIXES:
            tk.del_word(word)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = _THOUSANDS_RE.sub("", text)
    text = _SPACED_DECIMAL_RE.sub(".", text)
    return _SPACE_BEFORE_UNIT_RE.sub("", text)


def _number_tokens(match: re.Match[str]) -> list[str]:
    """"900亿元" -> ["900亿元", "900", "900亿"]; "16.1%" -> ["16.1%", "16.1"]."""
    num, unit, mag = match.group("num"), match.group("unit"), match.group("mag")
    if not unit:
        return [num]
    tokens = [num + unit, num]
    if mag and unit != mag and not unit.startswith(("余", "多")):
        tokens.append(num + mag)
    return tokens


def _keep(token: str) -> bool:
    return token not in STOPWORDS and any(ch.isalnum() for ch in token)


def _expand(word: str, freq: dict[str, int]) -> list[str]:
    """One jieba word as tokens: the word (an administrative name as its stem), preceded in
    search mode by the dictionary 2- and 3-grams inside it, as `jieba.cut_for_search` does."""
    if ADMIN_STEMS:
        word = _admin_stem(word) or word
    subwords: list[str] = []
    for n in (2, 3) if _SEARCH_MODE else ():
        if len(word) > n:
            subwords += [word[i : i + n] for i in range(len(word) - n + 1) if freq.get(word[i : i + n])]
    return subwords + [word]


def _word_tokens(segment: str, tk: jieba.Tokenizer) -> list[str]:
    tokens = []
    for word in tk.cut(segment, HMM=_HMM):
        word = word.strip()
        if _keep(word):
            tokens += [t for t in _expand(word, tk.FREQ) if t not in STOPWORDS]
    return tokens


def _admin_stem(word: str) -> str | None:
    """"环翠区" -> "环翠": a place name without its administrative suffix, or None.

    At least two characters must remain ("全市", "山区" stay), and common nouns that end
    like a place ("开发区", "示范区") are left alone.
    """
    if word in _NOT_PLACES:
        return None
    for suffix in active_profile().admin_suffixes:
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    return None


def tokenize(text: str) -> list[str]:
    """Tokens of `text` for BM25, the same for passages and questions.

    Returns an empty list for empty or punctuation-only text. Tokens are interned, so
    a large tokenised corpus holds each distinct token once.
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize() takes a str, got {type(text).__name__}")
    text = _normalise(text)
    if not text.strip():
        return []
    tk = _get_jieba()
    tokens: list[str] = []
    start = 0
    for match in _NUMBER_RE.finditer(text):
        if match.start() > start:
            tokens.extend(_word_tokens(text[start : match.start()], tk))
        tokens.extend(t for t in _number_tokens(match) if t not in STOPWORDS)
        start = match.end()
    if start < len(text):
        tokens.extend(_word_tokens(text[start:], tk))
    return [sys.intern(t) for t in tokens]


def _rules_fingerprint() -> str:
    parts = [
        _NUMBER_RE.pattern,
        _SPACE_BEFORE_UNIT_RE.pattern,
        " ".join(sorted(STOPWORDS)),
        f"search={_SEARCH_MODE} hmm={_HMM} stems={ADMIN_STEMS}:{','.join(active_profile().admin_suffixes)}",
        " ".join(sorted(_NOT_PLACES)) + " ".join(_QUESTION_PREFIXES),
    ]
    userdict = _userdict()
    if userdict is not None:
        parts.append(userdict.read_text(encoding="utf-8"))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]


def tokenizer_id() -> str:
    """Names the tokenizer for the index manifest; changes whenever the tokens would.

    For example ``"jieba-0.42.1:accurate:userdict:3f2a9c0d1e4b"``: the jieba version, the
    cut mode, whether the user dictionary is on, and a hash over the number rules, the
    stopwords, the place-name rules and the dictionary file.
    """
    mode = "search" if _SEARCH_MODE else "accurate"
    dict_flag = "userdict" if _userdict() is not None else "nodict"
    return f"jieba-{jieba.__version__}:{mode}:{dict_flag}:{_rules_fingerprint()}"
