"""The written questions shipped as training data (rag/training/data/): each line is usable as its
README says, and every answer is verbatim in the sentence it names."""

import gzip
import json
from collections import Counter
from pathlib import Path

import pytest

from rag.training.reader_data import article_sentences

DATA = Path(__file__).resolve().parents[2] / "rag" / "training" / "data"
FILES = ("written_questions.jsonl", "written_near_misses.jsonl")
STYLES = {"paraphrase", "keyword", "who", "when", "what", "list", "why", "two-part", "unanswerable"}
MISSES = {"metric", "part", "place", "target", "vague", "time", "change", "detail"}
CRUD = Path(__file__).resolve().parents[3] / "shared" / "data" / "crud_news.jsonl.gz"


def _rows(name):
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", FILES)
def test_each_line_is_a_question_with_its_sentence_and_answer_or_none(name):
    rows = _rows(name)
    assert len({r["question"] for r in rows}) > 0.99 * len(rows)
    for r in rows:
        assert r["style"] in STYLES and isinstance(r["sentence"], int) and r["sentence"] >= 1 and r["question"]
        assert bool(r["answer"]) == (r["style"] != "unanswerable")


def test_the_near_misses_name_their_kind_four_different_ones_per_article():
    rows = _rows("written_near_misses.jsonl")
    per_article = Counter(r["article"] for r in rows)
    assert set(per_article.values()) == {8} and len(per_article) == 576
    misses = [r for r in rows if r["style"] == "unanswerable"]
    assert {r["miss"] for r in misses} == MISSES and len(misses) == len(rows) // 2
    kinds: dict[str, set] = {}
    for r in misses:
        kinds.setdefault(r["article"], set()).add(r["miss"])
    assert all(len(k) == 4 for k in kinds.values())
    assert not per_article.keys() & {r["article"] for r in _rows("written_questions.jsonl")}


@pytest.mark.skipif(not CRUD.exists(), reason="the shared 68k-article crud_news.jsonl.gz is not here")
def test_every_answer_is_verbatim_in_the_sentence_it_names():
    rows = [r for name in FILES for r in _rows(name)]
    wanted = {r["article"] for r in rows}
    texts = {}
    with gzip.open(CRUD, "rt", encoding="utf-8") as handle:
        for line in handle:
            article = json.loads(line)
            if article["id"] in wanted:
                texts[article["id"]] = article_sentences(article.get("text", ""))
    assert wanted == texts.keys()
    wrong = [r["question"] for r in rows if r["answer"] and not all(
        r["sentence"] <= len(texts[r["article"]]) and part in texts[r["article"]][r["sentence"] - 1]
        for part in r["answer"].split("|"))]
    assert wrong == []
