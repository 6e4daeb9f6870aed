"""Tests for rag.bm25: the sparse scorer against rank-bm25, top-k, persistence, errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from rag.bm25 import BM25
from rag.errors import IndexMismatchError, IndexMissingError, InputError
from rag.bench.scale import corpus_passages, load_questions
from rag.tokenize import tokenize

TINY = [
    ["招远", "黄金", "产业", "黄金"],
    ["环翠", "企业", "黄金"],
    ["胶州", "以工代赈", "劳务", "报酬"],
    ["招远", "以工代赈", "劳务", "报酬", "1308万元", "1308"],
    [],
]


@pytest.fixture(scope="module")
def corpus_tokens() -> list[list[str]]:
    return [tokenize(p) for p in corpus_passages()]


@pytest.fixture(scope="module")
def corpus_indexes(corpus_tokens: list[list[str]]) -> tuple[BM25, BM25]:
    return BM25.build(corpus_tokens, backend="sparse"), BM25.build(corpus_tokens, backend="rank_bm25")


def test_rank_bm25_backend_is_rank_bm25() -> None:
    reference = BM25Okapi(TINY[:4])
    ours = BM25.build(TINY[:4], backend="rank_bm25")
    query = ["黄金", "招远"]
    assert np.array_equal(ours.scores(query), reference.get_scores(query))


def test_backends_agree_on_corpus_questions(corpus_indexes: tuple[BM25, BM25]) -> None:
    sparse, reference = corpus_indexes
    for question in load_questions():
        query = tokenize(question["q"])
        assert np.allclose(sparse.scores(query), reference.scores(query)), question["q"]
        assert sparse.top_k(query, 10)[0].tolist() == reference.top_k(query, 10)[0].tolist()


def test_backends_agree_on_passages_as_queries(
    corpus_indexes: tuple[BM25, BM25], corpus_tokens: list[list[str]]
) -> None:
    sparse, reference = corpus_indexes
    for query in corpus_tokens[::10]:  # long queries with repeated terms
        assert np.allclose(sparse.scores(query), reference.scores(query))


_token = st.sampled_from([f"t{i}" for i in range(12)] + ["黄金", "招远", "😀", ""])


@settings(max_examples=150, deadline=None)
@given(
    docs=st.lists(st.lists(_token, max_size=12), min_size=1, max_size=25),
    query=st.lists(st.one_of(_token, st.just("unknown")), max_size=8),
    k1=st.sampled_from([0.01, 0.9, 1.2, 1.5, 2.0]),
    b=st.sampled_from([0.0, 0.5, 0.75, 1.0]),
)
def test_sparse_matches_rank_bm25_on_random_corpora(
    docs: list[list[str]], query: list[str], k1: float, b: float
) -> None:
    """Small vocabularies put terms in most documents: negative idf, the epsilon floor."""
    sparse = BM25.build(docs, k1=k1, b=b, backend="sparse")
    if not any(docs):  # rank-bm25 itself divides by zero here; both backends give zeros
        assert not sparse.scores(query).any()
        return
    with np.errstate(invalid="ignore"):  # rank-bm25's 0/0 for empty documents when b == 1
        expected = np.nan_to_num(BM25Okapi(docs, k1=k1, b=b).get_scores(query), nan=0.0)
    assert np.allclose(sparse.scores(query), expected)
    assert np.allclose(BM25.build(docs, k1=k1, b=b, backend="rank_bm25").scores(query), expected)


def test_negative_idf_gets_rank_bm25_floor() -> None:
    docs = [["a", "b"], ["a", "c"], ["a", "d"], ["e"]]  # "a" is in 3 of 4 documents
    index = BM25.build(docs)
    reference = BM25Okapi(docs)
    assert reference.idf["a"] == pytest.approx(0.25 * reference.average_idf)
    assert np.allclose(index.scores(["a"]), reference.get_scores(["a"]))


def test_repeated_query_term_counts_each_time() -> None:
    index = BM25.build(TINY)
    assert np.allclose(index.scores(["黄金", "黄金"]), 2 * index.scores(["黄金"]))


@pytest.mark.parametrize("backend", ["sparse", "rank_bm25"])
@pytest.mark.parametrize("query", [[], ["不在词表"], ["unknown", "另一个"]])
def test_empty_or_unknown_query_scores_zero(backend: str, query: list[str]) -> None:
    index = BM25.build(TINY, backend=backend)  # type: ignore[arg-type]
    scores = index.scores(query)
    assert scores.shape == (len(TINY),) and not scores.any()
    ids, top = index.top_k(query, 3)
    assert len(ids) == 0 and len(top) == 0


@pytest.mark.parametrize("backend", ["sparse", "rank_bm25"])
def test_all_documents_empty(backend: str) -> None:
    index = BM25.build([[], []], backend=backend)  # type: ignore[arg-type]
    assert len(index) == 2 and not index.scores(["a"]).any()


def test_top_k_order_ties_and_bounds() -> None:
    index = BM25.build([["x"], ["y"], ["x"], ["x", "x"], []])
    ids, scores = index.top_k(["x"], 10)
    assert ids.tolist() == [3, 0, 2]  # best first; 0 and 2 tie, lower id first; misses left out
    assert np.all(np.diff(scores) <= 0)
    assert index.top_k(["x"], 2)[0].tolist() == [3, 0]
    assert index.top_k(["x"], 1)[0].tolist() == [3]
    assert index.top_k(["x", "y"], 1)[0].tolist() == [1]  # "y" is rarer: higher idf


def test_top_k_matches_full_sort(corpus_indexes: tuple[BM25, BM25]) -> None:
    sparse, _ = corpus_indexes
    query = tokenize("招远市黄金产业总产值")
    scores = sparse.scores(query)
    ids, top = sparse.top_k(query, 5)
    assert np.array_equal(top, np.sort(scores)[::-1][:5])
    assert np.array_equal(scores[ids], top)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_top_k_rejects_bad_k(k: object) -> None:
    with pytest.raises(InputError, match="k must be a positive integer"):
        BM25.build(TINY).top_k(["黄金"], k)  # type: ignore[arg-type]


def test_query_must_be_tokens() -> None:
    with pytest.raises(InputError, match="tokenize the query first"):
        BM25.build(TINY).scores("黄金")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k1": 0}, "k1 must be a finite number > 0, got 0"),
        ({"k1": float("nan")}, "k1 must be a finite number > 0, got nan"),
        ({"b": 1.5}, "b must be between 0 and 1, got 1.5"),
        ({"backend": "numba"}, "backend must be one of auto, sparse, rank_bm25; got 'numba'"),
    ],
)
def test_build_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        BM25.build(TINY, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_build_rejects_no_documents() -> None:
    with pytest.raises(InputError, match="0 documents"):
        BM25.build([])


def test_build_rejects_untokenized_documents() -> None:
    with pytest.raises(InputError, match="tokenize the documents first"):
        BM25.build(["招远黄金"])  # type: ignore[list-item]


def test_auto_picks_sparse_and_len() -> None:
    index = BM25.build(TINY)
    assert index.backend == "sparse" and len(index) == len(TINY) and index.vocab_size == 11


@pytest.mark.parametrize("backend", ["sparse", "rank_bm25"])
def test_save_load_round_trip(tmp_path: Path, backend: str) -> None:
    docs = TINY + [["", "😀", "ünïcödé", "多 字"]]
    index = BM25.build(docs, k1=1.2, b=0.6, backend=backend)  # type: ignore[arg-type]
    index.save(tmp_path / "bm25")
    loaded = BM25.load(tmp_path / "bm25", backend=backend)  # type: ignore[arg-type]
    assert (loaded.k1, loaded.b, len(loaded), loaded.backend) == (1.2, 0.6, len(docs), backend)
    for query in (["黄金", "招远"], ["😀", "", "多 字"], ["1308万元", "以工代赈"], []):
        assert np.array_equal(loaded.scores(query), index.scores(query))
    meta = json.loads((tmp_path / "bm25" / "bm25.json").read_text())
    assert meta["format_version"] == 1 and "numpy" in meta["versions"]


def test_saved_arrays_load_without_pickle(tmp_path: Path) -> None:
    BM25.build(TINY).save(tmp_path)
    with np.load(tmp_path / "bm25.npz", allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)


def test_load_missing_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissingError, match="build the index first"):
        BM25.load(tmp_path / "nowhere")


def test_load_other_format_version(tmp_path: Path) -> None:
    BM25.build(TINY).save(tmp_path)
    meta_path = tmp_path / "bm25.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 99
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IndexMismatchError, match="rebuild the index"):
        BM25.load(tmp_path)


@pytest.mark.slow
def test_sparse_latency_at_100k_documents() -> None:
    """p50 of top_k at 100k synthetic documents (Zipf-distributed terms) is under 5 ms."""
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    ranks = np.minimum(rng.zipf(1.2, size=100_000 * 60), len(vocab)) - 1
    terms = vocab[ranks].tolist()
    docs = [terms[i : i + 60] for i in range(0, len(terms), 60)]
    t0 = time.perf_counter()
    index = BM25.build(docs)
    build_s = time.perf_counter() - t0
    queries = [docs[i][:8] for i in range(0, 100_000, 2_000)]
    times = []
    for query in queries:
        t0 = time.perf_counter()
        index.top_k(query, 10)
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.005, np.median(times)
    assert build_s < 30, build_s
