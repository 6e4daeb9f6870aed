"""Score the pipeline end to end: retrieval, answers, refusals and citations.

Two entry points share one scorer:

- `run_eval(engine, items)` scores an open engine against gold items (`rag.eval.gold`): a
  retrieved chunk is a hit when its normalised text contains a normalised evidence quote.
- `run_public_qa(corpus_jsonl, qa_jsonl, embedder, work_dir)` builds an index of a public QA
  corpus in the common form (corpus lines `{"id", "title", "text"}`, QA lines
  `{"question", "answers", "passage_id"}`) and scores it by gold passage instead: a hit is a
  chunk whose article id is the question's `passage_id`.

What is measured, and what was simplified:

- hit@k and MRR@10 per retrieval mode. For `multi` items "any" (the usual hit: any evidence
  found) goes into every table, and "all" (every evidence quote found within k) is reported as
  the extra row `multi/all`. Questions with no evidence (unanswerable) are left out of retrieval.
- Answer accuracy from `engine.ask` in the engine's default mode: a normalised gold answer
  inside the normalised answer text, citation markers removed; `match="all"` needs every one.
  A refusal counts as wrong. Accuracy is over answerable questions only.
- Refusal rate on unanswerable questions, false-refusal rate on answerable ones.
- Citation support: over the citations of every answer that was not a refusal, the fraction
  whose passage contains evidence, or contains every figure (a number with its unit, see
  `figures`) of the sentences the answer attributes to it. The marker `[n]` follows the
  sentence that came from citation n. Chinese numerals (三级, 两项) are not figures.
- p50/p95 latency of `search` per mode and of `ask`, in milliseconds.

Worked example (a fake engine would do as well; see tests/test_evaluate.py):

    >>> from rag.eval.gold import load_gold                                    # doctest: +SKIP
    >>> report = run_eval(engine, load_gold(Path("eval/gold.jsonl")))     # doctest: +SKIP
    >>> report["retrieval"]["hybrid"]["overall"]["hit@5"]                 # doctest: +SKIP
    0.975
    >>> check_thresholds(report, load_thresholds(Path("eval/thresholds.json")))  # doctest: +SKIP
    []
"""

from __future__ import annotations

import gzip
import json
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from rag.errors import InputError
from rag.eval.gold import GoldItem, normalize
from rag.types import MODES

__all__ = [
    "DEFAULT_KS",
    "FORMAT",
    "MODES",
    "MRC_TEST_QUESTIONS",
    "attributed_sentences",
    "check_thresholds",
    "figures",
    "held_out_mrc",
    "load_thresholds",
    "run_eval",
    "run_public_qa",
]

FORMAT = "rag-eval/1"  # the "format" field of every report; bump when the shape changes
DEFAULT_KS = (1, 3, 5, 10)
MRR_DEPTH = 10  # MRR is reported at 10 (MRR@10), so every search goes at least this deep
ASK_TOP_K = 5  # passages handed to `engine.ask`, the engine's own default
FAIL_K = 5  # a retrieval failure is listed when no evidence is within the top 5 (the gate's k)
UNANSWERABLE = "unanswerable"
MULTI = "multi"
MULTI_ALL = "multi/all"  # the by-type row that holds the "every evidence found" variant
_SNIPPET = 120  # characters of a passage or answer kept in the failure list

# A figure: a number, an optional 余/多 ("200余人"), an optional magnitude (万, 亿) and a unit,
# which is %, ‰ or the next Chinese character ("440人", "12.5万吨", "2024年", "15%"). The
# unit is taken loosely (one character) because the check is containment in the passage.
_FIGURE = re.compile(r"\d+(?:[.,]\d+)*[余多]?[十百千万亿]*(?:%|‰|[\u4e00-\u9fff])")


# ----------------------------------------------------------------------------- helpers


def figures(text: str) -> list[str]:
    """The figures (number + unit) in `text`, normalised, in order.

    >>> figures("预计吸纳务工群众 440人，营收3.2亿元，增长１５％。")
    ['440人', '3.2亿元', '15%']
    """
    return _FIGURE.findall(normalize(text))


