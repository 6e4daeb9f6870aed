"""Tests for rag.eval.evaluate and rag.eval.report: every metric against values worked out by hand.

A fake engine serves fixed rankings and answers over eight tiny gold items, so each
number below can be checked with pencil and paper (the ranks are listed in `RANKS`).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from rag.errors import InputError
from rag.eval.evaluate import (
    attributed_sentences,
    check_thresholds,
    figures,
    load_thresholds,
    run_eval,
    run_public_qa,
)
from rag.eval.gold import Evidence, GoldItem
from rag.eval.report import format_markdown, format_report, write_report
from rag.text import parse_marked
from rag.types import Answer, AnswerPart, Citation, Hit, Refusal

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_QA = ROOT / "tests" / "data" / "public_qa"

CHUNKS = {
    "c1": "招远市谋划以工代赈重点工程项目9个，预计吸纳务工群众440人。",
    "c2": "累计培训三级以工代赈工作人员200余人，着力提高工作能力。",
    "c3": "某县2023年粮食产量达到12.5万吨。",
    "c4": "该公司去年营收3.2亿元，同比增长15%。",
    "c6": "该县新建道路18公里。",
    "c7": "报道称该公司营收3.2亿元，利润增长15%。",
}
REWRITTEN = "该公司去年营收是多少？"

# Where the evidence chunk sits in each mode's ranking (1-based); absent means not retrieved.
# c3 at 11 in bm25 is past the search depth of 10, so it must not count.
RANKS: dict[str, dict[str, dict[int, str]]] = {
    "招远市预计吸纳多少务工群众？": {"hybrid": {2: "c1"}, "dense": {1: "c1"}, "bm25": {}},
    "三级培训覆盖了多少工作人员？": {"hybrid": {1: "c2"}, "dense": {4: "c2"}, "bm25": {1: "c2"}},
    "粮食产量和公司营收各是多少？": {"hybrid": {1: "c3", 4: "c4"}, "dense": {1: "c4", 2: "c3"}, "bm25": {11: "c3"}},
    REWRITTEN: {"hybrid": {3: "c4"}, "dense": {1: "c4"}, "bm25": {6: "c4"}},
    "该县新建道路多少公里？": {"hybrid": {1: "c6"}, "dense": {2: "c6"}, "bm25": {3: "c6"}},
    "该县新建道路和粮食产量分别是多少？": {"hybrid": {10: "c6"}, "dense": {}, "bm25": {1: "c6"}},
}


def _passage(key: str) -> dict[str, Any]:
    text = CHUNKS.get(key, f"无关的填充段落{key}。")
    return {"chunk_id": key, "article_id": f"a-{key}", "title": "标题", "date": None, "source": "t.txt", "text": text}


def _citation(n: int, key: str) -> Citation:
    return Citation(n=n, score=1.0, **_passage(key))


# question -> (answer text, refused, citations)
ANSWERS: dict[str, tuple[str, bool, list[Citation]]] = {
    "招远市预计吸纳多少务工群众？": ("招远市预计吸纳务工群众440人。[1]", False, [_citation(1, "c1")]),
    "三级培训覆盖了多少工作人员？": ("累计培训200多人。[1]", False, [_citation(1, "c2")]),
    "粮食产量和公司营收各是多少？": ("粮食产量12.5万吨[1]，营收3.2亿元[2]。", False,
                          [_citation(1, "c3"), _citation(2, "c6")]),
    "招远市2030年吸纳多少人？": ("资料中没有招远市2030年的数据。", True, []),
    "该县2022年粮食产量是多少？": ("该县2022年粮食产量为11万吨。[1]", False, [_citation(1, "c3")]),
    "那营收呢？": ("该公司营收3.2亿元，增长15%。[1]", False, [_citation(1, "c7")]),
    "该县新建道路多少公里？": ("资料中找不到答案。", True, [_citation(1, "c6")]),
    "该县新建道路和粮食产量分别是多少？": ("新建道路18公里。[1]", False, [_citation(1, "c6")]),
}


class FakeEngine:
    """Fixed rankings from RANKS and fixed answers from ANSWERS; records the calls."""

    def __init__(self, expose_rewrite: bool = True) -> None:
        self.expose_rewrite = expose_rewrite
        self.searches: list[tuple[str, int, str]] = []
        self.asks: list[tuple[str, Any]] = []

    def search(self, query: str, top_k: int = 5, mode: str = "hybrid", filters: dict | None = None) -> list[Hit]:
        self.searches.append((query, top_k, mode))
        placed = RANKS.get(query, {}).get(mode, {})
        keys = [placed.get(rank, f"f{rank}") for rank in range(1, 13)]
        return [Hit(score=1.0 / rank, **_passage(key)) for rank, key in enumerate(keys[:top_k], 1)]

    def ask(self, question: str, top_k: int = 5, history: list[dict] | None = None, mode: str = "hybrid",
            filters: dict | None = None) -> Answer:
        self.asks.append((question, history))
        if question == "太长":
            raise InputError("the question is too long: keep it under 1000 characters")
        text, refused, citations = ANSWERS[question]
        if refused:
            answer = Answer([], citations, Refusal("not_found", [], text))
        else:  # the fixed answers are written with markers; the engine hands out parts
            answer = Answer([AnswerPart(t, n) for t, n in parse_marked(text)], citations)
        if history and self.expose_rewrite:
            answer.query = REWRITTEN
        return answer

    def health(self) -> dict[str, Any]:
        return {"chunks": 12, "articles": 3, "embedder": "fake", "version": "test"}


HISTORY = [{"role": "user", "content": "该公司是做什么的？"}, {"role": "assistant", "content": "一家物流公司。[1]"}]


def _items(list_match: str = "all") -> list[GoldItem]:
    def item(id_: str, type_: str, question: str, answers: list[str], quotes: list[str],
             match: str = "any", history: list[dict] | None = None) -> GoldItem:
        return GoldItem(id=id_, type=type_, question=question, answers=answers,
                        evidence=[Evidence("000.txt", q) for q in quotes], article="标题", match=match,
                        history=history or [])

    return [
        item("q1", "fact", "招远市预计吸纳多少务工群众？", ["440 人"], ["预计吸纳务工群众 440人"]),
        item("q2", "paraphrase", "三级培训覆盖了多少工作人员？", ["200余人"], ["培训三级以工代赈工作人员200余人"]),
        item("q3", "multi", "粮食产量和公司营收各是多少？", ["12.5万吨", "3.2亿元"],
             ["产量达到12.5万吨", "营收3.2亿元"], match="all"),
        item("q4", "unanswerable", "招远市2030年吸纳多少人？", [], []),
        item("q5", "unanswerable", "该县2022年粮食产量是多少？", [], []),
        item("q6", "followup", "那营收呢？", ["3.2亿元"], ["同比增长15%"], history=HISTORY),
        item("q7", "fact", "该县新建道路多少公里？", ["18公里"], ["新建道路18公里"]),
        item("q8", "list", "该县新建道路和粮食产量分别是多少？", ["18公里", "12.5万吨"],
             ["新建道路18公里", "产量达到12.5万吨"], match=list_match),
    ]


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run_eval(FakeEngine(), _items(), progress=False)


# ----------------------------------------------------------------------------- retrieval


# Hand-worked from RANKS over the six items with evidence (q1 q2 q3 q6 q7 q8):
#   hybrid ranks 2 1 1 3 1 10 ; dense 1 4 1 1 2 - ; bm25 - 1 - 6 3 1
EXPECTED_RETRIEVAL = {
    "hybrid": {"hit@1": 3 / 6, "hit@3": 5 / 6, "hit@5": 5 / 6, "hit@10": 6 / 6,
               "mrr@10": (1 / 2 + 1 + 1 + 1 / 3 + 1 + 1 / 10) / 6},
    "dense": {"hit@1": 3 / 6, "hit@3": 4 / 6, "hit@5": 5 / 6, "hit@10": 5 / 6,
              "mrr@10": (1 + 1 / 4 + 1 + 1 + 1 / 2 + 0) / 6},
    "bm25": {"hit@1": 2 / 6, "hit@3": 3 / 6, "hit@5": 3 / 6, "hit@10": 4 / 6,
             "mrr@10": (0 + 1 + 0 + 1 / 6 + 1 / 3 + 1) / 6},
}


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_retrieval_overall_matches_hand_computed(report: dict[str, Any], mode: str) -> None:
    overall = report["retrieval"][mode]["overall"]
    assert overall["n"] == 6
    for metric, value in EXPECTED_RETRIEVAL[mode].items():
        assert overall[metric] == pytest.approx(value), metric


@pytest.mark.parametrize(
    ("mode", "any_", "all_"),
    [
        # q3's evidence: hybrid finds one quote at 1 and the other at 4; dense at 1 and 2; bm25 never.
        ("hybrid", {"hit@1": 1, "hit@3": 1, "mrr@10": 1.0}, {"hit@1": 0, "hit@3": 0, "hit@5": 1, "mrr@10": 1 / 4}),
        ("dense", {"hit@1": 1, "hit@3": 1, "mrr@10": 1.0}, {"hit@1": 0, "hit@3": 1, "hit@5": 1, "mrr@10": 1 / 2}),
        ("bm25", {"hit@1": 0, "hit@10": 0, "mrr@10": 0.0}, {"hit@1": 0, "hit@10": 0, "mrr@10": 0.0}),
    ],
)
def test_multi_reports_any_and_all(report: dict[str, Any], mode: str, any_: dict, all_: dict) -> None:
    by_type = report["retrieval"][mode]["by_type"]
    for metric, value in any_.items():
        assert by_type["multi"][metric] == pytest.approx(value)
    for metric, value in all_.items():
        assert by_type["multi/all"][metric] == pytest.approx(value)
    assert by_type["multi"]["n"] == by_type["multi/all"]["n"] == 1


def test_unanswerable_items_are_not_searched_or_scored(report: dict[str, Any]) -> None:
    assert "unanswerable" not in report["retrieval"]["hybrid"]["by_type"]
    assert report["timings_ms"]["search"]["hybrid"]["n"] == 6
    assert report["timings_ms"]["ask"]["n"] == 8


def test_followup_retrieval_uses_the_rewritten_question() -> None:
    engine = FakeEngine()
    report = run_eval(engine, _items(), progress=False)
    q6 = next(r for r in report["items"] if r["id"] == "q6")
    assert q6["query"] == REWRITTEN
    assert q6["ranks"] == {"hybrid": 3, "dense": 1, "bm25": 6}
    assert ("那营收呢？", HISTORY) in engine.asks  # the history went to ask
    assert all(top_k == 10 for _, top_k, _ in engine.searches)  # deep enough for MRR@10


def test_followup_falls_back_to_the_last_question() -> None:
    report = run_eval(FakeEngine(expose_rewrite=False), _items(), progress=False)
    q6 = next(r for r in report["items"] if r["id"] == "q6")
    assert q6["query"] == "那营收呢？"
    assert q6["ranks"] == {"hybrid": None, "dense": None, "bm25": None}


@pytest.mark.parametrize("ks", [(2,), (10, 1)])
def test_ks_choose_the_columns(ks: tuple[int, ...]) -> None:
    report = run_eval(FakeEngine(), _items(), modes=("dense",), ks=ks, progress=False)
    assert list(report["retrieval"]) == ["dense"]
    assert set(report["retrieval"]["dense"]["overall"]) == {"n", "mrr@10", *(f"hit@{k}" for k in ks)}
    if ks == (2,):
        assert report["retrieval"]["dense"]["overall"]["hit@2"] == pytest.approx(4 / 6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"modes": ("sparse",)}, "unknown retrieval mode 'sparse': use one of hybrid, dense, bm25"),
        ({"modes": ()}, "modes must name at least one of hybrid, dense, bm25, got none"),
        ({"ks": (0, 5)}, "ks must be positive whole numbers such as 1,3,5,10, got [0, 5]"),
    ],
)
def test_bad_options_are_input_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError) as error:
        run_eval(FakeEngine(), _items(), progress=False, **kwargs)
    assert str(error.value) == message


def test_no_items_is_an_input_error() -> None:
    with pytest.raises(InputError, match="there are no questions to evaluate"):
        run_eval(FakeEngine(), [], progress=False)


# ----------------------------------------------------------------------------- answers


def test_answer_metrics_overall(report: dict[str, Any]) -> None:
    overall = report["answers"]["overall"]
    # answerable: q1 q2 q3 q6 q7 q8; right: q1 (NFKC and spaces), q3 (match all), q6.
    assert (overall["n"], overall["answerable"], overall["unanswerable"]) == (8, 6, 2)
    assert overall["accuracy"] == pytest.approx(3 / 6)
    assert overall["false_refusal_rate"] == pytest.approx(1 / 6)  # q7
    assert overall["refusal_rate"] == pytest.approx(1 / 2)  # q4 refused, q5 answered
    # Citations of answered questions: q1 ok, q2 ok, q3 [1] ok [2] not, q5 not (figures
    # 2022年 11万吨 absent), q6 ok by figures alone, q8 ok; q7 refused so its citation is out.
    assert overall["citations"] == 7
    assert overall["citation_support"] == pytest.approx(5 / 7)


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("fact", {"answerable": 2, "accuracy": 0.5, "false_refusal_rate": 0.5, "refusal_rate": None,
                  "citations": 1, "citation_support": 1.0}),
        ("paraphrase", {"accuracy": 0.0, "false_refusal_rate": 0.0, "citation_support": 1.0}),
        ("multi", {"accuracy": 1.0, "citations": 2, "citation_support": 0.5}),
        ("list", {"accuracy": 0.0, "citation_support": 1.0}),
        ("followup", {"accuracy": 1.0, "citation_support": 1.0}),
        ("unanswerable", {"answerable": 0, "accuracy": None, "false_refusal_rate": None, "refusal_rate": 0.5,
                          "citations": 1, "citation_support": 0.0}),
    ],
)
def test_answer_metrics_by_type(report: dict[str, Any], type_: str, expected: dict[str, Any]) -> None:
    block = report["answers"]["by_type"][type_]
    for key, value in expected.items():
        assert block[key] == (None if value is None else pytest.approx(value)), key


def test_match_any_accepts_one_of_the_answers() -> None:
    # q8 answers only 18公里 of [18公里, 12.5万吨]: wrong under "all", right under "any".
    report = run_eval(FakeEngine(), _items(list_match="any"), progress=False)
    assert report["answers"]["by_type"]["list"]["accuracy"] == 1.0
    assert report["answers"]["overall"]["accuracy"] == pytest.approx(4 / 6)


def test_an_input_error_from_ask_is_recorded_not_raised() -> None:
    bad = GoldItem(id="x", type="fact", question="太长", answers=["1"],
                   evidence=[Evidence("000.txt", "一二三四五六七八九十")], article="标题")
    report = run_eval(FakeEngine(), [bad], progress=False)
    assert report["answers"]["overall"]["accuracy"] == 0.0
    assert report["retrieval"]["hybrid"]["overall"]["n"] == 1  # a miss, not left out
    assert report["retrieval"]["hybrid"]["overall"]["hit@10"] == 0.0
    errors = [f for f in report["failures"] if f["kind"] == "error"]
    assert [f["got"] for f in errors] == ["the question is too long: keep it under 1000 characters"]


def test_failures_list_what_went_wrong(report: dict[str, Any]) -> None:
    got = {(f["id"], f["kind"], f["mode"]) for f in report["failures"]}
    assert got == {
        ("q8", "retrieval", "hybrid"),  # rank 10 > 5
        ("q8", "retrieval", "dense"),
        ("q1", "retrieval", "bm25"),
        ("q3", "retrieval", "bm25"),
        ("q6", "retrieval", "bm25"),  # rank 6
        ("q2", "answer", ""),
        ("q8", "answer", ""),
        ("q7", "false refusal", ""),
        ("q5", "missed refusal", ""),
        ("q3", "citation", ""),
        ("q5", "citation", ""),
    }
    q6 = next(f for f in report["failures"] if f["id"] == "q6")
    assert q6["question"] == f"那营收呢？ (searched as: {REWRITTEN})"
    q2 = next(f for f in report["failures"] if f["id"] == "q2")
    assert (q2["question"], q2["expected"], q2["got"]) == (
        "三级培训覆盖了多少工作人员？", "200余人", "累计培训200多人。[1]"
    )


# ----------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("😀 没有数字", []),
        ("预计吸纳务工群众 440人，营收3.2亿元，增长１５％。", ["440人", "3.2亿元", "15%"]),
        ("培训200余人，面积1.2万平方米，2024年", ["200余人", "1.2万平", "2024年"]),
        ("编号1234”工作法", []),
    ],
)
def test_figures(text: str, expected: list[str]) -> None:
    assert figures(text) == expected


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ([], {}),
        ([("没有标记。", None)], {}),
        ([("😀", 1)], {1: ["😀"]}),
        ([("甲有9个。", 1), ("乙有440人", 2), ("", 3), ("。", None)],
         {1: ["甲有9个。"], 2: ["乙有440人"], 3: ["乙有440人"]}),
        ([("第二句有５家；", 1), ("第三句", 2)], {1: ["第二句有5家;"], 2: ["第三句"]}),
        ([("A", 1), ("B", 1)], {1: ["A", "B"]}),
    ],
)
def test_attributed_sentences(parts: list, expected: dict[int, list[str]]) -> None:
    assert attributed_sentences([AnswerPart(t, n) for t, n in parts]) == expected


# ----------------------------------------------------------------------------- reports


def test_write_report_round_trips_and_draws(report: dict[str, Any], tmp_path: Path) -> None:
    paths = write_report(report, tmp_path / "reports")
    assert [p.suffix for p in paths] == [".json", ".md", ".png"]
    assert paths[0].stem == report["created_utc"].replace("-", "").replace(":", "")
    assert json.loads(paths[0].read_text(encoding="utf-8")) == report
    markdown = paths[1].read_text(encoding="utf-8")
    assert "| mode | n | hit@1 | hit@3 | hit@5 | hit@10 | mrr@10 | p50 ms | p95 ms |" in markdown
    assert "| hybrid | 6 | 0.500 | 0.833 | 0.833 | 1.000 | 0.656 |" in markdown
    assert "| q2 | paraphrase | answer |  | 三级培训覆盖了多少工作人员？ | 200余人 | 累计培训200多人。[1] |" in markdown
    png = paths[2].read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    again = write_report(report, tmp_path / "reports")  # same second: a new name, nothing overwritten
    assert again[0] != paths[0] and again[0].exists() and paths[0].exists()


def test_format_report_is_a_compact_table(report: dict[str, Any]) -> None:
    text = format_report(report)
    lines = text.splitlines()
    assert len(lines) < 30
    assert any(line.split()[:7] == ["hybrid", "6", "0.500", "0.833", "0.833", "1.000", "0.656"] for line in lines)
    assert any(line.split()[:6] == ["all", "8", "0.500", "0.500", "0.167", "0.714"] for line in lines)
    assert "failures: 11" in text


def test_markdown_escapes_pipes_and_newlines(report: dict[str, Any]) -> None:
    odd = json.loads(json.dumps(report))
    odd["failures"] = [{"id": "z", "type": "fact", "kind": "answer", "mode": "", "question": "a|b\nc",
                        "expected": "x", "got": "y"}]
    assert "| a\\|b c |" in format_markdown(odd)


# ----------------------------------------------------------------------------- thresholds


def test_thresholds_pass_and_fail(report: dict[str, Any]) -> None:
    passing = {"min": {"retrieval.hybrid.overall.hit@5": 0.8, "answers.overall.accuracy": 0.5},
               "max": {"answers.overall.false_refusal_rate": 0.2}}
    assert check_thresholds(report, passing) == []
    failing = {"min": {"retrieval.hybrid.overall.hit@5": 0.95, "answers.overall.refusal_rate": 0.8,
                       "retrieval.sparse.overall.hit@5": 0.5, "answers.by_type.list.refusal_rate": 0.5},
               "max": {"answers.overall.false_refusal_rate": 0.05}}
    assert check_thresholds(report, failing) == [
        "retrieval.hybrid.overall.hit@5 = 0.833, below the minimum 0.950",
        "answers.overall.refusal_rate = 0.500, below the minimum 0.800",
        "retrieval.sparse.overall.hit@5 is not in the report: check the path, and that the mode and k were run",
        "answers.by_type.list.refusal_rate was not measured: the gold set has no questions of that kind",
        "answers.overall.false_refusal_rate = 0.167, above the maximum 0.050",
    ]


def test_repo_thresholds_file_loads_and_gates(report: dict[str, Any]) -> None:
    thresholds = load_thresholds(ROOT / "eval" / "thresholds.json")
    assert set(thresholds) == {"min", "max"}
    assert thresholds["min"]["retrieval.hybrid.overall.hit@5"] > 0
    assert len(check_thresholds(report, thresholds)) == 5  # the fake engine misses all five


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not valid JSON"),
        ('{"minimum": {}}', "unknown key 'minimum'"),
        ('{"min": {"answers.overall.accuracy": "high"}}', "min of answers.overall.accuracy must be a number"),
    ],
)
def test_bad_thresholds_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "thresholds.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_thresholds(path)


# ----------------------------------------------------------------------------- public QA


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"question": "", "answers": ["1"], "passage_id": "p1"}', "line 1: 'question' must be a non-empty string"),
        ('{"question": "多少？", "answers": [], "passage_id": "p1"}', "line 1: 'answers' must be a non-empty list"),
        ('{"question": "多少？", "answers": ["1"], "passage_id": "p9"}', "passage_id 'p9' is not an id in the corpus"),
        ("not json", "line 1 is not valid JSON"),
    ],
)
def test_public_qa_checks_its_files_first(tmp_path: Path, line: str, message: str) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        run_public_qa(PUBLIC_QA / "corpus.jsonl", qa, None, tmp_path / "work", progress=False)


def _pipeline_missing() -> str:
    """Why the indexing pipeline cannot run yet ("" once rag.index and rag.engine import)."""
    try:
        importlib.import_module("rag.index")
        importlib.import_module("rag.engine")
    except ImportError as exc:
        return f"the indexing pipeline does not import yet ({exc}); this test runs once it does"
    return ""


@pytest.mark.skipif(bool(_pipeline_missing()), reason=_pipeline_missing() or "pipeline present")
def test_public_qa_with_the_hash_embedder(tmp_path: Path) -> None:
    from rag.embedders import make_embedder

    report = run_public_qa(PUBLIC_QA / "corpus.jsonl", PUBLIC_QA / "qa.jsonl", make_embedder("hash:384"),
                           tmp_path, ks=(1, 5), progress=False)
    assert report["kind"] == "public_qa"
    assert report["n_items"] == report["dataset"]["questions"] == 6
    assert (tmp_path / "index" / "manifest.json").is_file()
    assert report["dataset"]["passages"] == 6 and report["dataset"]["passages_not_indexed"] == []
    # Six one-chunk passages: every gold passage is within the top 5 in every mode, and the
    # questions share their rare words (青溪县, 光伏, 吞吐量) with their passage only.
    for mode in ("hybrid", "dense", "bm25"):
        assert report["retrieval"][mode]["overall"]["hit@5"] == 1.0, mode
    assert report["retrieval"]["bm25"]["overall"]["hit@1"] >= 5 / 6
    assert report["answers"]["overall"]["answerable"] == 6
    assert 0.0 <= report["answers"]["overall"]["accuracy"] <= 1.0


def test_groups_get_their_own_rows_so_dev_and_test_stand_side_by_side():
    groups = {i.id: ("news/dev" if i.id in ("q1", "q4") else "news/test") for i in _items()}
    report = run_eval(FakeEngine(), _items(), modes=("hybrid",), progress=False, groups=groups)
    by_group = report["answers"]["by_group"]
    assert set(by_group) == {"news/dev", "news/test"}
    assert by_group["news/dev"]["n"] == 2 and by_group["news/test"]["n"] == 6
    assert by_group["news/dev"]["answerable"] == 1 and by_group["news/dev"]["unanswerable"] == 1
    assert sum(b["n"] for b in by_group.values()) == report["answers"]["overall"]["n"]
    assert set(report["retrieval"]["hybrid"]["by_group"]) == {"news/dev", "news/test"}


def test_without_groups_there_are_no_group_rows(report):
    assert report["answers"]["by_group"] == {}


def test_held_out_mrc_writes_only_passages_the_reader_never_saw(tmp_path):
    import gzip

    from rag.eval.evaluate import held_out_mrc
    from rag.training.reader_data import is_held_out

    ids = [f"p{i}" for i in range(60)]
    for name in ("drcd", "cmrc_trial"):
        with gzip.open(tmp_path / f"{name}.corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
            for pid in ids:
                handle.write(json.dumps({"id": f"{name}-{pid}", "title": "t", "text": f"{pid}的答案是{pid}。"}) + "\n")
        with gzip.open(tmp_path / f"{name}.qa.jsonl.gz", "wt", encoding="utf-8") as handle:
            for pid in ids:
                handle.write(json.dumps({"id": f"q-{name}-{pid}", "question": f"{pid}的答案？", "answers": [pid],
                                         "passage_id": f"{name}-{pid}", "split": "dev"}) + "\n")
    corpus, qa = held_out_mrc(tmp_path, tmp_path / "out", questions=5)
    passages = [json.loads(line)["id"] for line in corpus.read_text(encoding="utf-8").splitlines()]
    questions = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines()]
    assert passages and all(is_held_out(p) for p in passages)
    assert len(questions) == min(5, len(passages)) and all(q["passage_id"] in passages for q in questions)


def test_held_out_mrc_says_where_the_data_is(tmp_path):
    from rag.eval.evaluate import held_out_mrc

    with pytest.raises(InputError, match="shared/data/mrc"):
        held_out_mrc(tmp_path, tmp_path / "out")


def test_the_mrc_dev_part_never_holds_a_question_the_test_part_measures(tmp_path):
    import gzip

    from rag.eval.evaluate import MRC_TEST_QUESTIONS, held_out_mrc

    for name in ("drcd", "cmrc_trial"):
        with gzip.open(tmp_path / f"{name}.corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
            for i in range(400):
                handle.write(json.dumps({"id": f"{name}-p{i}", "title": "t", "text": f"p{i}的答案是{i}。"}) + "\n")
        with gzip.open(tmp_path / f"{name}.qa.jsonl.gz", "wt", encoding="utf-8") as handle:
            for i in range(400):
                for j in range(5):
                    handle.write(json.dumps({"id": f"q-{name}-{i}-{j}", "question": f"p{i}的答案？{j}",
                                             "answers": [str(i)], "passage_id": f"{name}-p{i}"}) + "\n")

    def ids(part, n):
        _, qa = held_out_mrc(tmp_path, tmp_path / part, questions=n, part=part)
        return [json.loads(line)["id"] for line in qa.read_text(encoding="utf-8").splitlines()]

    test, dev = ids("test", MRC_TEST_QUESTIONS), ids("dev", 50)
    assert len(test) == MRC_TEST_QUESTIONS and len(dev) == 50
    assert not set(test) & set(dev)
    assert ids("test", MRC_TEST_QUESTIONS) == test  # the measured sample does not move
    with pytest.raises(InputError, match="part"):
        held_out_mrc(tmp_path, tmp_path / "x", part="train")
