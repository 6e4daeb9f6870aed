"""Training pairs for the sentence reader: (question, sentence in context) -> answers or not.

Two sources, both offline:

- Reading comprehension (`../shared/data/mrc/`: DRCD in simplified characters, CMRC 2018 trial).
  The sentence holding the answer span is the positive; other sentences of the same passage and
  a sentence of another passage with the same title are negatives. One passage in ten (chosen by
  a hash of its id) is held out of training for `rag eval --dataset`.
- Cloze questions generated from real news (`crud_news.jsonl.gz`), the classic unsupervised-QA
  recipe: a sentence that states a figure or a year becomes a question with the fact replaced by
  多少 / 哪一年, a word sometimes dropped so that it is not the sentence verbatim. Negatives are the
  article's other sentences with figures (a distractor of the right kind), and near misses that the
  first experiment showed refusal needs: the same sentence against the question with its year,
  place or metric changed.

- Written questions (`rag/training/data/written_questions.jsonl`): questions about news articles
  written in users' words by people who saw only the numbered sentences of those articles (see
  `rag/training/data/README.md`), each naming the sentence that answers it, or, for a near miss
  that the article does not answer, the sentence a careless reader would quote. They teach what
  cloze questions cannot: a question that does not repeat the sentence.

Optionally (`hard`), each answerable question also gets hard negatives from its own passage: the
sentence after the answer (which holds the answer only in its context) and the sentences that echo
the question's wording without the answer.

No question of the project's own eval sets is used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections.abc import Collection, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from rag.clean import fix_spaces
from rag.text import NUMBER_WITH_UNIT, YEAR, split_sentences

__all__ = ["Example", "article_sentences", "articles_to_write_about", "is_held_out", "mrc_examples", "news_examples",
           "read_examples", "write_examples", "written_examples"]

HELD_OUT_EVERY = 10  # one passage in ten stays out of training (by sha256 of its id)
MIN_SENTENCE, MAX_SENTENCE = 8, 160


@dataclass
class Example:
    question: str
    title: str
    previous: str
    sentence: str
    label: int  # 1: the sentence answers the question
    source: str  # drcd | cmrc_trial | news | news-nearmiss ...


def is_held_out(passage_id: str) -> bool:
    return int(hashlib.sha256(passage_id.encode()).hexdigest()[:8], 16) % HELD_OUT_EVERY == 0


def _read_jsonl(path: Path) -> Iterator[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def _sentences(text: str) -> list[str]:
    return [s for s in split_sentences(text) if MIN_SENTENCE <= len(s) <= 400]


# --------------------------------------------------------------------------- reading comprehension

def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)}


def hard_negatives(question: str, sentences: list[str], pos: int, answers: list[str], count: int,
                   taken: Collection[int] = ()) -> list[int]:
    """Up to `count` sentences that look like answers and are not: first the one after the answer
    sentence (the reader sees the answer there as its context), then those sharing the most
    character pairs with the question (a sentence that echoes the question and lacks the answer).
    Chosen without random draws, so a recipe without them keeps its pairs."""
    if count <= 0:
        return []
    usable = [i for i in range(len(sentences))
              if i != pos and i not in taken and not any(a in sentences[i] for a in answers)]
    words = _bigrams(question)
    order = sorted(usable, key=lambda i: (i != pos + 1, -len(words & _bigrams(sentences[i])), i))
    return order[:count]


def mrc_examples(corpus: Path, qa: Path, rng: random.Random, name: str, negatives: int = 3,
                 held_out: bool = False, hard: int = 0) -> list[Example]:
    """Pairs from the training passages, or (held_out=True) from the held-out ones; `hard` more
    negatives per question from `hard_negatives`."""
    passages = {p["id"]: p for p in _read_jsonl(corpus)}
    by_title: dict[str, list[str]] = {}
    for pid, p in passages.items():
        by_title.setdefault(p.get("title", ""), []).append(pid)
    out: list[Example] = []
    for item in _read_jsonl(qa):
        pid = item["passage_id"]
        passage = passages.get(pid)
        if passage is None or is_held_out(pid) != held_out:
            continue
        sentences = _sentences(passage["text"])
        answer = item["answers"][0]
        start = passage["text"].find(answer)
        if start < 0 or not sentences:
            continue
        # the sentence where the answer starts
        pos, offset = None, 0
        for i, s in enumerate(sentences):
            at = passage["text"].find(s, offset)
            if at <= start < at + len(s) + 1:
                pos = i
                break
            offset = max(offset, at)
        if pos is None:
            continue
        title = passage.get("title", "")
        prev = lambda i: sentences[i - 1] if i > 0 else ""  # noqa: E731
        out.append(Example(item["question"], title, prev(pos), sentences[pos], 1, name))
        others = [i for i in range(len(sentences)) if i != pos and answer not in sentences[i]]
        drawn = rng.sample(others, min(negatives - 1, len(others)))
        for i in drawn:
            out.append(Example(item["question"], title, prev(i), sentences[i], 0, name))
        for i in hard_negatives(item["question"], sentences, pos, [answer], hard, set(drawn)):
            out.append(Example(item["question"], title, prev(i), sentences[i], 0, f"{name}-hard"))
        siblings = [p for p in by_title.get(title, []) if p != pid and is_held_out(p) == held_out]
        if siblings:
            other = passages[rng.choice(siblings)]
            sents = [s for s in _sentences(other["text"]) if answer not in s]
            if sents:
                i = rng.randrange(len(sents))
                out.append(Example(item["question"], title, sents[i - 1] if i else "", sents[i], 0, name))
    return out


# --------------------------------------------------------------------------- news cloze

_FIGURE = re.compile(NUMBER_WITH_UNIT.pattern)
_LEAD = re.compile(r"^(?:其中|同时|此外|另外|据悉|据了解|目前|截至目前|记者了解到|数据显示)[，,]?")
_METRICS = ("产值", "收入", "投资", "营收", "利润", "销售额", "出口额", "进口额", "税收", "增加值", "产量",
            "销量", "人数", "面积", "规模", "总额", "用户", "订单", "融资", "市值")
_ASIDE = re.compile(r"[（(][^（）()]*[）)]")  # an aside in brackets says nothing a question needs
_PERIODS = ("第一季度", "第二季度", "第三季度", "第四季度", "上半年", "下半年", "前三季度", "全年")
_PLACE = re.compile(r"([\u4e00-\u9fa5]{2,3}(?:省|市|县|区))")
_DROPPABLE = re.compile(r"(?:同比|全年|累计|共计|总共|已经|今年以来|目前|实现|完成)")


def _clause_with(sentence: str, start: int, end: int) -> str:
    """The first clause (the subject, usually) plus the clause holding the span."""
    clauses = [m for m in re.finditer(r"[^，,；;：:]+[，,；;：:]?", sentence)]
    keep = []
    for m in clauses:
        if m.start() <= start < m.end() or m is clauses[0]:
            keep.append(m.group(0).rstrip("，,；;：:"))
    return "，".join(dict.fromkeys(keep))


def _cloze(sentence: str, rng: random.Random) -> tuple[str, str] | None:
    """(question, kind) from a sentence stating a figure or a year; None when it has neither."""
    text = sentence.rstrip("。！？!?；;")
    figures = [m for m in _FIGURE.finditer(text) if not m.group(0).endswith(("年", "月", "日", "天"))]
    years = list(YEAR.finditer(text))
    if figures and (not years or rng.random() < 0.8):
        m = rng.choice(figures)
        part = _clause_with(text, m.start(), m.end())
        figure = m.group(0)
        if figure not in part:
            return None
        question, kind = part.replace(figure, "多少", 1), "figure"
    elif years:
        m = rng.choice(years)
        part = _clause_with(text, m.start(), m.end())
        if m.group(0) not in part:
            return None
        question, kind = part.replace(m.group(0), rng.choice(("哪一年", "哪年")), 1), "year"
    else:
        return None
    question = _LEAD.sub("", _ASIDE.sub("", question))
    question = re.sub(r"^[^，,]*(?:消息|获悉|报道|了解到|表示)[，,]", "", question)
    if rng.random() < 0.4:  # not the sentence verbatim: drop a filler word
        question = _DROPPABLE.sub("", question, count=1)
    if len(question) < 8 or len(question) > 80:
        return None
    return question + "？", kind


def _near_miss(question: str, article: str, rng: random.Random) -> tuple[str, str] | None:
    """The question with its year, place or metric changed: the sentence no longer answers it."""
    changes = []
    years = YEAR.findall(question)
    if years:
        y = int(years[0])
        other = y + rng.choice((-2, -1, 1))
        if f"{other}年" not in article:
            changes.append((question.replace(f"{y}年", f"{other}年", 1), "year"))
    places = [p for p in _PLACE.findall(question) if p in article]
    if places:
        pool = [p for p in set(_PLACE.findall(article)) if p not in question and p[:2] not in question]
        if pool:
            changes.append((question.replace(places[0], rng.choice(pool), 1), "place"))
    metrics = [w for w in _METRICS if w in question]
    if metrics:
        other = rng.choice([w for w in _METRICS if w not in article] or ["x"])
        if other != "x":
            changes.append((question.replace(metrics[0], other, 1), "metric"))
    periods = [p for p in _PERIODS if p in question]
    if periods:
        other = rng.choice([p for p in _PERIODS if p not in article] or ["x"])
        if other != "x":
            changes.append((question.replace(periods[0], other, 1), "period"))
    return rng.choice(changes) if changes else None


def news_examples(path: Path, rng: random.Random, articles: int, distractors: int = 2, per_article: int = 1,
                  sample: float = 0.25) -> list[Example]:
    """Cloze examples from the first `articles` usable articles of a stream sampled at `sample`,
    up to `per_article` questions (on different sentences) from each."""
    out: list[Example] = []
    used = 0
    for article in _read_jsonl(path):
        if used >= articles:
            break
        if rng.random() > sample:  # spread over the file rather than its first part
            continue
        text = fix_spaces(article.get("text", ""))
        sentences = [s for s in _sentences(text) if len(s) <= MAX_SENTENCE]
        if len(sentences) < 4:
            continue
        title = fix_spaces(article.get("title", "")) or sentences[0][:20]
        with_figures = [i for i, s in enumerate(sentences) if _FIGURE.search(s) or YEAR.search(s)]
        if len(with_figures) < 2:
            continue
        prev = lambda i: sentences[i - 1] if i > 0 else ""  # noqa: E731
        made_here = 0
        picks = ([rng.choice(with_figures)] if per_article == 1  # (the first recipe's draws, kept)
                 else rng.sample(with_figures, min(per_article, len(with_figures))))
        for pos in picks:
            made = _cloze(sentences[pos], rng)
            if made is None:
                continue
            question, _kind = made
            made_here += 1
            out.append(Example(question, title, prev(pos), sentences[pos], 1, "news"))
            others = [i for i in with_figures if i != pos and sentences[i] != sentences[pos]]
            for i in rng.sample(others, min(distractors, len(others))):
                out.append(Example(question, title, prev(i), sentences[i], 0, "news-distractor"))
            miss = _near_miss(question, text, rng)
            if miss:
                out.append(Example(miss[0], title, prev(pos), sentences[pos], 0, f"news-nearmiss-{miss[1]}"))
        used += bool(made_here)
    return out


# --------------------------------------------------------------------------- written questions

# The filter the articles for the written questions were chosen with (kept as it was, so that
# `articles_to_write_about` gives the same articles again).
_WRITE_FIGURE = re.compile(r"\d[\d.,]*\s*(?:亿元|万元|亿|万|%|％|个|家|人|项|吨|公顷|亩)")
_WRITE_TOPIC = re.compile(r"县|市|区|镇|项目|产业|投资|经济|企业|园区|农业|就业|增长")


def article_sentences(text: str) -> list[str]:
    """An article's sentences as the writers saw them numbered ([S1] is index 0)."""
    return [s for s in split_sentences(fix_spaces(text)) if s.strip()]


