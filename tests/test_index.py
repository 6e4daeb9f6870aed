import json
import shutil

import numpy as np
import pytest

from rag.embedders import HashEmbedder
from rag.errors import IndexMismatchError, IndexMissingError, RagError
from rag.index import build_index, index_status, load_index
from rag import index as index_module


def test_round_trip_answers_the_same(hash_index, tmp_path):
    first = load_index(hash_index)
    copy = tmp_path / "copy"
    shutil.copytree(hash_index, copy)
    second = load_index(copy)
    query = HashEmbedder(384).embed_queries(["招远黄金产业总产值"])[0]
    a_ids, a_scores = first.dense_search(query, 5)
    b_ids, b_scores = second.dense_search(query, 5)
    assert a_ids.tolist() == b_ids.tolist()
    assert np.allclose(a_scores, b_scores)
    tokens = ["招远", "黄金"]
    assert first.bm25_search(tokens, 5)[0].tolist() == second.bm25_search(tokens, 5)[0].tolist()
    assert [c.id for c in first.chunks] == [c.id for c in second.chunks]


def test_manifest_describes_the_index(hash_index):
    manifest = json.loads((hash_index / "manifest.json").read_text())
    assert manifest["format_version"] == index_module.FORMAT_VERSION
    assert manifest["embedder"] == {"id": "hash-384", "dim": 384}
    assert manifest["counts"]["articles"] >= 25
    assert manifest["counts"]["chunks"] == len(load_index(hash_index).chunks)
    assert len(manifest["files"]) == 5
    for key in ("tokenizer", "corpus_hash", "created_at", "versions", "dense_index"):
        assert manifest[key]


def test_rebuild_of_unchanged_corpus_is_a_no_op(corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    first = build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    assert first.embedded == first.chunks > 0
    again = build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    assert again.unchanged and again.embedded == 0


def test_incremental_update_embeds_only_what_changed(corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    embedder = HashEmbedder(64)
    first = build_index(corpus_copy, index_dir, embedder, progress=False)
    ids_before = {c.id for c in load_index(index_dir).chunks}
    removed = sorted(corpus_copy.glob("*.txt"))[-1]
    removed.unlink()
    (corpus_copy / "new.txt").write_text("威海新闻\n\n本报讯 威海市2024年新建5G基站1200个，同比增长12%。\n", encoding="utf-8")
    report = build_index(corpus_copy, index_dir, embedder, progress=False)
    assert report.files_added == ["new.txt"] and report.files_removed == [removed.name]
    assert 0 < report.embedded <= 2
    index = load_index(index_dir)
    assert not any(c.source == removed.name for c in index.chunks)
    assert any("1200个" in c.text for c in index.chunks)
    kept = {c.id for c in index.chunks if c.source != "new.txt"}
    assert kept <= ids_before  # unchanged files keep their chunk ids
    assert report.reused == len(kept) < first.chunks
    assert index_status(index_dir, corpus_copy) == "fresh"
    (corpus_copy / "new.txt").write_text("改了", encoding="utf-8")
    assert index_status(index_dir, corpus_copy) == "stale"


def test_other_embedder_is_refused_with_how_to_rebuild(hash_index):
    with pytest.raises(IndexMismatchError, match=r"rag index \S*corpus --index-dir \S* --rebuild --embedder"):
        load_index(hash_index, embedder_id="multilingual-e5-small")


def test_other_format_is_refused(hash_index, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(hash_index, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 0
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format version 0"):
        load_index(copy)


def test_missing_index_says_how_to_build(tmp_path):
    with pytest.raises(IndexMissingError, match="rag index corpus --index-dir"):
        load_index(tmp_path / "nothing")


def test_interrupted_build_leaves_previous_index_usable(corpus_copy, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    before = load_index(index_dir).manifest["corpus_hash"]
    (corpus_copy / "new.txt").write_text("本报讯 新的文章，内容足够长，可以成为一个段落。" * 3, encoding="utf-8")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(index_module.BM25, "build", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(corpus_copy, index_dir, HashEmbedder(64), progress=False)
    assert load_index(index_dir).manifest["corpus_hash"] == before
    assert not list(tmp_path.glob(".index.building-*"))


def test_crash_between_renames_is_recovered(hash_index, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(hash_index, tmp_path / ".index.previous")
    assert load_index(index_dir).chunks  # restored from the backup


def test_empty_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "c").mkdir()
    with pytest.raises(RagError, match="no articles found"):
        build_index(tmp_path / "c", tmp_path / "index", HashEmbedder(8), progress=False)
