"""`rag bench` on tiny inputs: every section runs and its numbers land in the table."""

import pytest

from rag.bench.speed import SOAK_OPS, bench_inproc, bench_scale, bench_soak, format_bench
from rag.bench.scale import NEWS_PATH


def test_inproc_section_times_every_stage(hash_index):
    result = bench_inproc(hash_index, ["招远2023年黄金产业总产值是多少？", "环翠区有多少家高新技术企业？"], repeat=1,
                          learned=False)
    assert set(result) == {"embed_query", "dense", "bm25", "hybrid_search", "ask"}
    for stage, v in result.items():
        assert v["n"] == 2, stage
        assert 0 < v["p50_ms"] <= v["p95_ms"] < 10_000, (stage, v)  # measured, ordered, and not absurd
    table = format_bench({"created_at": "now", "machine": {"cpus": 2}, "embedder": "hash:384", "inproc": result})
    for stage, v in result.items():  # every number measured lands in the table
        assert stage in table and f"{v['p50_ms']}" in table


@pytest.mark.skipif(not NEWS_PATH.exists(), reason=f"{NEWS_PATH} is missing (../shared/data)")
def test_scale_section_and_table(hash_index):
    rows = bench_scale([300], n_queries=5)
    row = rows[0]
    assert row["chunks"] == 300
    for key in ("bm25_sparse", "bm25_rank_bm25", "dense_flat", "dense_hnsw", "fused_search"):
        assert 0 < row[key]["p50_ms"] <= row[key]["p95_ms"] < 10_000, (key, row[key])
    # HNSW over 300 vectors with ef_search 128 visits nearly all of them: its top 10 is the exact one.
    assert row["dense_hnsw"]["recall_at_10"] >= 0.9
    assert row["fused_search"]["dense_index"] == "flat"  # HNSW only from 50k chunks
    table = format_bench({"created_at": "now", "machine": {"cpus": 2}, "embedder": "hash:384", "scale": rows,
                          "inproc": bench_inproc(hash_index, ["招远"], repeat=1, learned=False)})
    assert "scale (hash embedder" in table and "hybrid_search" in table and "    300" in table


@pytest.mark.slow
def test_soak_section_against_the_real_server(hash_index):
    """A 3-second soak with 2 clients: every kind of request, no errors, memory and threads reported."""
    result = bench_soak(hash_index, ["招远2023年黄金产业总产值是多少？", "环翠区有多少家高新技术企业？"],
                        seconds=3, clients=2, ui=False, embedder="hash:384")
    assert result["errors"] == 0 and result["requests"] > 0
    assert set(result["by_kind"]) == set(SOAK_OPS) and all(v["n"] > 0 for v in result["by_kind"].values())
    assert result["rss_mb_start"] > 0 and result["threads_end"] > 0 and result["p99_ms"] >= result["p50_ms"]
    table = format_bench({"created_at": "now", "machine": {"cpus": 2}, "embedder": "hash:384", "soak": result})
    assert "soak: 2 clients" in table and "stream_cut" in table


def test_the_learned_composer_is_timed_beside_the_rules(hash_index):
    from rag.bench.speed import bench_reader
    from rag.reader import ReaderPolicy

    result = bench_inproc(hash_index, ["招远2023年黄金产业总产值是多少？"], repeat=1)
    for stage in ("search_learned", "ask_learned"):
        assert result[stage]["n"] == 1 and result[stage]["p50_ms"] > 0, stage
    reader = bench_reader(hash_index, ["招远2023年黄金产业总产值是多少？"])
    assert reader["pool"] == ReaderPolicy.load().pool and reader["pairs_per_s"] > 0
