"""BM25 as sparse vectors, for stores that rank sparse vectors by inner product (Milvus).

Okapi BM25 splits into a document part and a query part::

    score(q, d) = sum over terms t of  [idf(t) * qtf(t)]  x  [tf (k1 + 1) / (tf + k1 (1 - b + b |d| / avgdl))]
                                        query vector          document vector ("tf part")

so a chunk is written once as its tf part, and a query becomes idf x query term count, with
idf taken from a table of document frequencies this module keeps (`BM25Stats`: df per term,
N, total length). The inner product of the two is the score `rag.bm25` computes with the same
formula (rank-bm25's Okapi idf, negative idf floored at epsilon x the mean idf), so ranking
does not depend on the store, and the project's own tokenizer (`rag.tokenize`) stays in use.
Milvus's built-in BM25 function was not used: it keeps punctuation and computes idf per
segment (top-10 overlap with this scorer 0.87-0.89, against 0.99 for these vectors).

Simplifications, said plainly:
- Term ids are a 32-bit hash of the token (sha256, not Python's salted `hash()`), so workers
  need no shared vocabulary. Two tokens can share an id (about a hundred pairs in a
  million-term vocabulary); they then count as one term.
- The document part depends on avgdl. A fresh build writes every chunk with the final avgdl;
  an update writes new chunks with the avgdl recorded at the last full write
  (`avgdl_written`), and the caller rewrites every chunk when the true avgdl has drifted by
  more than `REWEIGH_DRIFT`.
- Id 0 is reserved: a chunk without tokens is written as {0: 1e-6} (milvus-lite rejects an
  all-zero sparse row); queries never contain id 0, so it never scores.

    >>> stats = BM25Stats()
    >>> for tokens in (["招远", "黄金"], ["环翠", "黄金", "黄金"], ["胶州"]):
    ...     stats.add(tokens)
    >>> q = stats.query_vector(["招远"])
    >>> d = stats.doc_vector(["招远", "黄金"])
    >>> round(sum(w * d.get(t, 0.0) for t, w in q.items()), 4)
    0.5108
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.bm25 import EPSILON
from rag.errors import IndexMismatchError

__all__ = ["BM25Stats", "EMPTY_ROW", "REWEIGH_DRIFT", "term_id"]

FORMAT = "rag-bm25-stats"
FORMAT_VERSION = 1
RESERVED_ID = 0
EMPTY_ROW = {RESERVED_ID: 1e-6}  # what a chunk without tokens is written as (see the module docstring)
# Rewrite every chunk's document part when avgdl moved by more than this since it was written:
# 5% moves a BM25 tf part by at most ~3% (k1 = 1.5, b = 0.75), below what reorders a top 10 here.
REWEIGH_DRIFT = 0.05
_ID_SPACE = 2**32 - 2  # ids 1 .. 2**32 - 2; Milvus takes sparse indices below 2**32 - 1


@lru_cache(maxsize=1 << 20)  # a token recurs in many chunks: hash each once (about 1M distinct words fit)
def term_id(token: str) -> int:
    """A token's stable sparse dimension: the first 4 bytes of its sha256, in 1 .. 2**32 - 2."""
    return 1 + int.from_bytes(hashlib.sha256(token.encode("utf-8")).digest()[:4], "little") % _ID_SPACE


