"""Choose the reader's policy (thresholds and vetoes) on the dev split, and store it beside the weights.

    python -m rag.training.calibrate --index-dir index        # writes rag/models/reader/policy.json

Each dev question is asked once per policy on a grid; the reader's scores are cached, so a policy
costs retrieval and rule checks only. The objective follows the product's priorities: a right
answer or a right refusal counts 1, a wrong answer (or an answer where a refusal was due) costs
WRONG_COST, a refusal of an answerable question counts 0. Only `split == "dev"` items are read:
the test split is never used here.

Two dev sets, weighed alike (the mean of their utilities): the dev split of the project's own
question files, and `--mrc-dev` questions over DRCD/CMRC passages the reader never trained on
(none of them in the sample `rag eval --dataset mrc` measures). The rule checks were tuned on the
first, so on it alone a policy never needs the reader to overrule them; the second, written by
other people, shows what overruling buys on questions the rules never saw.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

from rag.engine import Engine
from rag.eval.evaluate import _answer_correct
from rag.eval.gold import DEV_SETS, EVAL_SETS, GoldItem, load_gold
from rag.reader import READER_DIR, ReaderPolicy

__all__ = ["calibrate", "mrc_dev_set", "reader_eval_parser"]

WRONG_COST = 1.5  # a wrong figure is worse than a refusal (the developers' guide)
GRID = {
    # The reader ranks well but its probabilities run low on paraphrased questions (the answering
    # sentence often scores 0.02-0.05 and still ranks first), so the grid reaches low thresholds.
    # (a sharper model puts paraphrased answers far lower still: the grid reaches 0)
    "accept": (0.0, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.08, 0.2, 0.4),
    "extra": (0.5, 0.9),
    "vetoes": (
        ("entity", "year", "ordinal", "period", "unit"),
        ("entity", "year", "ordinal", "period", "unit", "answer_type"),
        ("entity", "year", "ordinal", "period", "unit", "answer_type", "metric"),
    ),
    # the other checks: overruled by a reader this confident (0: always; above 1: never)
    "override": (0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.01),
}

POOLS = (8, 12, 16)  # smaller pools tried once the rest of the policy is chosen, smallest first
POOL_TOLERANCE = 0.005  # dev utility a smaller pool may give up (about one question in 200)


class _CachedReader:
    def __init__(self, reader) -> None:
        self._reader = reader
        self._cache: dict[tuple, float] = {}
        self.id = reader.id

    def score(self, question, items):
        import numpy as np

        todo = [it for it in items if (question, *it) not in self._cache]
        if todo:
            for it, p in zip(todo, self._reader.score(question, todo)):
                self._cache[(question, *it)] = float(p)
        return np.array([self._cache[(question, *it)] for it in items], np.float32)


def _outcome(item, answer) -> str:
    if not item.answerable:
        return "right" if answer.refused else "wrong"
    if answer.refused:
        return "refused"
    return "right" if _answer_correct(answer.parts, item.answers, item.match) else "wrong"


def _cached(engine: Engine) -> Engine:
    """The engine with the reader's scores and the searches remembered: a policy changes neither."""
    engine.reader = _CachedReader(engine.reader)
    searched: dict[tuple, tuple] = {}
    search = engine.search_timed

    def cached_search(query, top_k=5, mode="hybrid", filters=None, question=None):
        key = (query, top_k, mode, repr(filters))
        if key not in searched:
            searched[key] = search(query, top_k, mode, filters, question)
        hits, timings = searched[key]
        return list(hits), dict(timings)

    engine.search_timed = cached_search  # type: ignore[method-assign]
    return engine


def mrc_dev_set(mrc_dir: Path, questions: int, work_dir: Path, reader_dir: Path | None = None
                ) -> tuple[Engine, list[GoldItem]]:
    """An engine over the held-out DRCD/CMRC passages and `questions` of their dev part, as gold items."""
    from rag.embedders import make_embedder
    from rag.eval.evaluate import held_out_mrc
    from rag.index import build_index

    corpus, qa = held_out_mrc(mrc_dir, work_dir / "data", questions, part="dev")
    build_index(corpus, work_dir / "index", make_embedder("e5"), progress=False)
    engine = Engine.open(work_dir / "index", composer="learned", reader_dir=reader_dir)
    rows = [json.loads(line) for line in qa.read_text(encoding="utf-8").splitlines() if line.strip()]
    return engine, [GoldItem(r["id"], "fact", r["question"], list(r["answers"]), [], "", split="dev") for r in rows]


