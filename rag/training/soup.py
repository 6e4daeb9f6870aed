"""Average trained readers into one ("model soup", Wortsman et al., ICML 2022).

    python -m rag.training.soup --out rag/models/reader READER_A READER_B [--weights 0.5 0.5]

Readers fine-tuned from one parent on different data (users' paraphrases, near misses) sit close
enough in weight space for their mean to read like both: it costs nothing at run time (one
model, the same size), unlike an ensemble that reads every sentence twice. Each input is a
trained reader folder (`rag train-reader --out`); all must have the same layers. The output holds
the weighted mean (fp16, as training writes), `train_config.json` (the first input's recipe, with
every input's recipe, hash and weight under `extra.soup`) and `metrics.json` (the new hash, checked
on load). The inputs' own weights are not kept: their recipes retrain them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rag.errors import RagError
from rag.reader import WEIGHTS_FILE, file_sha256, trained_state

__all__ = ["soup"]


def soup(inputs: list[Path], out: Path, weights: list[float] | None = None) -> dict:
    """Write the weighted mean of the readers in `inputs` to `out`; returns its metrics."""
    import torch
    from safetensors.torch import save_file

    from rag.training.train_reader import recipe_of

    if len(inputs) < 2:
        raise RagError("a soup needs at least two trained readers")
    weights = list(weights) if weights else [1.0] * len(inputs)
    if len(weights) != len(inputs) or any(w <= 0 for w in weights):
        raise RagError(f"give one positive weight per reader ({len(inputs)}), got {weights}")
    total = sum(weights)
    states = [trained_state(Path(folder)) for folder in inputs]  # each checked against its hash
    keys = set(states[0][0])
    for folder, (state, _) in zip(inputs[1:], states[1:]):
        if set(state) != keys or any(state[k].shape != states[0][0][k].shape for k in keys):
            raise RagError(f"{folder} does not have the layers of {inputs[0]}: only readers trained with the "
                           "same frozen layers from the same base can be averaged")
    recipes = [asdict(recipe_of(Path(folder))) for folder in inputs]  # each readable before anything is written
    mean = {k: sum(state[k] * (w / total) for (state, _), w in zip(states, weights)) for k in sorted(keys)}
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file({k: v.to(torch.float16).contiguous() for k, v in mean.items()}, str(tmp))
    tmp.replace(out / WEIGHTS_FILE)
    config = dict(recipes[0], out=str(out))
    config["extra"] = {"soup": [{"recipe": r, "sha256": sha, "weight": w}
                                for r, (_, sha), w in zip(recipes, states, weights)]}
    (out / "train_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    metrics = {"soup": [{"from": str(folder), "sha256": sha, "weight": w}
                        for folder, (_, sha), w in zip(inputs, states, weights)],
               "sha256": file_sha256(out / WEIGHTS_FILE)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inputs", type=Path, nargs="+", help="trained reader folders")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=float, nargs="+", default=None)
    args = parser.parse_args(argv)
    try:
        metrics = soup(args.inputs, args.out, args.weights)
    except RagError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
