"""`rag bench --sections stores`: the local store and milvus-lite side by side at 10k and 100k chunks.

Chunks are pieces (<= 300 characters) of `../shared/data/crud_news.jsonl.gz`, tokenized with the
project's tokenizer and embedded with the **hash embedder** (embedding 100k chunks with e5
would take hours on two cores; the stores do not care what the vectors mean). Queries are the
opening clauses of 50 articles (`rag.bench.scale.load_news_queries`).

Each (store, size) runs in a fresh process, so that its memory is its own: it reads the
prepared chunks, builds the store (local: BM25 matrix + FAISS, flat below 50k chunks and HNSW
above, written to disk as `rag index` does; milvus: BM25 table, one collection, inserted and
indexed, FLAT/HNSW by the same rule) and times the dense leg, the BM25 leg and fused search
(`rag.retrieve.search`, hybrid RRF, top 5), one query at a time, with one OpenMP thread (FAISS's
flat search spreads one query over threads, which on a shared 2-core machine measured 175 ms at
10k chunks instead of ~1 ms; milvus-lite is single-threaded Python). Reported per store and size:
index time, p50/p95 per leg and fused, RSS added by the build, bytes on disk, and the top-10
overlap of each leg between the two stores.

    python -m rag.bench.stores --sizes 10000 100000     # JSON on stdout; `rag bench` calls it
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bench_stores", "format_stores"]

STORES = ("local", "milvus")
N_QUERIES = 50
TOP = 10


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def _pct(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(samples, 50)), 2), "p95_ms": round(float(np.percentile(samples, 95)), 2)}


def _prepare(sizes: list[int], work: Path, n_queries: int) -> None:
    """Chunks, tokens and hash vectors for the largest size, once (the children read them)."""
    from rag.embedders import HashEmbedder
    from rag.bench.scale import load_news_chunks, load_news_queries, tokenize_many

    texts = load_news_chunks(max(sizes))
    if len(texts) < max(sizes):
        raise RuntimeError(f"the news file gives {len(texts)} chunks, fewer than {max(sizes)}")
    started = time.perf_counter()
    tokens = tokenize_many(texts)
    tokenize_s = time.perf_counter() - started
    with (work / "chunks.jsonl").open("w", encoding="utf-8") as out:
        for text, toks in zip(texts, tokens):
            out.write(json.dumps({"text": text, "tokens": toks}, ensure_ascii=False) + "\n")
    np.save(work / "vectors.npy", HashEmbedder(384).embed_passages(texts), allow_pickle=False)
    (work / "queries.json").write_text(json.dumps({"queries": load_news_queries(n_queries), "tokenize_s": tokenize_s},
                                                  ensure_ascii=False), encoding="utf-8")


def _one(store: str, size: int, work: Path) -> dict[str, Any]:
    """Build one store over the first `size` prepared chunks and time it (runs in a child process)."""
    from rag.embedders import HashEmbedder
    from rag.index import HNSW_MIN_CHUNKS, Index, _make_dense
    from rag.retrieve import search
    from rag.tokenize import tokenize
    from rag.types import Chunk, content_id

    rows = []
    with (work / "chunks.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            rows.append(json.loads(line))
            if len(rows) == size:
                break
    vectors = np.load(work / "vectors.npy", allow_pickle=False)[:size]
    tokens = [r["tokens"] for r in rows]
    chunks = [Chunk(content_id("news", str(i), r["text"]), content_id("news", str(i)), 0, r["text"], "", None, "news")
              for i, r in enumerate(rows)]
    meta = json.loads((work / "queries.json").read_text(encoding="utf-8"))
    queries = meta["queries"]
    embedder = HashEmbedder(384)
    query_vectors = embedder.embed_queries(queries)
    query_tokens = [tokenize(q) for q in queries]
    folder = work / f"{store}-{size}"
    manifest = {"embedder": {"id": embedder.id, "dim": embedder.dim}}
    rss_before = _rss_mb()
    started = time.perf_counter()
    if store == "local":
        import faiss

        from rag.bm25 import BM25

        bm25 = BM25.build(tokens)
        dense = _make_dense(vectors, embedder.dim)
        folder.mkdir()
        np.save(folder / "vectors.npy", vectors, allow_pickle=False)
        faiss.write_index(dense, str(folder / "dense.faiss"))
        bm25.save(folder / "bm25")
        index = Index(folder, manifest, {}, chunks, vectors, dense, bm25, tokens)
    else:
        from rag.milvus_store import INSERT_BATCH, MilvusIndex, MilvusStore, row_of
        from rag.sparse_bm25 import BM25Stats

        stats = BM25Stats()
        for toks in tokens:
            stats.add(toks)
        stats.avgdl_written = stats.avgdl
        milvus = MilvusStore(str(folder / "milvus.db"), "bench", embedder.dim)
        dense_index = milvus.create(size)
        for start in range(0, size, INSERT_BATCH):
            milvus.insert([row_of("news", chunks[i], None, "", vectors[i], stats.doc_vector(tokens[i]))
                           for i in range(start, min(size, start + INSERT_BATCH))])
        milvus.flush()
        manifest["store"] = {"kind": "milvus", "dense_index": dense_index}
        index = MilvusIndex(folder, manifest, {}, chunks, np.zeros((0, embedder.dim), np.float32), None, None, [])
        index.attach(milvus, stats)
    index_s = time.perf_counter() - started
    result: dict[str, Any] = {"index_s": round(index_s, 1), "dense_index": "hnsw" if size >= HNSW_MIN_CHUNKS else "flat"}
    tops: dict[str, list[list[int]]] = {"dense": [], "bm25": []}
    for leg in ("dense", "bm25", "fused"):
        samples = []
        for i in range(len(queries)):
            call = {"dense": lambda: index.dense_search(query_vectors[i], 50),
                    "bm25": lambda: index.bm25_search(query_tokens[i], 50),
                    "fused": lambda: search(index, embedder, queries[i], 5)}[leg]
            if i == 0:
                call()  # warm-up (milvus-lite's first sparse query after a load is slow)
            t0 = time.perf_counter()
            out = call()
            samples.append((time.perf_counter() - t0) * 1000)
            if leg in tops:
                tops[leg].append(out[0][:TOP].tolist())
        result[leg] = _pct(samples)
    result["rss_mb_added"] = round(_rss_mb() - rss_before, 1)
    result["disk_mb"] = round(_disk_mb(folder), 1)
    result["tops"] = tops
    return result


def bench_stores(sizes: list[int], n_queries: int = N_QUERIES, work_dir: Path | None = None,
                 say: Any = None) -> list[dict[str, Any]]:
    """The comparison table's rows, one per size: {"chunks", "local": {...}, "milvus": {...}, "overlap@10"}."""
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError as exc:
        raise RuntimeError('the stores section needs the cluster extra: pip install -e ".[cluster]"') from exc
    say = say or (lambda message: print(message, file=sys.stderr, flush=True))
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        work = Path(tmp)
        say(f"stores: tokenizing and hash-embedding {max(sizes)} news chunks")
        _prepare(sizes, work, n_queries)
        rows = []
        for size in sizes:
            row: dict[str, Any] = {"chunks": size}
            for store in STORES:
                say(f"stores: {store} at {size} chunks")
                out = subprocess.run([sys.executable, "-m", "rag.bench.stores", "--one", store, str(size), str(work)],
                                     capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
                                     env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                                          "OMP_NUM_THREADS": "1"})
                if out.returncode != 0:
                    raise RuntimeError(f"the {store} store at {size} chunks failed: {out.stderr[-2000:]}")
                row[store] = json.loads(out.stdout.strip().splitlines()[-1])
                shutil.rmtree(work / f"{store}-{size}", ignore_errors=True)
            row["overlap@10"] = {
                leg: round(float(np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in
                                          zip(row["local"]["tops"][leg], row["milvus"]["tops"][leg])])), 3)
                for leg in ("dense", "bm25")
            }
            for store in STORES:
                del row[store]["tops"]
            rows.append(row)
            say(json.dumps(row))
    return rows


