"""The gold question set: its line format, a loader that validates it, and a checker.

`eval/gold.jsonl` holds one JSON object a line::

    {"id": "q001", "type": "fact", "question": "招远2023年黄金产业总产值是多少？",
     "answers": ["900亿元"], "evidence": [{"file": "000_cf2c951dabb43637.txt",
     "quote": "黄金产业总产值达到\\n\\n900亿元"}], "article": "山东招远：…", "match": "any"}

`quote` is a verbatim substring of the raw corpus file (line breaks and odd spaces
included); every answer must appear in one of the item's quotes once both are passed
through `normalize`. `load_gold` rejects lines that are not of this shape (with the line
number); `check_gold` reports what is wrong with well-formed items against the corpus.

Simplified: an answer is matched as a plain substring of the normalised quote, so
"9%" is "found" inside "19%"; the checker proves the answer is *there*, not that the
question is unambiguous, which is left to whoever writes the questions.

    >>> normalize("总投资754 . 85 亿元，增长９１.６５％")
    '总投资754.85亿元,增长91.65%'

Run `python -m rag.eval.gold eval/gold.jsonl --corpus corpus` to check the set.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import InputError, RagError

__all__ = [
    "ANSWERABLE_TYPES",
    "DEFAULT_CORPUS",
    "DEFAULT_GOLD",
    "DEV_SETS",
    "EVAL_SETS",
    "MATCH_MODES",
    "TYPES",
    "Evidence",
    "GoldItem",
    "check_gold",
    "count_by",
    "load_gold",
    "main",
    "normalize",
]

ANSWERABLE_TYPES = ("fact", "paraphrase", "vague", "list", "multi", "followup")
TYPES = (*ANSWERABLE_TYPES, "unanswerable")
MATCH_MODES = ("any", "all")
SPLITS = ("", "dev", "test")  # dev: tuned on; test: only measured (eval/README.md)
ROLES = ("user", "assistant")
# Quotes must fit well inside one ~300-character chunk, so that a hit can contain them, and
# be specific enough to point at one passage. Counted in normalised characters; the floor is
# 8, not 10, so that a byline paragraph such as "牟平区委书记 殷锡瑞" (9) can be quoted whole.
QUOTE_MIN_CHARS = 8
QUOTE_MAX_CHARS = 120

# Relative to the working directory (the project root), not to this file: the package may be
# installed anywhere.
DEFAULT_GOLD = Path("eval") / "gold.jsonl"
# The question sets `rag eval` and the reader's calibration read unless told otherwise: the
# gold set, and six sets of questions in users' words written by people who never saw the rules.
EVAL_SETS = (DEFAULT_GOLD, *(Path("eval") / f"{name}.jsonl" for name in (
    "news_heldout", "news_fresh", "news_fresh2", "news_fresh3", "news_fresh4", "news_fresh5")))
# Question sets with no test half, for tuning only (`rag eval eval/news_dev6.jsonl --split dev`,
# and the policy's calibration): they are not in the gate.
DEV_SETS = (Path("eval") / "news_dev6.jsonl",)
DEFAULT_CORPUS = Path("corpus")

_REQUIRED = ("id", "type", "question", "answers", "evidence", "article")
_OPTIONAL = ("match", "history", "split")


def normalize(text: str) -> str:
    """NFKC-fold `text` and drop all whitespace: the form answers and quotes are compared in.

    Full-width digits, letters and punctuation become ASCII ("％" -> "%", "，" -> ","), and
    the spaces and line breaks that PDF extraction leaves inside numbers disappear.
    """
    folded = unicodedata.normalize("NFKC", text)
    return "".join(ch for ch in folded if not ch.isspace())


@dataclass(frozen=True)
class Evidence:
    """A passage that holds the answer: a corpus file name and a verbatim quote from it."""

    file: str
    quote: str


@dataclass
class GoldItem:
    """One gold question. `evidence` and `answers` are empty for unanswerable items."""

    id: str
    type: str
    question: str
    answers: list[str]
    evidence: list[Evidence]
    article: str
    match: str = "any"  # "all": a correct answer holds every item of `answers`
    history: list[dict[str, str]] = field(default_factory=list)  # earlier turns, for followups
    split: str = ""  # "dev" (tune on it) or "test" (only measured); "" for sets without splits

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    def to_dict(self) -> dict[str, Any]:
        """The JSON line form; `match` and `history` are left out when they are the defaults."""
        data = asdict(self)
        if self.match == "any":
            del data["match"]
        if not self.history:
            del data["history"]
        if not self.split:
            del data["split"]
        return data


# ----------------------------------------------------------------------------- loading


def _fail(where: str, problem: str) -> InputError:
    return InputError(f"{where}: {problem}; fix that line of the gold file")


def _str_list(value: Any, name: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(where, f"'{name}' must be a list of strings, got {value!r}")
    return list(value)


def _evidence(value: Any, where: str) -> list[Evidence]:
    if not isinstance(value, list):
        raise _fail(where, f"'evidence' must be a list of {{\"file\", \"quote\"}} objects, got {value!r}")
    out = []
    for entry in value:
        if not (isinstance(entry, dict) and set(entry) == {"file", "quote"}
                and all(isinstance(entry[k], str) and entry[k] for k in ("file", "quote"))):
            raise _fail(where, f"each evidence must be {{\"file\": str, \"quote\": str}}, got {entry!r}")
        out.append(Evidence(entry["file"], entry["quote"]))
    return out


def _history(value: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise _fail(where, f"'history' must be a list of {{\"role\", \"content\"}} turns, got {value!r}")
    for turn in value:
        if not (isinstance(turn, dict) and set(turn) == {"role", "content"}
                and turn["role"] in ROLES and isinstance(turn["content"], str) and turn["content"]):
            raise _fail(where, f"each history turn must be {{\"role\": \"user\"|\"assistant\", "
                               f"\"content\": str}}, got {turn!r}")
    return [dict(turn) for turn in value]


def _item(data: Any, where: str) -> GoldItem:
    """Build one item from a decoded JSON line, or raise InputError saying what is wrong."""
    if not isinstance(data, dict):
        raise _fail(where, f"expected a JSON object, got {type(data).__name__}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise _fail(where, f"missing field(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise _fail(where, f"unknown field(s) {', '.join(unknown)}")
    for name in ("id", "type", "question", "article"):
        if not isinstance(data[name], str):
            raise _fail(where, f"'{name}' must be a string, got {data[name]!r}")
    if not data["id"].strip() or not data["question"].strip():
        raise _fail(where, "'id' and 'question' must not be empty")
    match = data.get("match", "any")
    if match not in MATCH_MODES:
        raise _fail(where, f"'match' must be 'any' or 'all', got {match!r}")
    split = data.get("split", "")
    if split not in SPLITS:
        raise _fail(where, f"'split' must be one of {', '.join(SPLITS)}, got {split!r}")
    return GoldItem(
        id=data["id"],
        type=data["type"],
        question=data["question"],
        answers=_str_list(data["answers"], "answers", where),
        evidence=_evidence(data["evidence"], where),
        article=data["article"],
        match=match,
        history=_history(data.get("history", []), where),
        split=split,
    )


def load_gold(path: str | Path) -> list[GoldItem]:
    """Read a gold JSONL file; blank lines are skipped, a malformed line raises InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gold file not found: {path}; pass the path of eval/gold.jsonl")
    items = []
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name} line {lineno}"
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _fail(where, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
            items.append(_item(data, where))
    return items


# ----------------------------------------------------------------------------- checking


def _read_corpus(corpus_dir: Path) -> dict[str, str]:
    if not corpus_dir.is_dir():
        raise InputError(f"corpus folder not found: {corpus_dir}; pass it with --corpus DIR")
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(corpus_dir.glob("*.txt"))}


