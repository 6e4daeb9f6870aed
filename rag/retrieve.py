"""Hybrid retrieval: a dense leg (FAISS) and a lexical leg (BM25 over jieba tokens), fused.

Fusion is reciprocal rank fusion by default (robust to the two legs' incomparable score
scales); weighted score fusion is the option for corpora where one leg should lead.
Near-duplicate chunks (the same paragraph printed twice) are dropped before the top-k cut.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date

import numpy as np

from rag.embedders import Embedder
from rag.errors import InputError
from rag.index import Index
from rag.tokenize import tokenize
from rag.config import DEFAULT_TOP_K, RetrievalConfig
from rag.profile import active as active_profile
from rag.types import MODES, Article, Chunk, Hit, RetrievalMode

__all__ = ["Filters", "MODES", "fuse_rrf", "fuse_weighted", "query_tokens", "search"]

# The fusion constant, the candidate pool and the duplicate threshold are explained where they
# are defined: rag.config.RetrievalConfig.


def _is_date(value: object) -> bool:
    """A real calendar date written YYYY-MM-DD ("2024-13-99" is not one)."""
    if not (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclass
class Filters:
    """Optional restrictions: corpus file names, an ISO date range, a place named in the text."""

    sources: list[str] | None = None
    date_from: str | None = None
    date_to: str | None = None
    place: str | None = None
    publications: list[str] | None = None  # the newspaper (Article.publication)

    @classmethod
    def from_dict(cls, data: dict | None) -> Filters | None:
        if not data:
            return None
        unknown = set(data) - {"sources", "source", "date_from", "date_to", "place", "publication", "publications"}
        if unknown:
            raise InputError(
                f"unknown filter(s) {sorted(unknown)}: use sources, date_from, date_to (YYYY-MM-DD), place, "
                "publication"
            )
        sources = data.get("sources") or ([data["source"]] if data.get("source") else None)
        publications = data.get("publications") or ([data["publication"]] if data.get("publication") else None)
        if publications is not None and not (
            isinstance(publications, list) and all(isinstance(p, str) for p in publications)
        ):
            raise InputError(f"publication must be a newspaper name (or publications a list of them), got {publications!r}")
        filters = cls(sources, data.get("date_from"), data.get("date_to"), data.get("place"), publications)
        for name in ("date_from", "date_to"):
            value = getattr(filters, name)
            if value is not None and not _is_date(value):
                raise InputError(f"{name} must be a date in the form YYYY-MM-DD, such as 2023-01-31; got {value!r}")
        return filters

    def mask(self, chunks: list[Chunk], articles: dict[str, Article] | None = None) -> np.ndarray:
        keep = np.ones(len(chunks), dtype=bool)
        for i, chunk in enumerate(chunks):
            if self.sources and chunk.source not in self.sources:
                keep[i] = False
            elif self.publications and (
                articles is None or getattr(articles.get(chunk.article_id), "publication", None) not in self.publications
            ):
                keep[i] = False
            elif (self.date_from or self.date_to) and not chunk.date:
                keep[i] = False
            elif self.date_from and chunk.date < self.date_from:  # type: ignore[operator]
                keep[i] = False
            elif self.date_to and chunk.date[: len(self.date_to)] > self.date_to:  # type: ignore[index]
                keep[i] = False
            elif self.place and self.place not in chunk.title + chunk.heading + chunk.text:
                keep[i] = False
        return keep


def _grams(text: str) -> set[str]:
    text = "".join(text.split())
    return {text[i : i + 4] for i in range(max(1, len(text) - 3))}


def _is_duplicate(grams: set[str], kept: list[set[str]], threshold: float) -> bool:
    for other in kept:
        union = len(grams | other)
        if union and len(grams & other) / union >= threshold:
            return True
    return False


def fuse_rrf(rankings: list[tuple[np.ndarray, float]], k: int = RetrievalConfig.rrf_k) -> dict[int, float]:
    """Weighted reciprocal rank fusion: sum over legs of weight / (k + rank), rank from 1.

    >>> fuse_rrf([(np.array([7, 3]), 1.0), (np.array([3]), 1.0)], k=60)
    {7: 0.01639344262295082, 3: 0.03252247488101534}
    """
    fused: dict[int, float] = {}
    for positions, weight in rankings:
        for rank, pos in enumerate(positions.tolist()):
            fused[pos] = fused.get(pos, 0.0) + weight / (k + rank + 1)
    return fused


def fuse_weighted(legs: list[tuple[np.ndarray, np.ndarray, float]]) -> dict[int, float]:
    """Sum over legs of weight x the leg's score min-max normalised to [0, 1] (all equal: 0)."""
    fused: dict[int, float] = {}
    for positions, scores, weight in legs:
        if len(scores) == 0:
            continue
        low, high = float(scores.min()), float(scores.max())
        span = high - low or 1.0
        for pos, score in zip(positions.tolist(), scores.tolist()):
            fused[pos] = fused.get(pos, 0.0) + weight * (score - low) / span
    return fused