@dataclass
class BM25Stats:
    """Document frequencies, document count and total length of the chunks written so far."""

    k1: float = 1.5
    b: float = 0.75
    epsilon: float = EPSILON
    n_docs: int = 0
    total_len: int = 0
    df: Counter = field(default_factory=Counter)
    avgdl_written: float | None = None  # the avgdl the stored document parts were computed with
    _idf: dict[int, float] | None = field(default=None, repr=False, compare=False)

    @property
    def avgdl(self) -> float:
        return self.total_len / self.n_docs if self.n_docs else 1.0

    def add(self, tokens: list[str]) -> None:
        self.n_docs += 1
        self.total_len += len(tokens)
        self.df.update({term_id(t) for t in tokens})
        self._idf = None

    def drift(self) -> float:
        """How far avgdl moved since the document parts were written (0.0 = not at all)."""
        if not self.avgdl_written:
            return 0.0
        return abs(self.avgdl / self.avgdl_written - 1.0)

    def doc_vector(self, tokens: list[str], avgdl: float | None = None) -> dict[int, float]:
        """The chunk's tf part per term id (never empty: see EMPTY_ROW)."""
        if not tokens:
            return dict(EMPTY_ROW)
        avgdl = avgdl or self.avgdl_written or self.avgdl
        norm = self.k1 * (1.0 - self.b + self.b * len(tokens) / avgdl)
        counts = Counter(term_id(t) for t in tokens)
        return {tid: tf * (self.k1 + 1.0) / (tf + norm) for tid, tf in counts.items()}

    def idf_map(self) -> dict[int, float]:
        """rank-bm25's Okapi idf for every known term, negative values floored (as rag.bm25)."""
        if self._idf is None:
            ids = np.fromiter(self.df.keys(), dtype=np.int64, count=len(self.df))
            df = np.fromiter(self.df.values(), dtype=np.float64, count=len(self.df))
            idf = np.log(self.n_docs - df + 0.5) - np.log(df + 0.5)
            if len(idf):
                idf[idf < 0] = self.epsilon * idf.mean()
            self._idf = dict(zip(ids.tolist(), idf.tolist()))
        return self._idf

    def query_vector(self, tokens: list[str]) -> dict[int, float]:
        """idf x how often each term occurs in the query; {} when no term is known."""
        idf = self.idf_map()
        counts = Counter(term_id(t) for t in tokens)
        return {tid: idf[tid] * n for tid, n in counts.items() if tid in idf and idf[tid] != 0.0}

    # -- persistence: bm25_stats.npz (term ids and df) + bm25_stats.json (parameters) ----------

    def save(self, folder: Path, stem: str = "bm25_stats") -> list[Path]:
        folder = Path(folder)
        ids = np.fromiter(self.df.keys(), dtype=np.uint32, count=len(self.df))
        counts = np.fromiter(self.df.values(), dtype=np.int64, count=len(self.df))
        npz, meta = folder / f"{stem}.npz", folder / f"{stem}.json"
        with npz.open("wb") as handle:
            np.savez(handle, term_ids=ids, df=counts)
        meta.write_text(json.dumps({
            "format": FORMAT, "format_version": FORMAT_VERSION, "k1": self.k1, "b": self.b,
            "epsilon": self.epsilon, "n_docs": self.n_docs, "total_len": self.total_len,
            "avgdl_written": self.avgdl_written, "terms": len(self.df),
        }, indent=2) + "\n", encoding="utf-8")
        return [npz, meta]

    @classmethod
    def load(cls, folder: Path, stem: str = "bm25_stats") -> BM25Stats:
        folder = Path(folder)
        try:
            meta = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
            with np.load(folder / f"{stem}.npz", allow_pickle=False) as npz:
                df = Counter(dict(zip(npz["term_ids"].astype(np.int64).tolist(), npz["df"].tolist())))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexMismatchError(f"the BM25 table in {folder} is missing or damaged ({exc})") from exc
        if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
            raise IndexMismatchError(
                f"the BM25 table in {folder} has format {meta.get('format')!r} version {meta.get('format_version')!r}, "
                f"this code reads {FORMAT!r} version {FORMAT_VERSION}"
            )
        if not math.isfinite(meta["k1"]) or len(df) != meta["terms"]:
            raise IndexMismatchError(f"the BM25 table in {folder} is damaged ({len(df)} terms, {meta['terms']} recorded)")
        return cls(meta["k1"], meta["b"], meta["epsilon"], meta["n_docs"], meta["total_len"], df, meta["avgdl_written"])
