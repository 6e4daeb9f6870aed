"""Measurements for the lexical leg: retrieval quality on the corpus, speed at scale.

Run as a module (``python -m rag.bench.scale ...``; running the file directly would let
``rag/tokenize.py`` shadow the standard library's ``tokenize``). Each command prints JSON:

    python -m rag.bench.scale eval                      # hit@k of tokenizer variants on the corpus
    python -m rag.bench.scale backends                  # sparse vs rank_bm25 at small sizes ("auto")
    python -m rag.bench.scale scale --sizes 1000 10000 100000   # tokenise, build and query at scale

The scale numbers use `/work/shared/data/crud_news.jsonl.gz` (68k news articles, CRUD-RAG),
cut by the production chunker (`rag.chunking`). Its `title` field is empty in every line, so the
queries are the opening clauses of 50 articles (the words a headline would use).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import re
import statistics
import sys
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rag import tokenize as tok
from rag.bm25 import BM25, Backend
from rag.chunking import chunk_article, chunk_articles
from rag.types import Article

__all__ = [
    "NEWS_PATH",
    "bm25_latency",
    "corpus_passages",
    "lexical_eval",
    "load_news_chunks",
    "load_news_queries",
    "load_questions",
    "tokenize_many",
]

# The shared data folder sits beside the project root (../shared), here and in CI.
NEWS_PATH = Path(
    os.environ.get(
        "RAG_NEWS_PATH", Path("..") / "shared" / "data" / "crud_news.jsonl.gz"
    )
)
CORPUS_DIR = Path("corpus")  # relative to the working directory (the project root)
QUESTIONS_PATH = Path(__file__).resolve().parent.parent / "data" / "lexical_questions.jsonl"  # package data


# -- splitting: the production chunker (rag.chunking), so the benchmark measures what is served


def _chunk_texts(article_id: str, title: str, paragraphs: list[str]) -> list[str]:
    article = Article(article_id, title, None, article_id, [p for p in paragraphs if p.strip()])
    return [chunk.context_text() for chunk in chunk_article(article)]


def load_news_chunks(n_chunks: int, path: Path = NEWS_PATH) -> list[str]:
    """The first `n_chunks` chunks of the news file, in file order, cut by `rag.chunking`
    (the chunker the index uses: paragraphs packed up to its chunk size, with headings).

    Streams the gzip file and stops reading once it has enough.
    """
    chunks: list[str] = []
    for i, article in enumerate(_news_articles(path)):
        chunks.extend(_chunk_texts(f"news{i}", article.get("title") or "", article["text"].split("\n")))
        if len(chunks) >= n_chunks:
            break
    return chunks[:n_chunks]


def load_news_queries(n: int = 50, path: Path = NEWS_PATH, every: int = 97) -> list[str]:
    """`n` headline-like queries: the opening clause (<= 40 chars) of every `every`-th article.

    The file's titles are all empty, so an article's opening words stand in for them.
    """
    queries: list[str] = []
    for i, article in enumerate(_news_articles(path)):
        if i % every:
            continue
        opening = re.split(r"[。！？，,]", article["text"].strip(), maxsplit=1)[0][:40]
        if len(opening) >= 8:
            queries.append(opening)
        if len(queries) == n:
            break
    return queries


def _news_articles(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


# -- scale -------------------------------------------------------------------------------

_token_cache: dict[str, list[list[str]]] = {}


def tokenize_many(texts: list[str]) -> list[list[str]]:
    """`tokenize` over `texts`, remembering the last result (benchmarks call it per backend)."""
    return _tokenize_cached(texts)[0]


def _tokenize_cached(texts: list[str]) -> tuple[list[list[str]], bool]:
    key = hashlib.sha256("\x1e".join(texts).encode("utf-8")).hexdigest() + tok.tokenizer_id()
    hit = key in _token_cache
    if not hit:
        _token_cache.clear()
        _token_cache[key] = [tok.tokenize(t) for t in texts]
    return _token_cache[key], hit


def bm25_latency(
    texts: list[str], queries: list[str], backend: Backend, *, k: int = 10, repeat: int = 1
) -> dict[str, float]:
    """Build a BM25 index over `texts` and time `top_k(query, k)` for every query.

    Returns p50_ms and p95_ms (query tokens ready, scoring and ranking only), build_s (from
    token lists to a queryable index), plus tokenize_s and chars_per_s for the texts (0 when
    the token lists came from the cache of the previous call with the same texts).
    """
    t0 = time.perf_counter()
    docs_tokens, cached = _tokenize_cached(texts)
    tokenize_s = 0.0 if cached else time.perf_counter() - t0
    t0 = time.perf_counter()
    index = BM25.build(docs_tokens, backend=backend)
    build_s = time.perf_counter() - t0
    query_tokens = [tok.tokenize(q) for q in queries]
    index.top_k(query_tokens[0], k)  # warm-up
    times = []
    for _ in range(repeat):
        for qt in query_tokens:
            t0 = time.perf_counter()
            index.top_k(qt, k)
            times.append((time.perf_counter() - t0) * 1000)
    n_chars = sum(len(t) for t in texts)
    return {
        "backend": index.backend,
        "n_docs": len(texts),
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "build_s": build_s,
        "tokenize_s": tokenize_s,
        "chars_per_s": n_chars / tokenize_s if tokenize_s else 0.0,
        "n_tokens": sum(len(d) for d in docs_tokens),
        "vocab_size": index.vocab_size,
    }


def _bm25s_latency(docs_tokens: list[list[str]], query_tokens: list[list[str]], k: int) -> dict[str, float]:
    """The same measurement with bm25s (method "robertson"), for comparison only."""
    import bm25s

    t0 = time.perf_counter()
    retriever = bm25s.BM25(method="robertson", k1=1.5, b=0.75)
    retriever.index(docs_tokens, show_progress=False)
    build_s = time.perf_counter() - t0
    times = []
    for qt in [q for q in query_tokens if q]:  # bm25s fails on an empty query
        t0 = time.perf_counter()
        scores = retriever.get_scores(qt)
        np.argpartition(-scores, k)[:k]
        times.append((time.perf_counter() - t0) * 1000)
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)), "build_s": build_s}


def scale_report(sizes: list[int], n_queries: int = 50, with_bm25s: bool = False) -> list[dict[str, Any]]:
    """Tokenising throughput, build time and query latency of both backends at each size."""
    queries = load_news_queries(n_queries)
    all_texts = load_news_chunks(max(sizes))
    rows = []
    for n in sizes:
        texts = all_texts[:n]
        for backend in ("sparse", "rank_bm25"):
            row = bm25_latency(texts, queries, backend)  # type: ignore[arg-type]
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
        if with_bm25s:
            query_tokens = [tok.tokenize(q) for q in queries]
            row = {"backend": "bm25s", "n_docs": n, **_bm25s_latency(tokenize_many(texts), query_tokens, 10)}
            print(json.dumps(row), file=sys.stderr)
            rows.append(row)
    return rows


def backend_report(sizes: tuple[int, ...] = (10, 100, 1000), n_queries: int = 50) -> list[dict[str, Any]]:
    """Median query time of both backends on small collections: where "auto" switches."""
    queries = [tok.tokenize(q) for q in load_news_queries(n_queries)]
    docs = tokenize_many(load_news_chunks(max(sizes)))
    rows = []
    for n in sizes:
        for backend in ("sparse", "rank_bm25"):
            index = BM25.build(docs[:n], backend=backend)  # type: ignore[arg-type]
            times = []
            for _ in range(5):
                for qt in queries:
                    t0 = time.perf_counter()
                    index.top_k(qt, 10)
                    times.append((time.perf_counter() - t0) * 1000)
            rows.append({"n_docs": n, "backend": backend, "p50_ms": statistics.median(times)})
    return rows


# -- retrieval quality on the corpus -------------------------------------------------------


def corpus_passages(corpus_dir: Path = CORPUS_DIR) -> list[str]:
    """The corpus's articles as the index sees them: production chunks with their headline."""
    from rag.corpus import load_corpus

    return [chunk.context_text() for chunk in chunk_articles(load_corpus(corpus_dir).articles)]