def articles_to_write_about(path: Path, count: int, seed: int = 2026) -> list[dict]:
    """News articles of the kind users ask about (500-2200 characters, at least six figures, words
    of local economy), deduplicated, in a seeded random order: the articles given to the writers."""
    rng = random.Random(seed)
    pool = []
    for article in _read_jsonl(path):
        text = fix_spaces(article.get("text", ""))
        if not 500 <= len(text) <= 2200 or text.startswith("IT之家"):
            continue
        if len(_WRITE_FIGURE.findall(text)) >= 6 and len(_WRITE_TOPIC.findall(text)) >= 8:
            pool.append(article)
    rng.shuffle(pool)
    seen: set[str] = set()
    out = []
    for article in pool:
        key = fix_spaces(article["text"])[:60]
        if key not in seen:
            seen.add(key)
            out.append(article)
        if len(out) >= count:
            break
    return out


def written_examples(paths: list[Path], news: Path, rng: random.Random,
                     distractors: int = 2, hard: int = 0) -> tuple[list[Example], list[Example]]:
    """(training, held-out) pairs from files of written questions, from one pass over the news file: the
    named sentence is the positive (or, for a near miss, a negative), two other sentences of the
    article with figures are distractors. Questions on one article in ten (`is_held_out` of its id)
    are held out for the checkpoints."""
    rows = [row for path in paths for row in _read_jsonl(path)]
    wanted = {r["article"] for r in rows}
    articles = {a["id"]: a for a in _read_jsonl(news) if a["id"] in wanted}

    def pairs(row: dict) -> list[Example]:
        article = articles.get(row["article"])
        if article is None:
            return []
        sentences = article_sentences(article.get("text", ""))
        title = fix_spaces(article.get("title", "")) or sentences[0][:20]
        prev = lambda i: sentences[i - 1] if i > 0 else ""  # noqa: E731
        pos = int(row["sentence"]) - 1
        answers = [a for a in row.get("answer", "").split("|") if a]
        if answers and not (0 <= pos < len(sentences) and all(a in sentences[pos] for a in answers)):
            pos = next((i for i, s in enumerate(sentences) if all(a in s for a in answers)), -1)
        if not 0 <= pos < len(sentences):
            return []
        question = row["question"]
        out = [Example(question, title, prev(pos), sentences[pos], int(bool(answers)),
                       "written" if answers else "written-nearmiss")]
        if answers:
            others = [i for i, s in enumerate(sentences)
                      if i != pos and not any(a in s for a in answers) and (_FIGURE.search(s) or YEAR.search(s))]
            drawn = rng.sample(others, min(distractors, len(others)))
            out += [Example(question, title, prev(i), sentences[i], 0, "written-distractor") for i in drawn]
            out += [Example(question, title, prev(i), sentences[i], 0, "written-hard")
                    for i in hard_negatives(question, sentences, pos, answers, hard, set(drawn))]
        return out

    # training first, then held out: the order the random draws were made in for the shipped reader
    train = [e for r in rows if not is_held_out(r["article"]) for e in pairs(r)]
    held = [e for r in rows if is_held_out(r["article"]) for e in pairs(r)]
    return train, held


# --------------------------------------------------------------------------- files

def write_examples(examples: list[Example], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for e in examples:
            handle.write(json.dumps(asdict(e), ensure_ascii=False) + "\n")


def read_examples(path: Path) -> list[Example]:
    return [Example(**row) for row in _read_jsonl(path)]