def attributed_sentences(parts: Sequence[Any]) -> dict[int, list[str]]:
    """Map each citation number to the sentences the answer attributes to it (`Answer.parts`).

    A part with no text ("…[1][2]" from an LLM) shares the sentence before it.

    >>> from rag.types import AnswerPart
    >>> attributed_sentences([AnswerPart("招远市有9个项目。", 1), AnswerPart("吸纳440人", 2), AnswerPart("", 3)])
    {1: ['招远市有9个项目。'], 2: ['吸纳440人'], 3: ['吸纳440人']}
    """
    out: dict[int, list[str]] = defaultdict(list)
    sentence = ""
    for part in parts:
        if part.text.strip():
            sentence = unicodedata.normalize("NFKC", part.text).strip()
        if part.n is not None:
            out[part.n].append(sentence)
    return dict(out)


def _answer_text(parts: Sequence[Any]) -> str:
    """What the answer says, without its markers."""
    return normalize("".join(p.text for p in parts))


def _answer_correct(parts: Sequence[Any], answers: Sequence[str], match: str) -> bool:
    got = _answer_text(parts)
    found = [normalize(a) in got for a in answers if normalize(a)]
    if not found:
        return False
    return all(found) if match == "all" else any(found)


def _rate(hits: float, total: int) -> float | None:
    return hits / total if total else None


def _percentiles(samples: Sequence[float]) -> dict[str, float | int | None]:
    if not samples:
        return {"n": 0, "p50": None, "p95": None}
    values = np.asarray(samples, dtype=np.float64)
    return {
        "n": len(samples),
        "p50": round(float(np.percentile(values, 50)), 2),
        "p95": round(float(np.percentile(values, 95)), 2),
    }


def _snippet(text: str, limit: int = _SNIPPET) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ----------------------------------------------------------------------------- cases


@dataclass
class _Case:
    """One question in the form the scorer needs, whichever data set it came from."""

    id: str
    type: str
    question: str
    answers: list[str]
    match: str = "any"
    history: list[dict[str, Any]] = field(default_factory=list)
    quotes: list[str] = field(default_factory=list)  # gold: evidence quotes, as written
    passage_id: str | None = None  # public QA: the gold passage, as the QA file names it
    article_id: str = ""  # public QA: the article id the index gave that passage
    group: str = ""  # e.g. "news_heldout/test": the report gives every group its own row

    @property
    def answerable(self) -> bool:
        return self.type != UNANSWERABLE

    @property
    def n_targets(self) -> int:
        if not self.answerable:
            return 0
        return 1 if self.passage_id is not None else len(self.quotes)

    @property
    def expected_evidence(self) -> str:
        return f"passage {self.passage_id}" if self.passage_id is not None else " / ".join(self.quotes)

    def covers(self, passage: Any) -> set[int]:
        """Which targets a hit or citation holds (indices into the targets)."""
        if not self.answerable:
            return set()
        if self.passage_id is not None:
            return {0} if self.article_id and passage.article_id == self.article_id else set()
        text = normalize(passage.text)
        return {i for i, quote in enumerate(self.quotes) if normalize(quote) and normalize(quote) in text}


def _quote_of(evidence: Any) -> str:
    """An evidence entry is a (file, quote) pair or an object with `.quote`."""
    return str(evidence.quote) if hasattr(evidence, "quote") else str(evidence[1])


def _case_from_gold(item: GoldItem, group: str = "") -> _Case:
    return _Case(
        group=group,
        id=str(item.id),
        type=str(item.type),
        question=item.question,
        answers=list(item.answers),
        match=item.match,
        history=list(item.history or []),
        quotes=[_quote_of(e) for e in item.evidence],
    )


# ----------------------------------------------------------------------------- scoring


def _ranks(case: _Case, hits: Sequence[Any]) -> tuple[int | None, int | None]:
    """1-based rank of the first hit holding any target, and of the hit completing all."""
    seen: set[int] = set()
    first_any = first_all = None
    for rank, hit in enumerate(hits, 1):
        got = case.covers(hit)
        if got and first_any is None:
            first_any = rank
        seen |= got
        if first_all is None and len(seen) == case.n_targets:
            first_all = rank
    return first_any, first_all


