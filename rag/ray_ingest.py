"""Ingestion stages for the Milvus store: read, clean and chunk, tokenize, embed; in-process or on Ray.

The same three stage functions run either way:

1. `read_rows`: one corpus file (or one shard of a .jsonl file) -> a row per chunk, streamed
   (`rag.corpus.iter_articles`; a 68k-line .jsonl.gz is never held whole).
2. `tokenize_batch`: the project's jieba tokenizer over each chunk's indexed text.
3. `EmbedStage`: the embedding model, loaded once per worker; passages whose embedding key
   the previous index already holds are not embedded again.

`run_in_process` chains them in this process. `run_on_ray` builds a `ray.data` pipeline:
`flat_map(read_rows)` -> `map_batches(tokenize_batch)` -> `map_batches(EmbedStage)` on an
actor pool (the model loads once per actor), order preserved, and yields the same batches to
the caller, which writes them to Milvus (`rag.milvus_store`). Ray is optional
(`pip install -e ".[cluster]"`) and imported only here, only when asked for.

Rows (dict of columns): `file` (corpus file), `article` (the article as JSON on the row that
carries it, else ""), `chunk` (the chunk as JSON, "" for a row without one), `text` (what is
embedded and tokenized), `warning`; then `tokens` (JSON list), `embed_key` and `vector`.
Passages are embedded in the order they come; sentence-transformers sorts each call's
passages by length, so batches carry little padding.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.chunking import chunk_article
from rag.errors import InputError, RagError
from rag.types import content_id

__all__ = ["Work", "EmbedStage", "read_rows", "tokenize_batch", "run_in_process", "run_on_ray", "embedder_spec"]

BATCH = 256  # rows per batch between stages (and per embedder call)
EMBED_BATCH = 32  # passages per forward pass
LOCAL_WORKERS = 2  # embedding actors for `--ray` without an address (a local Ray)


@dataclass
class Work:
    """One unit of reading: a corpus file, or shard `shard` of `shards` of a .jsonl file."""

    name: str  # the file's name in the corpus ("000_x.txt", "2024/01.jsonl")
    path: str
    chunk_chars: int
    meta: str = ""  # its meta.jsonl entry as JSON ("" for none)
    shard: int = 0
    shards: int = 1


def _is_jsonl(name: str) -> bool:
    return name.endswith((".jsonl", ".jsonl.gz"))


def read_rows(work: Work | dict) -> Iterator[dict[str, Any]]:
    """The chunks of one file (or shard), one row each; articles ride on their first chunk."""
    from rag.corpus import iter_articles

    work = Work(**work) if isinstance(work, dict) else work
    warnings: list[str] = []
    meta = {Path(work.path).name: json.loads(work.meta)} if work.meta else {}
    empty = {"file": work.name, "article": "", "chunk": "", "text": "", "warning": ""}
    try:
        for number, article in enumerate(iter_articles(work.path, warnings.append, meta)):
            if number % work.shards != work.shard:
                continue
            if not _is_jsonl(work.name) and article.source != work.name:
                article.source = work.name  # cited by its path in the corpus, as rag.index does
                article.id = content_id(article.source, article.title, article.text)
            chunks = chunk_article(article, max_chars=work.chunk_chars)
            if not chunks:
                yield {**empty, "article": json.dumps(article.to_dict(), ensure_ascii=False)}
            for i, chunk in enumerate(chunks):
                yield {**empty, "article": json.dumps(article.to_dict(), ensure_ascii=False) if i == 0 else "",
                       "chunk": json.dumps(chunk.to_dict(), ensure_ascii=False), "text": chunk.context_text()}
            while warnings:
                yield {**empty, "warning": warnings.pop(0)}
    except (FileNotFoundError, InputError):
        if os.path.exists(work.path):
            raise
        warnings.append(f"{work.name} disappeared while it was being indexed; left out")
    for warning in warnings:
        yield {**empty, "warning": warning}


def tokenize_batch(batch: dict[str, Any]) -> dict[str, Any]:
    from rag.tokenize import tokenize

    batch["tokens"] = [json.dumps(tokenize(t) if c else [], ensure_ascii=False)
                       for t, c in zip(batch["text"], batch["chunk"])]
    return batch


class EmbedStage:
    """Embeds the rows' passages; one per worker, holding the model.

    `embedder`: an embedder object, or a `make_embedder` spec (what Ray ships to its workers).
    `cached`: embedding keys already stored; those rows get a zero vector and are filled in by
    the caller from the previous index."""

    def __init__(self, embedder: Any, cached: frozenset[str] = frozenset()) -> None:
        if isinstance(embedder, str):
            from rag.embedders import make_embedder

            embedder = make_embedder(embedder)
        self.embedder = embedder
        self.cached = cached
        self.embedded = 0
        self.seconds = 0.0

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import time

        texts, chunks = list(batch["text"]), list(batch["chunk"])
        keys = [content_id(self.embedder.id, t) if c else "" for t, c in zip(texts, chunks)]
        vectors = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        todo = [i for i, key in enumerate(keys) if key and key not in self.cached]
        if todo:
            started = time.perf_counter()
            vectors[todo] = self.embedder.embed_passages([texts[i] for i in todo], batch_size=EMBED_BATCH)
            self.seconds += time.perf_counter() - started
            self.embedded += len(todo)
        batch["embed_key"], batch["vector"] = keys, vectors
        return batch


def embedder_spec(embedder: Any) -> Any:
    """What a Ray worker rebuilds the embedder from: a `make_embedder` spec where there is one,
    else the object itself (Ray pickles it)."""
    from rag.embedders import E5Embedder, HashEmbedder

    if isinstance(embedder, HashEmbedder):
        return f"hash:{embedder.dim}"
    if isinstance(embedder, E5Embedder):
        if not embedder._fast_passages:
            return "e5-nano"
        if embedder._bf16:
            return "e5-bf16"
        return "e5" if embedder._int8 else "e5-fp32"
    return embedder


def _columns(rows: list[dict[str, Any]]) -> dict[str, list]:
    return {key: [row[key] for row in rows] for key in rows[0]}


def run_in_process(works: list[Work], embed: EmbedStage) -> Iterator[dict[str, Any]]:
    """The stages chained in this process, BATCH rows at a time."""
    rows: list[dict[str, Any]] = []
    for work in works:
        for row in read_rows(work):
            rows.append(row)
            if len(rows) == BATCH:
                yield embed(tokenize_batch(_columns(rows)))
                rows = []
    if rows:
        yield embed(tokenize_batch(_columns(rows)))


def _start_ray(ray: Any, address: str, workers: int | None) -> None:
    # A local Ray on a loaded 2-core machine sometimes misses its own start-up deadline
    # (seen: 1 start in 6 while other jobs ran); a second try has always come up.
    for attempt in (1, 2):
        try:
            if address == "local":
                ray.init(num_cpus=max(2, workers or LOCAL_WORKERS), include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            return
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError, by version
            ray.shutdown()
            if attempt == 2 or address != "local":
                raise RagError(f"could not start or reach Ray at {address!r} ({exc}): for a cluster, start it "
                               f"with `ray start --head` and give its address, e.g. --ray ray://head:10001") from exc


def run_on_ray(works: list[Work], embedder: Any, cached: frozenset[str], address: str,
               workers: int | None = None) -> Iterator[dict[str, Any]]:
    """The stages as a ray.data pipeline; `address` "local" starts a Ray on this machine
    (`workers` embedding actors, default 2), anything else is passed to `ray.init`
    ("auto", "ray://head:10001"). .jsonl files are read in one shard per worker."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RagError('--ray needs Ray: pip install -e ".[cluster]" (or pip install "ray[data]")') from exc
    started_here = not ray.is_initialized()
    if started_here:
        _start_ray(ray, address, workers)
    try:
        if workers is None:
            workers = LOCAL_WORKERS if address == "local" else max(1, int(ray.cluster_resources().get("CPU", 2)) // 2)
        items = [asdict(Work(w.name, w.path, w.chunk_chars, w.meta, shard, workers if _is_jsonl(w.name) else 1))
                 for w in works for shard in range(workers if _is_jsonl(w.name) else 1)]
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # chunks come out in corpus order, as in-process
        context.enable_progress_bars = False
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.flat_map(read_rows, num_cpus=0.5)
        ds = ds.map_batches(tokenize_batch, batch_size=BATCH, batch_format="default", num_cpus=0.5)
        # The actors take half a CPU each, so that reading and tokenizing still find room on a
        # small machine; on a cluster the pool spreads over the nodes.
        ds = ds.map_batches(EmbedStage, fn_constructor_kwargs={"embedder": embedder_spec(embedder), "cached": cached},
                            batch_size=BATCH, batch_format="default", num_cpus=0.5,
                            compute=ray.data.ActorPoolStrategy(size=workers))
        for batch in ds.iter_batches(batch_size=BATCH, batch_format="numpy"):
            yield {key: (value if key == "vector" else value.tolist()) for key, value in batch.items()}
    finally:
        if started_here:
            ray.shutdown()