def load_questions(path: Path = QUESTIONS_PATH) -> list[dict[str, str]]:
    """Questions written over the corpus: {"q": question, "span": text the answer is in}."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def lexical_eval(
    passages: list[str], questions: list[dict[str, str]], ks: tuple[int, ...] = (1, 3, 5, 10)
) -> dict[str, Any]:
    """BM25 hit@k and MRR@10 with the tokenizer as currently configured.

    A question is answered at rank r when the r-th passage contains its span (compared
    after NFKC and with whitespace removed). Raises ValueError for a span in no passage.
    """
    squashed = [_squash(p) for p in passages]
    gold = []
    for q in questions:
        hits = {i for i, p in enumerate(squashed) if _squash(q["span"]) in p}
        if not hits:
            raise ValueError(f"span not found in any passage: {q['span']!r}")
        gold.append(hits)
    index = BM25.build([tok.tokenize(p) for p in passages])
    ranks = []
    misses = []
    for q, hits in zip(questions, gold):
        ids, _ = index.top_k(tok.tokenize(q["q"]), 10)
        rank = next((r for r, i in enumerate(ids.tolist(), 1) if i in hits), None)
        ranks.append(rank)
        if rank != 1:
            misses.append({"q": q["q"], "rank": rank})
    n = len(questions)
    result: dict[str, Any] = {f"hit@{k}": sum(1 for r in ranks if r and r <= k) / n for k in ks}
    result["mrr@10"] = sum(1 / r for r in ranks if r) / n
    result["n_questions"] = n
    result["n_passages"] = len(passages)
    result["not_first"] = misses
    return result


@contextlib.contextmanager
def tokenizer_variant(*, search: bool, userdict: bool, stems: bool) -> Iterator[None]:
    """Temporarily switch the tokenizer's options (for measurements; not thread-safe)."""
    saved = (tok._SEARCH_MODE, tok.USE_USERDICT, tok.ADMIN_STEMS, tok._jieba)
    tok._SEARCH_MODE, tok.USE_USERDICT, tok.ADMIN_STEMS = search, userdict, stems
    tok._jieba = None  # reload, with or without the user dictionary
    try:
        yield
    finally:
        tok._SEARCH_MODE, tok.USE_USERDICT, tok.ADMIN_STEMS, tok._jieba = saved


