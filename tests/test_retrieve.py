"""rag.retrieve: fusion arithmetic on hand-made rankings, filters and near-duplicate removal,
checked against values worked out by hand and on a tiny real index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.config import RetrievalConfig
from rag.embedders import HashEmbedder
from rag.errors import InputError
from rag.index import build_index, load_index
from rag.retrieve import Filters, fuse_rrf, fuse_weighted, search

# ------------------------------------------------------------------------ fusion arithmetic


def test_rrf_sums_weight_over_k_plus_rank() -> None:
    dense = (np.array([10, 20, 30]), 1.0)  # 10 first, 20 second, 30 third
    bm25 = (np.array([20, 40]), 1.0)
    fused = fuse_rrf([dense, bm25], k=60)
    assert fused[10] == pytest.approx(1 / 61)
    assert fused[20] == pytest.approx(1 / 62 + 1 / 61)  # second in one leg, first in the other
    assert fused[30] == pytest.approx(1 / 63)
    assert fused[40] == pytest.approx(1 / 62)
    assert sorted(fused, key=lambda p: -fused[p]) == [20, 10, 40, 30]


def test_rrf_weights_scale_each_leg() -> None:
    # The engine weighs the dense leg 0.3 and BM25 0.7 (both doubled, as search does).
    fused = fuse_rrf([(np.array([1, 2]), 0.6), (np.array([2, 1]), 1.4)], k=60)
    assert fused[1] == pytest.approx(0.6 / 61 + 1.4 / 62)
    assert fused[2] == pytest.approx(0.6 / 62 + 1.4 / 61)
    assert fused[2] > fused[1], "the heavier leg's first passage wins"


def test_rrf_with_k_zero_and_empty_legs() -> None:
    assert fuse_rrf([(np.array([5]), 1.0), (np.array([], dtype=int), 1.0)], k=0) == {5: 1.0}
    assert fuse_rrf([]) == {}


def test_weighted_fusion_normalises_each_leg() -> None:
    dense = (np.array([1, 2, 3]), np.array([0.9, 0.5, 0.1]), 0.3)
    bm25 = (np.array([3, 1]), np.array([12.0, 2.0]), 0.7)
    fused = fuse_weighted([dense, bm25])
    assert fused[1] == pytest.approx(0.3 * 1.0 + 0.7 * 0.0)
    assert fused[2] == pytest.approx(0.3 * 0.5)
    assert fused[3] == pytest.approx(0.3 * 0.0 + 0.7 * 1.0)


def test_weighted_fusion_with_equal_scores_and_empty_legs() -> None:
    fused = fuse_weighted([(np.array([4, 5]), np.array([2.0, 2.0]), 1.0), (np.array([]), np.array([]), 1.0)])
    assert fused == {4: 0.0, 5: 0.0}


# ----------------------------------------------------------------------------- real index

ARTICLES = [
    {"id": "a", "title": "招远黄金产业", "date": "2023-05-01", "publication": "烟台日报",
     "text": "招远2023年黄金产业总产值达到900亿元。"},
    {"id": "b", "title": "胶州港口", "date": "2024-02-21", "publication": "大众日报",
     "text": "胶州上港口吞吐量增长8.5%，新开工项目42个。"},
    {"id": "c", "title": "招远黄金产业（转载）", "date": "2023-05-02", "publication": "大众日报",
     "text": "据报道招远2023年黄金产业总产值达到900亿元。"},  # the paragraph again (4-gram Jaccard 0.86)
    {"id": "d", "title": "乳山文旅", "text": "乳山银滩接待游客120万人次，旅游收入增长15%。"},  # no date
    # Fillers, so that BM25's IDF is positive for words in two of the articles.
    {"id": "e", "title": "蓬莱葡萄酒", "text": "蓬莱葡萄酒庄举办开放日活动。"},
    {"id": "f", "title": "莱阳梨花节", "text": "莱阳梨花节吸引各地摄影爱好者。"},
    {"id": "g", "title": "海阳沙雕", "text": "海阳国际沙雕艺术节开幕。"},
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("retrieve")
    corpus = root / "news.jsonl"
    corpus.write_text("\n".join(json.dumps(a, ensure_ascii=False) for a in ARTICLES), encoding="utf-8")
    build_index(corpus, root / "index", HashEmbedder(64), progress=False, profile="shandong")
    return load_index(root / "index", "hash-64"), HashEmbedder(64)


def _titles(hits) -> list[str]:
    return [h.title for h in hits]


def test_near_duplicates_are_dropped_before_the_cut(tiny) -> None:
    index, embedder = tiny
    hits, _ = search(index, embedder, "招远黄金产业总产值", top_k=4, mode="bm25")
    gold = [t for t in _titles(hits) if t.startswith("招远黄金产业")]
    assert len(gold) == 1, "the reprint is nearly the same paragraph: one of the two is kept"
    keep_both = RetrievalConfig(duplicate_jaccard=0.95)  # only near-identical text counts as a duplicate
    hits, _ = search(index, embedder, "招远黄金产业总产值", top_k=4, mode="bm25", config=keep_both)
    assert len([t for t in _titles(hits) if t.startswith("招远黄金产业")]) == 2


@pytest.mark.parametrize(
    ("filters", "titles"),
    [
        ({"sources": ["other.jsonl"]}, set()),
        ({"date_from": "2024-01-01"}, {"胶州港口"}),
        ({"date_to": "2023-12-31"}, {"招远黄金产业"}),  # the undated article never passes a date filter
        ({"publication": "大众日报"}, {"胶州港口", "招远黄金产业（转载）"}),
        ({"place": "乳山"}, {"乳山文旅"}),
    ],
)
def test_filters(tiny, filters: dict, titles: set[str]) -> None:
    index, embedder = tiny
    hits, _ = search(index, embedder, "增长 产值 项目 游客", top_k=10, mode="hybrid", filters=Filters.from_dict(filters))
    assert set(_titles(hits)) == titles


def test_a_source_filter_keeps_its_file(tiny) -> None:
    index, embedder = tiny
    hits, _ = search(index, embedder, "增长", top_k=10, mode="dense", filters=Filters.from_dict({"source": "news.jsonl"}))
    assert len(hits) == len(ARTICLES) - 1  # every article but the reprint of "a"


@pytest.mark.parametrize(
    ("filters", "message"),
    [({"date_from": "2024-13-99"}, "date_from must be a date in the form YYYY-MM-DD"),
     ({"colour": "red"}, "unknown filter"), ({"publication": 3}, "publication must be a newspaper name")],
)
def test_bad_filters_say_what_to_fix(filters: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Filters.from_dict(filters)


def test_modes_and_scores(tiny) -> None:
    index, embedder = tiny
    bm25, timings = search(index, embedder, "乳山 游客", top_k=2, mode="bm25")
    assert bm25[0].title == "乳山文旅" and set(timings) == {"bm25_ms", "fuse_ms"}
    hybrid, timings = search(index, embedder, "乳山 游客", top_k=2, mode="hybrid",
                             config=RetrievalConfig(dense_weight=0.3))
    assert {"embed_ms", "dense_ms", "bm25_ms", "fuse_ms"} <= set(timings)
    assert hybrid[0].score >= hybrid[-1].score
    # RRF scores are sums of weight / (60 + rank): the best possible is both legs' first place.
    assert hybrid[0].score <= round(0.6 / 61 + 1.4 / 61, 6)
    with pytest.raises(InputError, match="mode must be one of hybrid, dense, bm25"):
        search(index, embedder, "乳山", mode="sparse")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="top_k must be >= 1"):
        search(index, embedder, "乳山", top_k=0)


def test_query_tokens_add_the_press_words_for_everyday_ones() -> None:
    from rag.retrieve import query_tokens
    from rag.tokenize import tokenize

    assert set(tokenize("生产总值")) <= set(query_tokens("招远去年GDP涨了多少？"))
    assert set(tokenize("高新技术企业")) <= set(query_tokens("环翠有多少家高企？"))
    assert query_tokens("招远黄金产业") == tokenize("招远黄金产业")  # nothing to add
