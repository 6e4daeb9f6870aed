"""The ablation the reader is judged by: rules only, learned only, learned + checks; dev and test apart.

    python -m rag.training.ablation --index-dir index             # prints a Markdown table

Every configuration answers the same questions through the same engine (same index, same
retrieval); only the composer differs. "learned only" is the calibrated policy with no check vetoing or needing an override.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from rag.engine import Engine
from rag.eval.evaluate import run_eval
from rag.eval.gold import load_gold
from rag.training.calibrate import reader_eval_parser

__all__ = ["ablation"]

COLUMNS = (("accuracy", "accuracy"), ("false_refusal_rate", "false refusal"), ("refusal_rate", "refusal"),
           ("citation_support", "citation support"))


def ablation(index_dir: Path, gold: list[Path], reader_dir: Path | None = None) -> dict[str, dict]:
    engine = Engine.open(index_dir, composer="learned", reader_dir=reader_dir)
    reader, policy = engine.reader, engine.policy
    items, groups = [], {}
    for path in gold:
        for item in load_gold(path):
            items.append(item)
            groups[item.id] = f"{path.stem}/{item.split or 'all'}"
    configs = {"rules only": (None, None), "learned only": (reader, replace(policy, vetoes=(), override=0.0)),
               "learned + checks": (reader, policy)}
    out = {}
    for name, (engine.reader, engine.policy) in configs.items():
        report = run_eval(engine, items, modes=("hybrid",), progress=False, groups=groups)
        out[name] = {"answers": report["answers"]["by_group"],
                     "retrieval": report["retrieval"]["hybrid"]["by_group"],
                     "ask_ms": report["timings_ms"]["ask"]}
    return out


def to_markdown(result: dict[str, dict]) -> str:
    groups = sorted({g for r in result.values() for g in r["answers"]})
    lines = ["| composer | set/split | n | " + " | ".join(label for _, label in COLUMNS) + " |",
             "|---|---|---|" + "---|" * len(COLUMNS)]
    for name, r in result.items():
        for g in groups:
            b = r["answers"][g]
            cells = ["–" if b[k] is None else f"{b[k]:.3f}" for k, _ in COLUMNS]
            lines.append(f"| {name} | {g} | {b['n']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = reader_eval_parser(__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    result = ablation(args.index_dir, args.gold, args.reader_dir)
    print(to_markdown(result))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()