def _question_key(item: GoldItem) -> str:
    """A followup is the same question only when its earlier turns are the same too."""
    turns = " / ".join(normalize(turn["content"]) for turn in item.history)
    question = normalize(item.question)
    return f"{turns} / {question}" if turns else question


def _duplicates(values: Sequence[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def _evidence_problems(item: GoldItem, corpus: dict[str, str]) -> list[str]:
    problems = []
    for ev in item.evidence:
        if ev.file not in corpus:
            problems.append(f"{item.id}: unknown corpus file {ev.file!r}")
        elif ev.quote not in corpus[ev.file]:
            problems.append(f"{item.id}: quote is not a verbatim substring of {ev.file}: {ev.quote!r}")
        size = len(normalize(ev.quote))
        if not QUOTE_MIN_CHARS <= size <= QUOTE_MAX_CHARS:
            problems.append(f"{item.id}: quote has {size} characters, keep it within "
                            f"{QUOTE_MIN_CHARS}-{QUOTE_MAX_CHARS}: {ev.quote!r}")
    if not (item.answerable and item.evidence):
        return problems  # the shape check reports these; every answer would be "missing" too
    quotes = [normalize(ev.quote) for ev in item.evidence]
    for answer in item.answers:
        if not normalize(answer):
            problems.append(f"{item.id}: empty answer")
        elif not any(normalize(answer) in q for q in quotes):
            problems.append(f"{item.id}: answer {answer!r} is in none of its quotes")
    return problems


def _shape_problems(item: GoldItem) -> list[str]:
    """Type-specific rules: what each kind of question must and must not carry."""
    if item.type not in TYPES:
        return [f"{item.id}: unknown type {item.type!r}, expected one of {', '.join(TYPES)}"]
    if not item.answerable:
        if item.answers or item.evidence:
            return [f"{item.id}: unanswerable item must have empty answers and evidence"]
        return []
    problems = []
    if not item.evidence:
        problems.append(f"{item.id}: answerable item has no evidence")
    if not item.answers:
        problems.append(f"{item.id}: answerable item has no answers")
    if item.type == "list" and (len(item.answers) < 2 or item.match != "all"):
        problems.append(f"{item.id}: a list item needs at least 2 answers and match 'all'")
    if item.type == "multi" and len(item.evidence) < 2:
        problems.append(f"{item.id}: a multi item needs one evidence per passage, at least 2")
    if (item.type == "followup") != bool(item.history):
        problems.append(f"{item.id}: history belongs on followup items, and every followup needs one")
    return problems


def _article_problem(item: GoldItem, corpus_norm: dict[str, str]) -> list[str]:
    if not item.article and not item.answerable:
        return []
    title = normalize(item.article)
    if title and any(title in text for text in corpus_norm.values()):
        return []
    return [f"{item.id}: article headline not found in the corpus: {item.article!r}"]


def check_gold(items: Sequence[GoldItem], corpus_dir: str | Path) -> list[str]:
    """Every problem found in `items` against the raw files in `corpus_dir`, one line each.

    An empty list means the set is consistent: quotes are verbatim, answers sit in their
    quotes, ids and questions are unique, types are known and match their content.
    """
    corpus = _read_corpus(Path(corpus_dir))
    corpus_norm = {name: normalize(text) for name, text in corpus.items()}
    problems = [f"duplicate id {v!r}" for v in _duplicates([i.id for i in items])]
    problems += [f"duplicate question {v!r}" for v in _duplicates([_question_key(i) for i in items])]
    for item in items:
        problems += _shape_problems(item)
        problems += _evidence_problems(item, corpus)
        problems += _article_problem(item, corpus_norm)
    return problems


def count_by(items: Sequence[GoldItem], key: str) -> dict[str, int]:
    """Counts of items by a field ("type" or "article"), largest first."""
    return dict(Counter(getattr(i, key) for i in items).most_common())


# ----------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rag.eval.gold",
        description="Check a gold Q&A file against the corpus; exit 1 when there are problems.",
        epilog="example: python -m rag.eval.gold eval/gold.jsonl --corpus corpus --by-article",
    )
    parser.add_argument("gold", nargs="?", default=str(DEFAULT_GOLD), help="gold JSONL file")
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="folder of raw corpus files")
    parser.add_argument("--by-article", action="store_true", help="also print counts by article")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        items = load_gold(args.gold)
        problems = check_gold(items, args.corpus)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    by_type = count_by(items, "type")
    by_article = count_by([i for i in items if i.answerable], "article")
    if args.json:
        report = {"items": len(items), "by_type": by_type, "problems": problems}
        if args.by_article:
            report["answerable_by_article"] = by_article
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 1 if problems else 0
    unanswerable = by_type.get("unanswerable", 0)
    print(f"{len(items)} items, {unanswerable} unanswerable ({unanswerable / max(len(items), 1):.1%})")
    for name in TYPES:
        print(f"  {name:<13}{by_type.get(name, 0):>4}")
    if args.by_article:
        print("answerable items by article:")
        for title, n in by_article.items():
            print(f"  {n:>3}  {title}")
    print(f"{len(problems)} problem(s)")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
