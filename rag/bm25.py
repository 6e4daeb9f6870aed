"""BM25 over token lists: rank-bm25's Okapi scoring, served from a sparse matrix.

Two backends give the same scores:

- ``"rank_bm25"``: `rank_bm25.BM25Okapi` itself, the reference (about 0.1 s a query at
  100k documents: it loops over every document for every query term).
- ``"sparse"``: every (document, term) weight is computed once at build time and kept in a
  scipy CSC matrix; a query adds up the columns of its terms. Same formula as rank-bm25,
  including its idf floor: a term in more than half of the documents has a negative
  idf, which rank-bm25 replaces by ``epsilon * mean(idf)`` (the mean taken over the raw
  idf of the whole vocabulary, negative values included). A query term that occurs
  twice counts twice, as in rank-bm25.

``"auto"`` is ``"sparse"``: it was faster at every size measured, 10 documents up
(`python -m rag.bench.scale backends`).

On disk an index is a directory with ``bm25.npz`` (the term-frequency matrix and the
vocabulary, no pickles) and ``bm25.json`` (parameters, format version, library versions).
Weights are recomputed on load, so one file serves either backend.

Example:

>>> index = BM25.build([["招远", "黄金"], ["环翠", "黄金", "黄金"], ["胶州"]])
>>> ids, scores = index.top_k(["黄金", "招远"], k=2)
>>> ids.tolist()
[0, 1]
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy
import scipy.sparse as sp

from rag.errors import IndexMismatchError, IndexMissingError, InputError

__all__ = ["BM25", "Backend", "FORMAT_VERSION"]

Backend = Literal["auto", "sparse", "rank_bm25"]
_BACKENDS = ("auto", "sparse", "rank_bm25")
FORMAT = "rag-bm25"
FORMAT_VERSION = 1
_NPZ, _JSON = "bm25.npz", "bm25.json"
# rank-bm25's default floor for negative idf, as a fraction of the mean idf.
EPSILON = 0.25
# Smallest collection for which "auto" picks "sparse". The sparse scorer won at every size
# measured, down to 10 documents, so "auto" always picks it.
AUTO_SPARSE_MIN_DOCS = 0


class BM25:
    """A BM25 index over documents given as token lists.

    Make one with `BM25.build` or `BM25.load`; the constructor takes the term-frequency
    matrix (documents x terms, CSR) and the vocabulary in term-id order.
    """

    def __init__(
        self,
        tf: sp.csr_matrix,
        vocab: list[str],
        *,
        k1: float,
        b: float,
        epsilon: float = EPSILON,
        backend: Backend = "auto",
    ) -> None:
        _check_params(k1, b, epsilon, backend)
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)
        self._tf = tf
        self._vocab = vocab
        self._term_id = {term: i for i, term in enumerate(vocab)}
        n_docs = tf.shape[0]
        self.backend: Literal["sparse", "rank_bm25"] = (
            "sparse" if backend == "auto" and n_docs >= AUTO_SPARSE_MIN_DOCS else backend  # type: ignore[assignment]
        )
        self._doc_len = np.asarray(tf.sum(axis=1), dtype=np.float64).ravel()
        self.idf = _okapi_idf(np.bincount(tf.indices, minlength=len(vocab)), n_docs, self.epsilon)
        self._weights: sp.csc_matrix | None = None
        self._okapi: Any = None  # rank_bm25.BM25Okapi, or None for an empty vocabulary
        if self.backend == "sparse":
            self._weights = self._weight_matrix()
        else:
            self._okapi = self._rank_bm25()

    # -- building -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        docs_tokens: list[list[str]],
        k1: float = 1.5,
        b: float = 0.75,
        backend: Backend = "auto",
        *,
        epsilon: float = EPSILON,
    ) -> BM25:
        """Index `docs_tokens` (one token list per document, e.g. from `rag.tokenize`).

        Document ids are positions in `docs_tokens`. Raises `InputError` for an empty
        collection or parameters out of range.
        """
        _check_params(k1, b, epsilon, backend)
        if len(docs_tokens) == 0:
            raise InputError("cannot build a BM25 index from 0 documents: give at least one.")
        if any(isinstance(doc, str) for doc in docs_tokens):
            raise InputError("docs_tokens must be lists of tokens, not str: tokenize the documents first.")
        tf, vocab = _term_frequencies(docs_tokens)
        return cls(tf, vocab, k1=k1, b=b, epsilon=epsilon, backend=backend)

    def _weight_matrix(self) -> sp.csc_matrix:
        """Per-(document, term) BM25 weights, as rank-bm25 computes them per query term."""
        tf = self._tf
        n_docs = tf.shape[0]
        avgdl = self._doc_len.mean()
        rows = np.repeat(np.arange(n_docs), np.diff(tf.indptr))
        freq = tf.data.astype(np.float64)
        norm = self.k1 * (1.0 - self.b + self.b * self._doc_len[rows] / avgdl)
        data = self.idf[tf.indices] * freq * (self.k1 + 1.0) / (freq + norm)
        weights = sp.csr_matrix((data, tf.indices, tf.indptr), shape=tf.shape)
        return weights.tocsc()

    def _rank_bm25(self) -> Any:
        try:
            from rank_bm25 import BM25Okapi
        except ImportError as exc:  # pragma: no cover - rank-bm25 is a dependency
            raise InputError(
                "the rank_bm25 backend needs rank-bm25: pip install rank-bm25"
            ) from exc
        if not self._vocab:  # BM25Okapi divides by the vocabulary size
            return None
        docs = []  # term order inside a document does not change BM25
        for row in range(self._tf.shape[0]):
            start, end = self._tf.indptr[row], self._tf.indptr[row + 1]
            terms = self._tf.indices[start:end]
            counts = self._tf.data[start:end]
            docs.append([self._vocab[t] for t, c in zip(terms, counts) for _ in range(c)])
        return BM25Okapi(docs, k1=self.k1, b=self.b, epsilon=self.epsilon)

    # -- querying ---------------------------------------------------------------------

    def __len__(self) -> int:
        return self._tf.shape[0]

    @property
    def vocab_size(self) -> int:
        return len(self._vocab)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """One BM25 score per document (float64); zeros for an empty or unknown query."""
        _check_query(query_tokens)
        n_docs = len(self)
        if self.backend == "rank_bm25":
            if self._okapi is None or not query_tokens:
                return np.zeros(n_docs)
            # With b == 1 rank-bm25 computes 0/0 = nan for an empty document; it scores 0.
            with np.errstate(invalid="ignore"):
                raw = self._okapi.get_scores(query_tokens)
            return np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=0.0)
        counts = Counter(self._term_id[t] for t in query_tokens if t in self._term_id)
        if not counts:
            return np.zeros(n_docs)
        terms = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        weights = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        # The query's columns times how often each term occurs in the query. Slicing CSC
        # columns and one sparse mat-vec beat a Python loop of fancy-index += by 10x.
        assert self._weights is not None
        return np.asarray(self._weights[:, terms] @ weights, dtype=np.float64)

    def top_k(self, query_tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best documents: (ids, scores), best first, ties broken by lower id.

        Documents that share no term with the query (score 0) are left out, so fewer
        than `k` come back when fewer documents match.
        """
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k <= 0:
            raise InputError(f"k must be a positive integer, got {k!r}")
        scores = self.scores(query_tokens)
        n_docs = len(scores)
        # The k-th best value. Partitioning the negated scores at k-1 is over 10x faster
        # than partitioning at n-k: the many zeros then sit on the far side (100k documents:
        # 0.2 ms instead of 3 ms).
        kth = -np.partition(-scores, k - 1)[k - 1] if k < n_docs else 0.0
        # Above 0, every document scoring at least the k-th best value (ties included);
        # otherwise fewer than k documents score above 0 and every match is a candidate.
        candidates = np.flatnonzero(scores >= kth) if kth > 0 else np.flatnonzero(scores)
        order = np.lexsort((candidates, -scores[candidates]))[:k]
        ids = candidates[order].astype(np.int64)
        return ids, scores[ids]

    # -- persistence --------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write ``bm25.npz`` and ``bm25.json`` into `directory` (created if missing)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        encoded = [t.encode("utf-8") for t in self._vocab]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        np.savez(
            directory / _NPZ,
            tf_data=self._tf.data,
            tf_indices=self._tf.indices,
            tf_indptr=self._tf.indptr,
            vocab_bytes=np.frombuffer(b"".join(encoded), dtype=np.uint8),
            vocab_offsets=offsets,
        )
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "k1": self.k1,
            "b": self.b,
            "epsilon": self.epsilon,
            "n_docs": len(self),
            "vocab_size": self.vocab_size,
            "versions": _library_versions(),
        }
        (directory / _JSON).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, backend: Backend = "auto") -> BM25:
        """Read an index written by `save`. Raises `IndexMissingError` or `IndexMismatchError`."""
        directory = Path(directory)
        if not (directory / _JSON).is_file() or not (directory / _NPZ).is_file():
            raise IndexMissingError(
                f"no BM25 index in {directory} (expected {_JSON} and {_NPZ}): build the index first."
            )
        meta = json.loads((directory / _JSON).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the BM25 index in {directory} has format {meta.get('format')!r} version "
                f"{meta.get('format_version')!r}; this code reads {FORMAT!r} version "
                f"{FORMAT_VERSION}: rebuild the index."
            )
        with np.load(directory / _NPZ, allow_pickle=False) as npz:
            n_docs, vocab_size = int(meta["n_docs"]), int(meta["vocab_size"])
            tf = sp.csr_matrix(
                (npz["tf_data"], npz["tf_indices"], npz["tf_indptr"]), shape=(n_docs, vocab_size)
            )
            raw, offsets = npz["vocab_bytes"].tobytes(), npz["vocab_offsets"]
        vocab = [raw[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(vocab_size)]
        return cls(tf, vocab, k1=meta["k1"], b=meta["b"], epsilon=meta["epsilon"], backend=backend)


def _term_frequencies(docs_tokens: list[list[str]]) -> tuple[sp.csr_matrix, list[str]]:
    """Documents x terms counts (CSR, int32, sorted columns) and the vocabulary in id order."""
    term_id: dict[str, int] = {}
    get = term_id.setdefault
    # setdefault's default is evaluated first, so a new term gets the next free id.
    cols = np.fromiter(
        (get(t, len(term_id)) for doc in docs_tokens for t in doc), dtype=np.int32
    )
    lengths = np.fromiter((len(doc) for doc in docs_tokens), dtype=np.int64, count=len(docs_tokens))
    rows = np.repeat(np.arange(len(docs_tokens), dtype=np.int32), lengths)
    tf = sp.coo_matrix(
        (np.ones(len(cols), dtype=np.int32), (rows, cols)), shape=(len(docs_tokens), len(term_id))
    ).tocsr()  # sums the duplicates: term frequencies
    tf.sort_indices()
    return tf, list(term_id)


def _okapi_idf(df: np.ndarray, n_docs: int, epsilon: float) -> np.ndarray:
    """rank-bm25's BM25Okapi idf: log((N - df + .5) / (df + .5)), negatives floored."""
    idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
    if len(idf):
        idf[idf < 0] = epsilon * idf.mean()
    return idf


def _check_params(k1: float, b: float, epsilon: float, backend: str) -> None:
    # k1 == 0 is left out: rank-bm25 then computes 0/0 for every document without a term.
    if not (isinstance(k1, (int, float)) and math.isfinite(k1) and k1 > 0):
        raise InputError(f"k1 must be a finite number > 0, got {k1!r}")
    if not (isinstance(b, (int, float)) and 0 <= b <= 1):
        raise InputError(f"b must be between 0 and 1, got {b!r}")
    if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon)):
        raise InputError(f"epsilon must be a finite number, got {epsilon!r}")
    if backend not in _BACKENDS:
        raise InputError(f"backend must be one of {', '.join(_BACKENDS)}; got {backend!r}")


def _check_query(query_tokens: list[str]) -> None:
    if isinstance(query_tokens, str):
        raise InputError("query_tokens must be a list of tokens, not a str: tokenize the query first.")


def _library_versions() -> dict[str, str]:
    versions = {"numpy": np.__version__, "scipy": scipy.__version__}
    try:
        from importlib.metadata import version

        versions["rank_bm25"] = version("rank-bm25")
    except Exception:  # pragma: no cover - only provenance
        pass
    return versions
