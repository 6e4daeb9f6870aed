"""Ingestion on a real local Ray (2 workers) gives what the in-process path gives.

Skipped when the `cluster` extra is not installed (`pip install -e ".[cluster]"`).
"""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("pymilvus")

from rag.embedders import HashEmbedder  # noqa: E402
from rag.index import build_index, load_index  # noqa: E402
from rag.ray_ingest import Work, read_rows  # noqa: E402
from rag.bench.scale import NEWS_PATH  # noqa: E402

ARTICLES = 300


@pytest.fixture(scope="module")
def news_corpus(tmp_path_factory, corpus_dir) -> Path:
    """A few hundred news articles in one .jsonl (read in shards), plus two page files of the corpus."""
    if not NEWS_PATH.exists():
        pytest.skip(f"{NEWS_PATH} is missing (../shared/data)")
    folder = tmp_path_factory.mktemp("news")
    with gzip.open(NEWS_PATH, "rt", encoding="utf-8") as src, (folder / "news.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(itertools.islice(src, ARTICLES))
    for path in sorted(corpus_dir.glob("00[01]_*.txt")):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _vectors(index_dir: Path) -> dict[str, np.ndarray]:
    index = load_index(index_dir)
    try:
        return {row["id"]: np.asarray(row["dense"], dtype=np.float32) for row in index.store.rows("", ["id", "dense"])}
    finally:
        index.store.close()


def _rows(index_dir: Path, name: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in (index_dir / name).read_text(encoding="utf-8").splitlines()]
    return {(row["chunk"] if "chunk" in row else row["article"])["id"]: row for row in rows}


def test_two_ray_workers_give_the_chunks_and_vectors_of_the_in_process_path(news_corpus, tmp_path):
    embedder = HashEmbedder(384)
    inproc = build_index(news_corpus, tmp_path / "inproc", embedder, progress=False, store="milvus")
    on_ray = build_index(news_corpus, tmp_path / "ray", embedder, progress=False, store="milvus", ray_address="local")
    assert on_ray.chunks == inproc.chunks > ARTICLES and on_ray.articles == inproc.articles >= ARTICLES
    assert on_ray.embedded == inproc.embedded == inproc.chunks
    assert _rows(tmp_path / "ray", "chunks.jsonl") == _rows(tmp_path / "inproc", "chunks.jsonl")  # ids, text, tokens
    assert _rows(tmp_path / "ray", "articles.jsonl") == _rows(tmp_path / "inproc", "articles.jsonl")
    a, b = _vectors(tmp_path / "inproc"), _vectors(tmp_path / "ray")
    assert a.keys() == b.keys() and len(a) == inproc.chunks
    assert all(np.array_equal(a[key], b[key]) for key in a)
    manifest_a = json.loads((tmp_path / "inproc" / "manifest.json").read_text())
    manifest_b = json.loads((tmp_path / "ray" / "manifest.json").read_text())
    assert manifest_a["corpus_hash"] == manifest_b["corpus_hash"]


def test_shards_of_a_jsonl_file_cover_it_once(news_corpus):
    whole = [row["chunk"] for row in read_rows(Work("news.jsonl", str(news_corpus / "news.jsonl"), 300)) if row["chunk"]]
    shards = [row["chunk"] for shard in range(3)
              for row in read_rows(Work("news.jsonl", str(news_corpus / "news.jsonl"), 300, "", shard, 3))
              if row["chunk"]]
    assert len(whole) > ARTICLES and sorted(shards) == sorted(whole)
