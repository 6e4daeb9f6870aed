"""The stores section of `rag bench` on a small size: both stores built in their own processes, every number there."""

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from rag.bench.stores import bench_stores, format_stores  # noqa: E402
from rag.bench.scale import NEWS_PATH  # noqa: E402


@pytest.mark.skipif(not NEWS_PATH.exists(), reason=f"{NEWS_PATH} is missing (../shared/data)")
def test_stores_section_side_by_side(tmp_path):
    rows = bench_stores([400], n_queries=5, work_dir=tmp_path, say=lambda _: None)
    row = rows[0]
    assert row["chunks"] == 400
    for store in ("local", "milvus"):
        r = row[store]
        assert r["index_s"] >= 0 and r["disk_mb"] > 0 and r["dense_index"] == "flat"
        for leg in ("dense", "bm25", "fused"):
            assert 0 < r[leg]["p50_ms"] <= r[leg]["p95_ms"]
    # The same vectors and the same BM25 in both stores: the legs agree.
    assert row["overlap@10"]["dense"] >= 0.95 and row["overlap@10"]["bm25"] >= 0.95
    table = format_stores(rows)
    assert "milvus" in table and "    400  local" in table and "top-10 overlap" in table
    assert not list(tmp_path.iterdir())  # the work folder is removed