def format_stores(rows: list[dict[str, Any]]) -> str:
    lines = ["\nstores: local (FAISS + BM25 files) vs milvus-lite, hash vectors, news chunks (p50/p95 ms)",
             "   chunks  store    index s   dense p50/p95     bm25 p50/p95    fused p50/p95   +RSS MB  disk MB"]
    for row in rows:
        for store in STORES:
            r = row[store]
            lines.append(f"  {row['chunks']:>7}  {store:<7} {r['index_s']:>8}  {r['dense']['p50_ms']:>7}/{r['dense']['p95_ms']:<8}"
                         f" {r['bm25']['p50_ms']:>7}/{r['bm25']['p95_ms']:<8} {r['fused']['p50_ms']:>7}/{r['fused']['p95_ms']:<8}"
                         f" {r['rss_mb_added']:>7} {r['disk_mb']:>8}")
        o = row["overlap@10"]
        lines.append(f"           top-10 overlap between the stores: dense {o['dense']}, bm25 {o['bm25']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rag.bench.stores", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=N_QUERIES)
    parser.add_argument("--one", nargs=3, metavar=("STORE", "SIZE", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        store, size, work = args.one
        print(json.dumps(_one(store, int(size), Path(work))))
        return
    rows = bench_stores(args.sizes, args.queries)
    print(format_stores(rows), file=sys.stderr)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
