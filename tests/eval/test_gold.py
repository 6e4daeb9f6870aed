"""Tests for rag.eval.gold: normalisation, the loader's validation, the checker, the CLI and the real set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from rag.errors import InputError
from rag.eval.gold import (
    ANSWERABLE_TYPES,
    DEFAULT_CORPUS,
    DEFAULT_GOLD,
    DEV_SETS,
    EVAL_SETS,
    Evidence,
    GoldItem,
    check_gold,
    load_gold,
    main,
    normalize,
)

HEADLINE = "招远黄金产业迈上新台阶"
RAW = (
    f"{HEADLINE}\n\n"
    "2023年，招远市黄金产业总产值达到\n\n900亿元，进出口增长 16.1％。\n\n"
    "环翠区高新技术企业达到1238家，总投资754 . 85 亿元。\n\n"
    + "推进项目建设，" * 20
    + "\n"
)


def _item(**overrides: Any) -> dict[str, Any]:
    """A valid answerable line against the tiny corpus; overrides change single fields."""
    line: dict[str, Any] = {
        "id": "t1",
        "type": "fact",
        "question": "招远2023年黄金产业总产值是多少？",
        "answers": ["900亿元"],
        "evidence": [{"file": "a.txt", "quote": "黄金产业总产值达到\n\n900亿元"}],
        "article": HEADLINE,
    }
    line.update(overrides)
    return line


def _unanswerable(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": "u1", "type": "unanswerable", "question": "招远2022年黄金产业总产值是多少？",
                              "answers": [], "evidence": []}
    return _item(**{**fields, **overrides})


def _to_items(*lines: dict[str, Any]) -> list[GoldItem]:
    return [
        GoldItem(**{**line, "evidence": [Evidence(**e) for e in line["evidence"]]}) for line in lines
    ]


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.txt").write_text(RAW, encoding="utf-8")
    return folder


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


# ----------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("   \n\t\u3000", ""),
        ("754 . 85 亿元", "754.85亿元"),
        ("2 月21 日", "2月21日"),
        ("91.65％，增长", "91.65%,增长"),
        ("１３０８万元", "1308万元"),
        ("发放劳务报酬\n\n1308万元", "发放劳务报酬1308万元"),
        ("LNG 接收站 🚢", "LNG接收站🚢"),
        ("“1+12 ”", "“1+12”"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_is_idempotent() -> None:
    once = normalize(RAW)
    assert normalize(once) == once


# ----------------------------------------------------------------------------- load_gold


def test_load_round_trip(tmp_path: Path) -> None:
    history = [{"role": "user", "content": "环翠区有多少家高新技术企业？"},
               {"role": "assistant", "content": "1238家。"}]
    lines = [_item(), _unanswerable(), _item(id="t2", type="followup", question="招远呢？", history=history),
             _item(id="t3", type="list", answers=["900亿元", "16.1%"], match="all")]
    items = load_gold(_write(tmp_path / "g.jsonl", lines))
    assert [i.to_dict() for i in items] == lines
    assert items[0].match == "any" and items[0].history == []
    assert items[2].history == history
    assert [i.answerable for i in items] == [True, False, True, True]


def test_load_skips_blank_lines(tmp_path: Path) -> None:
    items = load_gold(_write(tmp_path / "g.jsonl", [_item(), "", "   ", _unanswerable()]))
    assert [i.id for i in items] == ["t1", "u1"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({k: v for k, v in _item().items() if k != "answers"}, "missing field(s) answers"),
        (_item(extra=1), "unknown field(s) extra"),
        (_item(answers="900亿元"), "'answers' must be a list of strings"),
        (_item(answers=[900]), "'answers' must be a list of strings"),
        (_item(id=7), "'id' must be a string"),
        (_item(question="  "), "must not be empty"),
        (_item(evidence=[{"file": "a.txt"}]), "each evidence must be"),
        (_item(evidence=[{"file": "a.txt", "quote": ""}]), "each evidence must be"),
        (_item(evidence={"file": "a.txt", "quote": "x"}), "'evidence' must be a list"),
        (_item(match="some"), "'match' must be 'any' or 'all'"),
        (_item(history=[{"role": "system", "content": "x"}]), "each history turn must be"),
        (_item(history="招远呢"), "'history' must be a list"),
    ],
)
def test_load_rejects_malformed_line_with_its_number(tmp_path: Path, bad: Any, message: str) -> None:
    path = _write(tmp_path / "g.jsonl", [_item(), bad])
    with pytest.raises(InputError) as err:
        load_gold(path)
    assert "g.jsonl line 2:" in str(err.value)
    assert message in str(err.value)
    assert "fix that line" in str(err.value)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="gold file not found"):
        load_gold(tmp_path / "nope.jsonl")


# ----------------------------------------------------------------------------- check_gold


def test_clean_items_have_no_problems(corpus: Path) -> None:
    history = [{"role": "user", "content": "环翠区有多少家高新技术企业？"}]
    items = _to_items(
        _item(),
        _unanswerable(),
        _unanswerable(id="u2", question="莱州市有多少家高新技术企业？", article=""),
        _item(id="t2", type="multi", question="招远黄金产值和环翠高企数量各是多少？",
              answers=["900亿元", "1238家"], match="all",
              evidence=[{"file": "a.txt", "quote": "黄金产业总产值达到\n\n900亿元"},
                        {"file": "a.txt", "quote": "环翠区高新技术企业达到1238家"}]),
        _item(id="t3", type="list", question="两个数字是什么？", answers=["900亿元", "16.1%"], match="all",
              evidence=[{"file": "a.txt", "quote": "900亿元，进出口增长 16.1％"}]),
        _item(id="t4", type="paraphrase", question="那个总投资是多少钱？", answers=["754.85亿元"],
              evidence=[{"file": "a.txt", "quote": "总投资754 . 85 亿元"}]),
        _item(id="t5", type="followup", question="招远呢？", history=history),
    )
    assert check_gold(items, corpus) == []


def test_followups_differ_by_history(corpus: Path) -> None:
    first = [{"role": "user", "content": "环翠区有多少家高新技术企业？"}]
    second = [{"role": "user", "content": "环翠区的产值是多少？"}]
    items = _to_items(_item(id="f1", type="followup", question="招远呢？", history=first),
                      _item(id="f2", type="followup", question="招远呢？", history=second))
    assert check_gold(items, corpus) == []
    items[1].history = first
    assert check_gold(items, corpus) == ["duplicate question '环翠区有多少家高新技术企业? / 招远呢?'"]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        # the quote must be raw text: the normalised form lacks the file's line break
        ([_item(evidence=[{"file": "a.txt", "quote": "黄金产业总产值达到900亿元"}])],
         "t1: quote is not a verbatim substring of a.txt"),
        ([_item(evidence=[{"file": "b.txt", "quote": "黄金产业总产值达到\n\n900亿元"}])],
         "t1: unknown corpus file 'b.txt'"),
        ([_item(answers=["900亿元", "1000亿元"])], "t1: answer '1000亿元' is in none of its quotes"),
        ([_item(answers=[" "])], "t1: empty answer"),
        ([_item(), _item(question="另一个问题？")], "duplicate id 't1'"),
        ([_item(), _item(id="t2", question="招远2023年黄金产业总产值是多少? ")],
         "duplicate question '招远2023年黄金产业总产值是多少?'"),
        ([_item(type="trivia")], "t1: unknown type 'trivia'"),
        ([_item(evidence=[])], "t1: answerable item has no evidence"),
        ([_item(answers=[])], "t1: answerable item has no answers"),
        ([_unanswerable(answers=["900亿元"])], "u1: unanswerable item must have empty answers and evidence"),
        ([_item(type="list", answers=["900亿元", "900亿"])], "t1: a list item needs at least 2 answers"),
        ([_item(type="list", answers=["900亿元"], match="all")], "t1: a list item needs at least 2 answers"),
        ([_item(type="multi")], "t1: a multi item needs one evidence per passage"),
        ([_item(type="followup")], "t1: history belongs on followup items"),
        ([_item(history=[{"role": "user", "content": "问"}])], "t1: history belongs on followup items"),
        ([_item(evidence=[{"file": "a.txt", "quote": "900亿元"}])], "t1: quote has 5 characters"),
        ([_item(answers=["推进项目建设"], evidence=[{"file": "a.txt", "quote": "推进项目建设，" * 20}])],
         "t1: quote has 140 characters"),
        ([_item(article="烟台新闻")], "t1: article headline not found in the corpus: '烟台新闻'"),
        ([_item(article="")], "t1: article headline not found"),
    ],
)
def test_each_problem_is_caught(corpus: Path, lines: list[dict[str, Any]], expected: str) -> None:
    problems = check_gold(_to_items(*lines), corpus)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected)


def test_missing_corpus_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="corpus folder not found"):
        check_gold(_to_items(_item()), tmp_path / "nope")


# ----------------------------------------------------------------------------- CLI


def test_cli_clean_exits_0(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "g.jsonl", [_item(), _unanswerable()])
    assert main([str(path), "--corpus", str(corpus), "--by-article"]) == 0
    out = capsys.readouterr().out
    assert "2 items, 1 unanswerable (50.0%)" in out
    assert "0 problem(s)" in out
    assert f"1  {HEADLINE}" in out


def test_cli_problems_exit_1(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "g.jsonl", [_item(answers=["1000亿元"])])
    assert main([str(path), "--corpus", str(corpus), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["by_type"] == {"fact": 1}
    assert report["problems"] == ["t1: answer '1000亿元' is in none of its quotes"]


def test_cli_bad_file_exits_2(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path / "g.jsonl", ["{oops"])
    assert main([str(path), "--corpus", str(corpus)]) == 2
    assert "g.jsonl line 1: not valid JSON" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the real set


@pytest.fixture(scope="module")
def gold() -> list[GoldItem]:
    return load_gold(DEFAULT_GOLD)


def test_real_gold_has_no_problems(gold: list[GoldItem]) -> None:
    assert check_gold(gold, DEFAULT_CORPUS) == []


def test_real_gold_size_and_mix(gold: list[GoldItem]) -> None:
    types = Counter(i.type for i in gold)
    assert len(gold) >= 150
    assert types["unanswerable"] / len(gold) >= 0.15
    assert {"fact", "paraphrase", "list", "multi", "unanswerable"} <= set(types)
    assert types["followup"] >= 8
    assert set(types) <= {*ANSWERABLE_TYPES, "unanswerable"}


def test_real_gold_covers_all_29_articles(gold: list[GoldItem]) -> None:
    per_article = Counter(i.article for i in gold if i.answerable)
    assert len(per_article) == 29
    assert min(per_article.values()) >= 3
    assert {e.file for i in gold for e in i.evidence} == {p.name for p in DEFAULT_CORPUS.glob("*.txt")}


def test_real_gold_list_and_multi_need_every_answer(gold: list[GoldItem]) -> None:
    assert all(i.match == "all" for i in gold if i.type == "list")
    multi = [i for i in gold if i.type == "multi"]
    assert all(len(i.evidence) >= 2 and i.match == "all" for i in multi)


@pytest.mark.parametrize("path", EVAL_SETS, ids=lambda p: p.name)
def test_every_eval_set_is_clean_and_split_within_each_type(path: Path) -> None:
    items = load_gold(path)
    assert check_gold(items, DEFAULT_CORPUS) == []
    assert len({i.id for i in items}) == len(items)
    for kind in {i.type for i in items}:
        splits = Counter(i.split for i in items if i.type == kind)
        assert set(splits) == {"dev", "test"} or sum(splits.values()) == 1, (kind, splits)


@pytest.mark.parametrize("path", DEV_SETS, ids=lambda p: p.name)
def test_a_dev_only_set_is_clean_and_has_no_test_half(path: Path) -> None:
    items = load_gold(path)
    assert check_gold(items, DEFAULT_CORPUS) == []
    assert {i.split for i in items} == {"dev"}


def test_eval_set_ids_are_unique_across_files() -> None:
    ids = [i.id for path in EVAL_SETS + DEV_SETS for i in load_gold(path)]
    assert len(ids) == len(set(ids))