def query_tokens(query: str) -> list[str]:
    """The query's BM25 tokens, plus those of the press's words for its everyday ones (the
    active profile's synonyms: "GDP" also searches 生产总值, "高企" 高新技术企业)."""
    tokens = tokenize(query)
    own = set(tokens)
    for word, alternatives in active_profile().synonyms.items():
        if word in query if len(word) > 1 else word in own:  # "电" in 电商 is no 电力
            for alternative in alternatives:
                tokens += tokenize(alternative)
    return tokens


def search(
    index: Index,
    embedder: Embedder,
    query: str,
    top_k: int = DEFAULT_TOP_K,
    mode: RetrievalMode = "hybrid",
    filters: Filters | None = None,
    config: RetrievalConfig | None = None,
) -> tuple[list[Hit], dict[str, float]]:
    """The top_k chunks for a query, with per-stage timings in milliseconds.

    `config` sets fusion, its constant, the pool and the duplicate threshold; its dense_weight,
    when None, is the active corpus profile's."""
    cfg = config or RetrievalConfig()
    fusion = cfg.fusion
    dense_weight = cfg.dense_weight if cfg.dense_weight is not None else active_profile().dense_weight
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if top_k < 1:
        raise InputError(f"top_k must be >= 1, got {top_k}")
    timings: dict[str, float] = {}
    allowed = index.allowed(filters) if filters else None  # a mask, or the filters for a store that filters
    pool = max(cfg.candidates, top_k * 4)
    legs_ranked: list[tuple[np.ndarray, float]] = []
    legs_scored: list[tuple[np.ndarray, np.ndarray, float]] = []
    scores_by_leg: dict[str, dict[int, float]] = {}
    if mode in ("hybrid", "dense"):
        started = time.perf_counter()
        vector = embedder.embed_queries([query])[0]
        timings["embed_ms"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        positions, scores = index.dense_search(vector, pool, allowed)
        timings["dense_ms"] = (time.perf_counter() - started) * 1000
        legs_ranked.append((positions, dense_weight * 2 if fusion == "rrf" else dense_weight))
        legs_scored.append((positions, scores, dense_weight))
        scores_by_leg["dense"] = dict(zip(positions.tolist(), scores.tolist()))
    if mode in ("hybrid", "bm25"):
        started = time.perf_counter()
        positions, scores = index.bm25_search(query_tokens(query), pool, allowed)
        timings["bm25_ms"] = (time.perf_counter() - started) * 1000
        legs_ranked.append((positions, (1 - dense_weight) * 2))
        legs_scored.append((positions, scores, 1 - dense_weight))
        scores_by_leg["bm25"] = dict(zip(positions.tolist(), scores.tolist()))

    started = time.perf_counter()
    if mode == "hybrid":
        fused = fuse_rrf(legs_ranked, cfg.rrf_k) if fusion == "rrf" else fuse_weighted(legs_scored)
    else:
        fused = scores_by_leg[mode]
    order = sorted(fused, key=lambda pos: (-fused[pos], pos))
    hits: list[Hit] = []
    kept: list[set[str]] = []
    for pos in order:
        chunk = index.chunks[pos]
        grams = _grams(chunk.text)
        if _is_duplicate(grams, kept, cfg.duplicate_jaccard):
            continue
        kept.append(grams)
        hits.append(
            Hit(chunk.id, chunk.article_id, chunk.title, chunk.date, chunk.source, chunk.text, round(fused[pos], 6))
        )
        if len(hits) == top_k:
            break
    timings["fuse_ms"] = (time.perf_counter() - started) * 1000
    return hits, timings