def _retrieval_block(ranks: Sequence[int | None], ks: Sequence[int]) -> dict[str, float | int | None]:
    block: dict[str, float | int | None] = {"n": len(ranks)}
    for k in ks:
        block[f"hit@{k}"] = _rate(sum(r is not None and r <= k for r in ranks), len(ranks))
    reciprocal = [1.0 / r if r is not None and r <= MRR_DEPTH else 0.0 for r in ranks]
    block[f"mrr@{MRR_DEPTH}"] = _rate(sum(reciprocal), len(ranks))
    return block


def _answer_block(records: Sequence[dict[str, Any]]) -> dict[str, float | int | None]:
    answerable = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    citations = [c for r in records if not r["refused"] for c in r["citations"]]
    return {
        "n": len(records),
        "answerable": len(answerable),
        "accuracy": _rate(sum(r["correct"] for r in answerable), len(answerable)),
        "false_refusal_rate": _rate(sum(r["refused"] for r in answerable), len(answerable)),
        "unanswerable": len(unanswerable),
        "refusal_rate": _rate(sum(r["refused"] for r in unanswerable), len(unanswerable)),
        "citations": len(citations),
        "citation_support": _rate(sum(c["supported"] for c in citations), len(citations)),
    }


def _rewritten_question(answer: Any) -> str | None:
    """The standalone question the engine searched with (`Answer.query`), when it is set."""
    value = getattr(answer, "query", None)
    return value if isinstance(value, str) and value.strip() else None


def _score_citations(case: _Case, answer: Any) -> list[dict[str, Any]]:
    sentences = attributed_sentences(answer.parts)
    scored = []
    for citation in answer.citations:
        claimed = [f for s in sentences.get(citation.n, []) for f in figures(s)]
        passage = normalize(f"{citation.title}\n{citation.text}")
        by_evidence = bool(case.covers(citation))
        by_figures = bool(claimed) and all(f in passage for f in claimed)
        scored.append(
            {
                "n": citation.n,
                "chunk_id": citation.chunk_id,
                "supported": by_evidence or by_figures,
                "figures": claimed,
                "text": _snippet(citation.text),
            }
        )
    return scored


def _ask(engine: Any, case: _Case) -> tuple[Any | None, str | None, float]:
    start = time.perf_counter()
    try:
        answer = engine.ask(case.question, top_k=ASK_TOP_K, history=case.history or None)
    except InputError as exc:  # one bad question must not stop the run; it is listed instead
        return None, str(exc), (time.perf_counter() - start) * 1000
    return answer, None, (time.perf_counter() - start) * 1000


def _search(
    engine: Any, case: _Case, query: str, mode: str, depth: int, timings: dict[str, list[float]], error: str | None
) -> tuple[int | None, int | None, str]:
    """Ranks of the evidence for one mode, and the top hit. A rejected question is a miss."""
    if error:
        return None, None, error
    start = time.perf_counter()
    try:
        hits = engine.search(query, top_k=depth, mode=mode)
    except InputError as exc:
        return None, None, str(exc)
    timings[f"search:{mode}"].append((time.perf_counter() - start) * 1000)
    first_any, first_all = _ranks(case, hits[:depth])
    return first_any, first_all, _snippet(hits[0].text) if hits else ""


def _score_case(
    engine: Any, case: _Case, modes: Sequence[str], depth: int, timings: dict[str, list[float]]
) -> dict[str, Any]:
    answer, error, ask_ms = _ask(engine, case)
    timings["ask"].append(ask_ms)
    query = case.question
    if case.history and answer is not None:
        query = _rewritten_question(answer) or case.question
    record: dict[str, Any] = {
        "id": case.id,
        "type": case.type,
        "group": case.group,
        "question": case.question,
        "query": query,
        "answerable": case.answerable,
        "error": error,
        "answer": answer.text if answer is not None else "",
        "refused": bool(answer.refused) if answer is not None else False,
        "citations": _score_citations(case, answer) if answer is not None else [],
        "ranks": {},
        "ranks_all": {},
        "top": {},
    }
    record["correct"] = (
        case.answerable
        and answer is not None
        and not answer.refused
        and _answer_correct(answer.parts, case.answers, case.match)
    )
    if case.n_targets:
        for mode in modes:
            record["ranks"][mode], record["ranks_all"][mode], record["top"][mode] = _search(
                engine, case, query, mode, depth, timings, error
            )
    return record


