"""rag.sparse_bm25 against the reference scorer (rag.bm25) on the corpus's own chunk tokens."""

import json

import numpy as np
import pytest

from rag.bm25 import BM25
from rag.errors import IndexMismatchError
from rag.sparse_bm25 import EMPTY_ROW, BM25Stats, term_id
from rag.tokenize import tokenize


@pytest.fixture(scope="module")
def corpus_tokens(hash_index):
    return [json.loads(line)["tokens"] for line in (hash_index / "chunks.jsonl").read_text().splitlines()]


def _scores(stats: BM25Stats, docs: list[list[str]], query: list[str]) -> np.ndarray:
    q = stats.query_vector(query)
    return np.array([sum(w * stats.doc_vector(d).get(t, 0.0) for t, w in q.items()) for d in docs])


@pytest.mark.parametrize("question", ["招远2023年黄金产业总产值是多少？", "环翠区有多少家高新技术企业？",
                                      "乳山 共富 党建联盟", "栖霞市委书记是谁？", "高质量发展 高质量发展"])
def test_inner_product_is_the_reference_bm25_score(corpus_tokens, question):
    stats = BM25Stats()
    for tokens in corpus_tokens:
        stats.add(tokens)
    reference = BM25.build(corpus_tokens).scores(tokenize(question))
    assert np.allclose(_scores(stats, corpus_tokens, tokenize(question)), reference, rtol=1e-9, atol=1e-12)
    assert reference.max() > 0  # the question shares words with the corpus: the comparison means something


def test_terms_in_more_than_half_the_documents_get_the_floored_idf():
    docs = [["黄金", "招远"], ["黄金", "环翠"], ["黄金"], ["胶州"]]
    stats = BM25Stats()
    for d in docs:
        stats.add(d)
    assert np.allclose(_scores(stats, docs, ["黄金"]), BM25.build(docs).scores(["黄金"]))


@pytest.mark.parametrize("token", ["", "招远", "🙂", "GDP", "1308万元"])
def test_term_ids_are_stable_and_never_the_reserved_one(token):
    assert term_id(token) == term_id(str(token))
    assert 1 <= term_id(token) <= 2**32 - 2


def test_an_empty_chunk_is_written_as_the_reserved_dimension_and_never_scores():
    stats = BM25Stats()
    stats.add([])
    stats.add(["招远"])
    assert stats.doc_vector([]) == EMPTY_ROW
    assert 0 not in stats.query_vector(["招远", "未知"])
    assert stats.query_vector(["未知"]) == {}


def test_round_trip_and_damage(tmp_path, corpus_tokens):
    stats = BM25Stats()
    for tokens in corpus_tokens:
        stats.add(tokens)
    stats.avgdl_written = stats.avgdl
    stats.save(tmp_path)
    loaded = BM25Stats.load(tmp_path)
    assert (loaded.n_docs, loaded.total_len, loaded.df, loaded.avgdl_written) == \
        (stats.n_docs, stats.total_len, stats.df, stats.avgdl_written)
    meta = json.loads((tmp_path / "bm25_stats.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "bm25_stats.json").write_text(json.dumps(meta))
    with pytest.raises(IndexMismatchError, match="version 99"):
        BM25Stats.load(tmp_path)
    (tmp_path / "bm25_stats.npz").write_bytes(b"cut")
    with pytest.raises(IndexMismatchError, match="missing or damaged"):
        BM25Stats.load(tmp_path)


def test_drift_measures_how_far_avgdl_moved():
    stats = BM25Stats()
    stats.add(["a", "b"])
    stats.avgdl_written = stats.avgdl
    assert stats.drift() == 0.0
    stats.add(["a", "b", "c", "d", "e", "f"])
    assert stats.drift() == pytest.approx(1.0)  # avgdl went from 2 to 4