# (search mode, user dictionary, place-name stems); the first is plain jieba.lcut_for_search,
# the last is what rag.tokenize ships. Turning jieba's HMM off, and adding stems next to the
# full name instead of replacing it, were measured as well and lost 1-3 questions.
_VARIANTS = [
    (True, False, False),
    (True, True, False),
    (True, True, True),
    (False, False, False),
    (False, True, False),
    (False, False, True),
    (False, True, True),
]


def eval_report(distractors: int = 0) -> list[dict[str, Any]]:
    """hit@k of each tokenizer variant on the corpus questions.

    With `distractors`, that many news pieces join the corpus passages: the questions must
    then be told apart from unrelated articles that share their everyday words.
    """
    passages, questions = corpus_passages(), load_questions()
    if distractors:
        passages += load_news_chunks(distractors)
    rows = []
    for search, userdict, stems in _VARIANTS:
        with tokenizer_variant(search=search, userdict=userdict, stems=stems):
            result = lexical_eval(passages, questions)
        mode = "search" if search else "accurate"
        rows.append({"mode": mode, "userdict": userdict, "stems": stems, **result})
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rag.bench.scale", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    evaluate = sub.add_parser("eval", help="hit@k of tokenizer variants: python -m rag.bench.scale eval")
    evaluate.add_argument("--distractors", type=int, default=0, help="add this many news pieces")
    sub.add_parser("backends", help="small-size latency of both backends: python -m rag.bench.scale backends")
    scale = sub.add_parser("scale", help="python -m rag.bench.scale scale --sizes 1000 10000 100000")
    scale.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    scale.add_argument("--bm25s", action="store_true", help="also time bm25s")
    args = parser.parse_args(argv)
    if args.command == "eval":
        rows = eval_report(args.distractors)
        for row in rows:
            row["not_first"] = len(row["not_first"])
        out: Any = rows
    elif args.command == "backends":
        out = backend_report()
    else:
        out = scale_report(args.sizes, with_bm25s=args.bm25s)
    print(json.dumps(out, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