def _failures(case: _Case, record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ways one question went wrong, as rows for the report's failure list."""
    question = case.question
    if record["query"] != case.question:
        question = f"{case.question} (searched as: {record['query']})"
    base = {"id": case.id, "type": case.type, "question": question}
    expected_answer = " / ".join(case.answers) if case.answerable else "(a refusal)"
    got = _snippet(record["answer"])
    for mode, rank in record["ranks"].items():
        if rank is None or rank > FAIL_K:
            where = "no evidence retrieved" if rank is None else f"evidence first at rank {rank}"
            yield {**base, "kind": "retrieval", "mode": mode, "expected": case.expected_evidence,
                   "got": f"{where}; top hit: {record['top'][mode]}"}
    if record["error"]:
        yield {**base, "kind": "error", "mode": "", "expected": expected_answer, "got": record["error"]}
    elif case.answerable and record["refused"]:
        yield {**base, "kind": "false refusal", "mode": "", "expected": expected_answer, "got": got}
    elif case.answerable and not record["correct"]:
        yield {**base, "kind": "answer", "mode": "", "expected": expected_answer, "got": got}
    elif not case.answerable and not record["refused"]:
        yield {**base, "kind": "missed refusal", "mode": "", "expected": expected_answer, "got": got}
    if not record["refused"]:
        for citation in record["citations"]:
            if not citation["supported"]:
                claimed = ", ".join(citation["figures"]) or "no figures"
                yield {**base, "kind": "citation", "mode": "",
                       "expected": case.expected_evidence or claimed,
                       "got": f"[{citation['n']}] ({claimed}) {citation['text']}"}


def _check_options(modes: Sequence[str], ks: Sequence[int]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    modes = tuple(modes)
    if not modes:
        raise InputError(f"modes must name at least one of {', '.join(MODES)}, got none")
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise InputError(f"unknown retrieval mode {unknown[0]!r}: use one of {', '.join(MODES)}")
    if not ks or any(not isinstance(k, int) or isinstance(k, bool) or k <= 0 for k in ks):
        raise InputError(f"ks must be positive whole numbers such as 1,3,5,10, got {list(ks)}")
    return modes, tuple(sorted(set(ks)))


def _health(engine: Any) -> dict[str, Any]:
    health = getattr(engine, "health", None)
    return dict(health()) if callable(health) else {}


def _evaluate(
    engine: Any,
    cases: Sequence[_Case],
    modes: Sequence[str],
    ks: Sequence[int],
    progress: bool,
    kind: str,
) -> dict[str, Any]:
    modes, ks = _check_options(modes, ks)
    if not cases:
        raise InputError("there are no questions to evaluate: check the gold or QA file")
    depth = max(max(ks), MRR_DEPTH)
    timings: dict[str, list[float]] = defaultdict(list)
    records: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for case in tqdm(cases, desc=f"eval {kind}", unit="q", disable=not progress):
        record = _score_case(engine, case, modes, depth, timings)
        records.append(record)
        failures.extend(_failures(case, record))
    return {
        "format": FORMAT,
        "kind": kind,
        "created_utc": _now_utc(),
        "engine": _health(engine),
        "config": {"modes": list(modes), "ks": list(ks), "search_depth": depth,
                   "answer_mode": "default", "ask_top_k": ASK_TOP_K, "fail_k": FAIL_K},
        "n_items": len(records),
        "retrieval": {mode: _retrieval_section(records, mode, ks) for mode in modes},
        "answers": _answers_section(records),
        "timings_ms": {
            "search": {mode: _percentiles(timings[f"search:{mode}"]) for mode in modes},
            "ask": _percentiles(timings["ask"]),
        },
        "failures": failures,
        "items": records,
    }


def _by_type(records: Iterable[dict[str, Any]], key: str = "type") -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record.get(key):
            groups[record[key]].append(record)
    return dict(sorted(groups.items()))


def _retrieval_section(records: Sequence[dict[str, Any]], mode: str, ks: Sequence[int]) -> dict[str, Any]:
    scored = [r for r in records if mode in r["ranks"]]
    by_type = {t: _retrieval_block([r["ranks"][mode] for r in group], ks) for t, group in _by_type(scored).items()}
    multi = [r["ranks_all"][mode] for r in scored if r["type"] == MULTI]
    if multi:
        by_type[MULTI_ALL] = _retrieval_block(multi, ks)
    by_group = {g: _retrieval_block([r["ranks"][mode] for r in group], ks)
                for g, group in _by_type(scored, "group").items()}
    return {"overall": _retrieval_block([r["ranks"][mode] for r in scored], ks), "by_type": by_type,
            "by_group": by_group}


def _answers_section(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "overall": _answer_block(records),
        "by_type": {t: _answer_block(group) for t, group in _by_type(records).items()},
        "by_group": {g: _answer_block(group) for g, group in _by_type(records, "group").items()},
    }


# ----------------------------------------------------------------------------- gold set


def run_eval(
    engine: Any,
    items: Sequence[GoldItem],
    modes: Sequence[str] = MODES,
    ks: Sequence[int] = DEFAULT_KS,
    progress: bool = True,
    groups: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Score `engine` (anything with `search`, `ask` and optionally `health`) on gold items.

    `groups` maps item ids to a group name ("news_heldout/test"): answers and retrieval are then
    also reported per group (`by_group`), so dev and test stand side by side.

    Returns the report as a plain dict (JSON-ready): `retrieval[mode]["overall"|"by_type"]`,
    `answers["overall"|"by_type"]`, `timings_ms`, `failures` and per-question `items`.
    `rag.eval.report.write_report` saves it; `check_thresholds` gates on it.
    """
    groups = groups or {}
    cases = [_case_from_gold(item, groups.get(item.id, "")) for item in items]
    return _evaluate(engine, cases, modes, ks, progress, "gold")


# ----------------------------------------------------------------------------- public QA


def _read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    if not path.is_file():
        raise InputError(f"{path} does not exist: give the path of a .jsonl or .jsonl.gz file")
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path} line {number} is not valid JSON ({exc.msg}): fix or remove it") from exc


def _corpus_texts(path: Path) -> dict[str, str]:
    """Passage id -> normalised text, for every line of a corpus jsonl."""
    texts: dict[str, str] = {}
    for number, row in _read_jsonl(path):
        if not isinstance(row, dict) or not str(row.get("id", "")).strip() or not isinstance(row.get("text"), str):
            raise InputError(f'{path} line {number}: each line needs {{"id", "title", "text"}} with a non-empty id')
        texts[str(row["id"])] = normalize(row["text"])
    if not texts:
        raise InputError(f'{path} holds no passages: each line needs {{"id", "title", "text"}}')
    return texts


def _article_ids(path: Path, texts: dict[str, str]) -> dict[str, str]:
    """Passage id -> the article id the index gave it.

    The index may keep a jsonl line's "id" as the article id, or derive one from content;
    either way the passage is found again by its text, which cleaning changes only in
    whitespace (and `normalize` drops whitespace).
    """
    from rag.corpus import iter_articles

    by_text: dict[str, str] = {}
    indexed: set[str] = set()
    for article in iter_articles(path):
        indexed.add(article.id)
        by_text.setdefault(normalize(article.text), article.id)
    return {
        pid: pid if pid in indexed else by_text[text]
        for pid, text in texts.items()
        if pid in indexed or text in by_text
    }


_QA_SHAPE = 'each line needs {"question": str, "answers": [str, ...], "passage_id": str}'


def _qa_cases(path: Path, corpus_ids: set[str]) -> list[_Case]:
    cases = []
    shape = _QA_SHAPE
    for number, row in _read_jsonl(path):
        where = f"{path} line {number}"
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise InputError(f"{where}: 'question' must be a non-empty string; {shape}")
        answers = row.get("answers")
        if not isinstance(answers, list) or not answers or not all(isinstance(a, str) and a.strip() for a in answers):
            raise InputError(f"{where}: 'answers' must be a non-empty list of strings; {shape}")
        passage_id = row.get("passage_id")
        if passage_id is None or not str(passage_id).strip():
            raise InputError(f"{where}: 'passage_id' is missing; {shape}")
        if str(passage_id) not in corpus_ids:
            raise InputError(f"{where}: passage_id {passage_id!r} is not an id in the corpus file")
        cases.append(
            _Case(id=str(row.get("id", number)), type=str(row.get("type", "public")),
                  question=row["question"], answers=answers, passage_id=str(passage_id))
        )
    if not cases:
        raise InputError(f"{path} holds no questions: {shape}")
    return cases


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return value
    return str(value)


def run_public_qa(
    corpus_jsonl: Path,
    qa_jsonl: Path,
    embedder: Any,
    work_dir: Path,
    modes: Sequence[str] = MODES,
    ks: Sequence[int] = DEFAULT_KS,
    progress: bool = True,
    composer: str | None = None,
) -> dict[str, Any]:
    """Index a public QA corpus under `work_dir/index` and score retrieval by gold passage.

    A hit is a chunk of the question's `passage_id`: its article id is that id when the
    index keeps jsonl ids, else the id of the article whose text is the passage's text.
    Passages the index dropped are listed in `report["dataset"]["passages_not_indexed"]`.
    Rebuilding is incremental, so a second run over the same corpus reuses the index.
    """
    corpus_jsonl, qa_jsonl, work_dir = Path(corpus_jsonl), Path(qa_jsonl), Path(work_dir)
    modes, ks = _check_options(modes, ks)
    texts = _corpus_texts(corpus_jsonl)
    cases = _qa_cases(qa_jsonl, set(texts))  # check both files before a long build

    from rag.engine import Engine  # imported here: building needs the whole pipeline
    from rag.index import build_index

    index_dir = work_dir / "index"
    index_dir.mkdir(parents=True, exist_ok=True)
    build = build_index(corpus_jsonl, index_dir, embedder, progress=progress)
    engine = Engine.open(index_dir, embedder=embedder, **({"composer": composer} if composer else {}))
    article_ids = _article_ids(corpus_jsonl, texts)
    for case in cases:  # a passage the index dropped (no text left) can only be missed
        case.article_id = article_ids.get(str(case.passage_id), "")
    report = _evaluate(engine, cases, modes, ks, progress, "public_qa")
    unfound = sorted({str(c.passage_id) for c in cases if not c.article_id})
    report["dataset"] = {"corpus": str(corpus_jsonl), "qa": str(qa_jsonl), "questions": len(cases),
                         "passages": len(texts), "passages_not_indexed": unfound}
    report["build"] = _plain(build)
    return report


MRC_TEST_QUESTIONS = 300  # `rag eval --dataset mrc` measures these; the dev part never holds one of them


def held_out_mrc(mrc_dir: Path, out_dir: Path, questions: int = MRC_TEST_QUESTIONS, seed: int = 7,
                 part: str = "test") -> tuple[Path, Path]:
    """The reading-comprehension passages the reader never trained on, as a public QA pair of files.

    Writes `corpus.jsonl` (every held-out passage of DRCD and CMRC trial, the distractors of each
    other) and `qa.jsonl` (a seeded sample of their questions) under out_dir; returns both paths.
    `part="test"` samples what `rag eval --dataset mrc` measures; `part="dev"` samples, for
    tuning, among the held-out questions outside the default test sample (MRC_TEST_QUESTIONS).
    """
    if part not in ("test", "dev"):
        raise InputError(f'part must be "test" or "dev", got {part!r}')
    import random

    from rag.training.reader_data import is_held_out

    mrc_dir, out_dir = Path(mrc_dir), Path(out_dir)
    names = ("drcd", "cmrc_trial")
    missing = [n for n in names if not (mrc_dir / f"{n}.qa.jsonl.gz").is_file()]
    if missing:
        raise InputError(f"{mrc_dir} lacks {missing[0]}.qa.jsonl.gz: point --mrc-dir at ../shared/data/mrc")
    passages, qa = [], []
    for name in names:
        with gzip.open(mrc_dir / f"{name}.corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
            passages += [p for p in map(json.loads, handle) if is_held_out(p["id"])]
        with gzip.open(mrc_dir / f"{name}.qa.jsonl.gz", "rt", encoding="utf-8") as handle:
            qa += [q for q in map(json.loads, handle) if is_held_out(q["passage_id"])
                   and str(q.get("question", "")).strip() and q.get("answers")]  # DRCD has a few blanks
    if part == "dev":
        test_ids = {q["id"] for q in random.Random(seed).sample(qa, min(MRC_TEST_QUESTIONS, len(qa)))}
        qa = [q for q in qa if q["id"] not in test_ids]
        seed += 1
    qa = random.Random(seed).sample(qa, min(questions, len(qa)))
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus_path, qa_path = out_dir / "corpus.jsonl", out_dir / "qa.jsonl"
    corpus_path.write_text("".join(json.dumps({"id": p["id"], "title": p.get("title", ""), "text": p["text"]},
                                              ensure_ascii=False) + "\n" for p in passages), encoding="utf-8")
    qa_path.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in qa), encoding="utf-8")
    return corpus_path, qa_path


# ----------------------------------------------------------------------------- gating


def load_thresholds(path: Path = Path("eval/thresholds.json")) -> dict[str, dict[str, float]]:
    """Read a thresholds file: `{"min": {"metric.path": value}, "max": {...}}`.

    A metric path walks the report, e.g. `retrieval.hybrid.overall.hit@5`. Keys that start
    with "_" are comments.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist: copy eval/thresholds.json or pass another file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(raw, dict):
        raise InputError(f'{path} must hold an object like {{"min": {{...}}, "max": {{...}}}}')
    thresholds: dict[str, dict[str, float]] = {}
    for bound, limits in raw.items():
        if bound.startswith("_"):
            continue
        if bound not in ("min", "max") or not isinstance(limits, dict):
            raise InputError(
                f'{path}: unknown key {bound!r}; use "min" and "max", each mapping metric paths to numbers'
            )
        for metric, value in limits.items():
            if metric.startswith("_"):
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise InputError(f"{path}: {bound} of {metric} must be a number, got {value!r}")
            thresholds.setdefault(bound, {})[metric] = float(value)
    return thresholds


def _lookup(report: dict[str, Any], metric: str) -> tuple[bool, Any]:
    node: Any = report
    for part in metric.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def check_thresholds(report: dict[str, Any], thresholds: dict[str, dict[str, float]]) -> list[str]:
    """The thresholds the report misses, one readable line each; an empty list passes.

    >>> check_thresholds({"answers": {"overall": {"accuracy": 0.8}}},
    ...                  {"min": {"answers.overall.accuracy": 0.85}})
    ['answers.overall.accuracy = 0.800, below the minimum 0.850']
    """
    failures = []
    for bound, limits in thresholds.items():
        if bound.startswith("_"):
            continue
        for metric, limit in limits.items():
            if metric.startswith("_"):
                continue
            found, value = _lookup(report, metric)
            if not found:
                failures.append(f"{metric} is not in the report: check the path, and that the mode and k were run")
            elif value is None:
                failures.append(f"{metric} was not measured: the gold set has no questions of that kind")
            elif bound == "min" and value < limit:
                failures.append(f"{metric} = {value:.3f}, below the minimum {limit:.3f}")
            elif bound == "max" and value > limit:
                failures.append(f"{metric} = {value:.3f}, above the maximum {limit:.3f}")
    return failures