def calibrate(index_dir: Path, gold: list[Path], reader_dir: Path | None = None,
              extra: list[tuple[Engine, list[GoldItem]]] = ()) -> dict:
    """The best policy on the dev split of `gold` (over the index) and on each `extra` (engine, items)."""
    engine = _cached(Engine.open(index_dir, composer="learned", reader_dir=reader_dir))
    sets = [(engine, [i for path in gold for i in load_gold(path) if i.split == "dev"])]
    sets += [(_cached(e), items) for e, items in extra]
    base = ReaderPolicy.load(reader_dir)
    measured = [(policy, _measure_sets(sets, policy)) for policy in (
        replace(base, accept=accept, extra=extra_share, vetoes=vetoes, override=override)
        for accept, extra_share, vetoes, override in itertools.product(GRID["accept"], GRID["extra"],
                                                                       GRID["vetoes"], GRID["override"]))]
    measured.sort(key=lambda pr: -pr[1]["utility"])  # stable: ties keep the grid's order
    results = [r for _, r in measured]
    best_policy, best = measured[0]
    # Speed: the smallest pool of sentences read that keeps the best utility (the reader's cost
    # grows with the pool; /ask's p50 target is 250 ms on 2 cores).
    for pool in sorted(p for p in POOLS if p < best_policy.pool):
        candidate = _measure_sets(sets, replace(best_policy, pool=pool))
        if candidate["utility"] >= best["utility"] - POOL_TOLERANCE:
            best = candidate
            break
    return {"dev_questions": sum(len(items) for _, items in sets), "best": best, "top": results[:10]}


def _measure_sets(sets: list[tuple[Engine, list[GoldItem]]], policy: ReaderPolicy) -> dict:
    """The policy on each dev set; its utility and rates are the mean over the sets."""
    each = [_measure(engine, items, policy) for engine, items in sets]
    out = {k: round(sum(r[k] for r in each) / len(each), 4) for k in ("utility", "accuracy", "false_refusal")}
    out["refusal"] = each[0]["refusal"]  # only the project's own set has unanswerable questions
    return {"policy": policy.to_dict(), **out, "sets": [{k: v for k, v in r.items() if k != "policy"} for r in each]}


def _measure(engine, items, policy: ReaderPolicy) -> dict:
    engine.policy = policy
    outcomes = [_outcome(i, engine.ask(i.question, history=i.history or None)) for i in items]
    right, wrong = outcomes.count("right"), outcomes.count("wrong")
    answerable = [o for i, o in zip(items, outcomes) if i.answerable]
    return {
        "policy": policy.to_dict(),
        "utility": round((right - WRONG_COST * wrong) / len(items), 4),
        "accuracy": round(answerable.count("right") / max(1, len(answerable)), 4),
        "false_refusal": round(answerable.count("refused") / max(1, len(answerable)), 4),
        "refusal": round(sum(o == "right" for i, o in zip(items, outcomes) if not i.answerable)
                         / max(1, sum(not i.answerable for i in items)), 4),
    }


def reader_eval_parser(description: str) -> argparse.ArgumentParser:
    """The options the reader's dev-split tools share: the index, the reader, the gold files."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--index-dir", type=Path, default=Path("index"))
    parser.add_argument("--reader-dir", type=Path, default=None)
    parser.add_argument("--gold", type=Path, nargs="+", default=list(EVAL_SETS + DEV_SETS))
    return parser


def main() -> None:
    import tempfile

    parser = reader_eval_parser(__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the best policy as policy.json")
    parser.add_argument("--mrc-dev", type=int, default=200,
                        help="DRCD/CMRC dev questions to weigh beside the project's dev split (0: none)")
    parser.add_argument("--mrc-dir", type=Path, default=Path("../shared/data/mrc"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rag-calibrate-") as work:
        extra = [mrc_dev_set(args.mrc_dir, args.mrc_dev, Path(work), args.reader_dir)] if args.mrc_dev else []
        report = calibrate(args.index_dir, args.gold, args.reader_dir, extra)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.write:
        folder = args.reader_dir or READER_DIR
        sets = f"dev split and {args.mrc_dev} DRCD/CMRC dev questions" if args.mrc_dev else "dev split"
        policy = dict(report["best"]["policy"], chosen_on=f"{sets}, {report['dev_questions']} questions",
                      dev=dict((k, report["best"][k]) for k in ("utility", "accuracy", "false_refusal", "refusal")))
        (folder / "policy.json").write_text(json.dumps(policy, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
