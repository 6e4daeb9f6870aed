"""The `milvus` store: dense vectors and BM25 sparse vectors in one Milvus collection per index.

`pymilvus`'s `MilvusClient(uri)`: with a file URI (default `<index dir>/milvus.db`) it runs on
milvus-lite in this process, with no server; with `http://host:19530` it talks to a Milvus
2.5+ standalone or distributed cluster. Optional: `pip install -e ".[cluster]"`.

What lives where (the index folder is still the index's description)::

    manifest.json       as for the local store, plus "store": {kind, uri, collection, dense_index}
    articles.jsonl      the cleaned articles (citations, GET /articles/{id})
    chunks.jsonl        one chunk a line, with its file, embedding key and BM25 tokens
    bm25_stats.npz/json the df/N/avgdl table of the keyword leg (rag.sparse_bm25)
    milvus.db/          milvus-lite's data, when the URI is the default file

    collection: id (chunk id, primary key), file, article_id, source, publication, date,
                context (headline + heading + text, for the place filter), embed_key,
                dense (FLOAT_VECTOR, FLAT under 50k chunks, HNSW above, inner product),
                sparse (SPARSE_FLOAT_VECTOR, the chunk's BM25 tf part, inner product)

Both legs are searched in Milvus and fused by the project's own RRF (rag.retrieve), so
`hybrid` means the same thing as on the local store; filters become Milvus filter
expressions. A full build writes a new collection and switches the manifest to it at the
end (the old one is dropped then), so a failed build leaves the previous index working; an
update deletes the rows of changed and removed files by filter and inserts the new rows,
which is idempotent (chunk ids are content hashes), so re-running a cut-short update repairs it.

milvus-lite quirks handled here: an all-zero sparse row is rejected (rag.sparse_bm25 reserves
dimension 0), `drop_ratio_search` must be 0, `filter_params` templates fail (literal filter
strings instead), a reopened collection must be loaded, `output_fields=[]` returns every
field, and one process at a time may open a data folder.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedders import Embedder
from rag.errors import IndexConflictError, IndexMismatchError, InputError, RagError
from rag.index import (
    FORMAT_VERSION,
    HNSW_EF_SEARCH,
    HNSW_M,
    HNSW_MIN_CHUNKS,
    BuildReport,
    Index,
    file_sha,
    index_manifest,
    manifest_digest,
    manifest_fields,
    named_files,
    read_jsonl,
    repair_command,
    sidecar_key,
    store_kind,
)
from rag.meta import read_sidecar
from rag.sparse_bm25 import REWEIGH_DRIFT, BM25Stats
from rag.tokenize import tokenizer_id
from rag.types import Article, Chunk, content_id

__all__ = ["MilvusStore", "MilvusIndex", "build_milvus_index", "filter_expression", "load_milvus_index",
           "resolve_uri"]

log = logging.getLogger(__name__)

DEFAULT_DB = "milvus.db"
LOCAL_COLLECTION = "rag_chunks"
INSERT_BATCH = 1000  # rows per insert call
MAX_VARCHAR = 65_535  # bytes, Milvus's limit for a VARCHAR field
LOCAL_FILES = ("articles.jsonl", "chunks.jsonl", "bm25_stats.npz", "bm25_stats.json")
_INSTALL = 'the milvus store needs pymilvus and milvus-lite: pip install -e ".[cluster]"'


def _is_remote(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "grpc://", "unix:"))


def resolve_uri(index_dir: Path, uri: str | None) -> tuple[str, str]:
    """(what to connect to, what the manifest records) for a URI setting; None is the default
    file inside the index folder, recorded relative so the folder can move."""
    index_dir = Path(index_dir)
    if not uri or uri == DEFAULT_DB:
        return str(index_dir / DEFAULT_DB), DEFAULT_DB
    if _is_remote(uri):
        return uri, uri
    path = Path(uri)
    if path.suffix != ".db":
        raise InputError(f"a milvus-lite URI is a file path ending in .db (such as index/milvus.db), or a server "
                         f"URL such as http://localhost:19530; got {uri!r}")
    return str(path.resolve()), str(path.resolve())


def _recorded_uri(index_dir: Path, recorded: str) -> str:
    return str(Path(index_dir) / recorded) if recorded == DEFAULT_DB else recorded


def _literal(value: str) -> str:
    """A Milvus string literal (filter_params templates fail on milvus-lite)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _in(field: str, values: Iterable[str]) -> str:
    return f"{field} in [{', '.join(_literal(v) for v in values)}]"


def filter_expression(filters: Any) -> str:
    """A `rag.retrieve.Filters` as a Milvus boolean expression ("" for no restriction).

    Dates are YYYY-MM-DD strings, compared as strings ("" for an undated chunk, which a date
    range excludes, as the local store does). The place filter matches the chunk's headline,
    heading and text with `like`; `%` and `_` in a place name become wildcards there, and
    MilvusIndex checks the place exactly on what comes back.
    """
    if filters is None:
        return ""
    parts = []
    if filters.sources:
        parts.append(_in("source", filters.sources))
    if filters.publications:
        parts.append(_in("publication", filters.publications))
    if filters.date_from or filters.date_to:
        parts.append('date != ""')
    if filters.date_from:
        parts.append(f"date >= {_literal(filters.date_from)}")
    if filters.date_to:
        parts.append(f"date <= {_literal(filters.date_to)}")
    if filters.place:
        pattern = "%".join(p for p in filters.place.replace("_", "%").split("%"))
        parts.append(f"context like {_literal('%' + pattern + '%')}")
    return " and ".join(parts)


def _clip(text: str, limit: int = MAX_VARCHAR) -> str:
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


class MilvusStore:
    """One collection: create, insert, delete by file, and the two search legs."""

    kind = "milvus"

    def __init__(self, uri: str, collection: str, dim: int) -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise RagError(_INSTALL) from exc
        self.uri, self.collection, self.dim = uri, collection, dim
        if not _is_remote(uri):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        # milvus-lite's in-process server answers keepalive pings on an idle channel with
        # "too_many_pings" (logged by gRPC); ping only while a call is under way.
        options = {} if _is_remote(uri) else {"grpc_options": {"grpc.keepalive_permit_without_calls": 0}}
        try:
            self.client = MilvusClient(uri, **options)
        except Exception as exc:
            raise RagError(self._unreachable(exc)) from exc

    def _unreachable(self, exc: BaseException) -> str:
        if _is_remote(self.uri):
            return (f"could not reach Milvus at {self.uri} ({exc}): start the server (see README, “Scaling out”) "
                    f"or set RAG_MILVUS_URI to its address")
        return (f"could not open milvus-lite at {self.uri} ({exc}): milvus-lite lets one process at a time use a "
                f"data folder; stop the other `rag` process using it (a `rag serve`? then add articles through its "
                f"POST /articles), or use a Milvus server")

    # -- the collection -------------------------------------------------------------------

    def exists(self, name: str | None = None) -> bool:
        return self.client.has_collection(name or self.collection)

    def collections(self) -> list[str]:
        return list(self.client.list_collections())

    def drop(self, name: str | None = None) -> None:
        if self.exists(name):
            self.client.drop_collection(name or self.collection)

    def create(self, expected_rows: int) -> str:
        """A new, empty collection; FLAT dense index below HNSW_MIN_CHUNKS rows, HNSW above."""
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
        for name, length in (("file", 4096), ("article_id", 64), ("source", 4096), ("publication", 1024),
                             ("date", 32), ("context", MAX_VARCHAR), ("embed_key", 64)):
            schema.add_field(name, DataType.VARCHAR, max_length=length)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        params = self.client.prepare_index_params()
        dense_index = "hnsw" if expected_rows >= HNSW_MIN_CHUNKS else "flat"
        if dense_index == "hnsw":
            params.add_index("dense", index_type="HNSW", metric_type="IP",
                             params={"M": HNSW_M, "efConstruction": 80})
        else:
            params.add_index("dense", index_type="FLAT", metric_type="IP")
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        self.drop()
        self.client.create_collection(self.collection, schema=schema, index_params=params)
        return dense_index

    def load(self) -> None:
        self.client.load_collection(self.collection)

    def flush(self) -> None:
        """Seal what was written into indexed segments, then load them. Needed after writes:
        milvus-lite rebuilds its sparse index over unsealed rows on every search (measured,
        5k rows: 2.2 s a BM25 query before, 30 ms after)."""
        self.client.flush(self.collection)
        self.load()

    def count(self) -> int:
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def insert(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), INSERT_BATCH):
            self.client.insert(self.collection, rows[start:start + INSERT_BATCH])

    def upsert(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), INSERT_BATCH):
            self.client.upsert(self.collection, rows[start:start + INSERT_BATCH])

    def delete_files(self, names: Iterable[str]) -> None:
        names = sorted(set(names))
        for start in range(0, len(names), 200):
            self.client.delete(self.collection, filter=_in("file", names[start:start + 200]))

    def rows(self, expression: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row matching `expression`, in batches (a query alone stops at 16,384 rows)."""
        iterator = self.client.query_iterator(self.collection, batch_size=1000, filter=expression or 'id != ""',
                                              output_fields=fields)
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    # -- the two legs -----------------------------------------------------------------------

    def dense_search(self, vector: np.ndarray, k: int, expression: str = "",
                     dense_index: str = "flat") -> list[tuple[str, float]]:
        params: dict[str, Any] = {"metric_type": "IP"}
        if dense_index == "hnsw":
            params["params"] = {"ef": max(HNSW_EF_SEARCH, k)}
        found = self.client.search(self.collection, data=[np.asarray(vector, dtype=np.float32)], anns_field="dense",
                                   limit=k, filter=expression, output_fields=["id"], search_params=params)
        return [(hit["id"], float(hit["distance"])) for hit in found[0]]

    def sparse_search(self, query: dict[int, float], k: int, expression: str = "") -> list[tuple[str, float]]:
        found = self.client.search(self.collection, data=[query], anns_field="sparse", limit=k, filter=expression,
                                   output_fields=["id"],
                                   search_params={"metric_type": "IP", "params": {"drop_ratio_search": 0}})
        return [(hit["id"], float(hit["distance"])) for hit in found[0]]

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing twice, or a server already gone
            pass


def row_of(file: str, chunk: Chunk, publication: str | None, key: str, vector: np.ndarray,
           sparse: dict[int, float]) -> dict[str, Any]:
    """A chunk as a collection row."""
    return {
        "id": chunk.id, "file": file, "article_id": chunk.article_id, "source": chunk.source,
        "publication": publication or "", "date": chunk.date or "",
        "context": _clip(f"{chunk.title}\n{chunk.heading}\n{chunk.text}"), "embed_key": key,
        "dense": np.asarray(vector, dtype=np.float32), "sparse": sparse,
    }


class MilvusIndex(Index):
    """An index whose legs search Milvus; chunks and articles are read from the index folder."""

    store: MilvusStore
    stats: BM25Stats

    def attach(self, store: MilvusStore, stats: BM25Stats) -> MilvusIndex:
        self.store, self.stats = store, stats
        self._position = {chunk.id: i for i, chunk in enumerate(self.chunks)}
        self._dense_index = self.manifest["store"].get("dense_index", "flat")
        return self

    def allowed(self, filters: Any) -> Any:
        return filters  # Milvus filters by itself (filter_expression)

    def _positions(self, hits: list[tuple[str, float]], filters: Any) -> tuple[np.ndarray, np.ndarray]:
        place = getattr(filters, "place", None)
        positions, scores = [], []
        for chunk_id, score in hits:
            pos = self._position.get(chunk_id)
            if pos is None:
                continue  # written by an update this process has not loaded yet
            if place:
                chunk = self.chunks[pos]
                if place not in chunk.title + chunk.heading + chunk.text:
                    continue
            positions.append(pos)
            scores.append(score)
        return np.asarray(positions, dtype=np.int64), np.asarray(scores, dtype=np.float32)

    def dense_search(self, query_vector: np.ndarray, k: int, allowed: Any = None):
        if k <= 0 or not self.chunks:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        hits = self.store.dense_search(query_vector, k, filter_expression(allowed), self._dense_index)
        return self._positions(hits, allowed)

    def bm25_search(self, query_tokens: list[str], k: int, allowed: Any = None):
        query = self.stats.query_vector(query_tokens) if query_tokens else {}
        if not query or k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        hits = [(i, s) for i, s in self.store.sparse_search(query, k, filter_expression(allowed)) if s > 0]
        return self._positions(hits, allowed)


# ---------------------------------------------------------------------------- loading


def load_milvus_index(index_dir: Path, manifest: dict[str, Any], milvus_uri: str | None = None) -> MilvusIndex:
    """The index at index_dir (manifest already checked by rag.index.load_index)."""
    rebuild = f"rebuild with {repair_command(index_dir, manifest)}"
    store_info = manifest.get("store") or {}
    recorded = store_info.get("uri")
    if not isinstance(recorded, str) or not isinstance(store_info.get("collection"), str):
        raise IndexMismatchError(f"the index at {index_dir} is damaged: its manifest names no Milvus collection: {rebuild}")
    if milvus_uri is not None and resolve_uri(index_dir, milvus_uri)[1] != recorded:
        raise IndexMismatchError(
            f"the index at {index_dir} keeps its vectors in Milvus at {recorded}, but RAG_MILVUS_URI (or "
            f"--milvus-uri) is {milvus_uri}: unset it to use this index, or move the index there with "
            f"{repair_command(index_dir, manifest, f' --milvus-uri {milvus_uri}')}"
        )
    try:
        article_rows = read_jsonl(index_dir / "articles.jsonl")
        articles = {r["article"]["id"]: Article(**r["article"]) for r in article_rows}
        article_files = {r["article"]["id"]: r["file"] for r in article_rows}
        chunks = [Chunk(**row["chunk"]) for row in read_jsonl(index_dir / "chunks.jsonl")]
        stats = BM25Stats.load(index_dir)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise IndexMismatchError(f"the index at {index_dir} is incomplete or damaged ({exc}): {rebuild}") from exc
    dim = manifest["embedder"]["dim"]
    store = MilvusStore(_recorded_uri(index_dir, recorded), store_info["collection"], dim)
    if not store.exists():
        store.close()
        raise IndexMismatchError(
            f"the index at {index_dir} keeps its vectors in the Milvus collection {store.collection!r} at {recorded}, "
            f"which is not there (deleted, or another server): {rebuild}"
        )
    store.load()
    count = store.count()
    if count != len(chunks) or stats.n_docs != len(chunks):
        store.close()
        raise IndexMismatchError(
            f"the index at {index_dir} is inconsistent ({len(chunks)} chunks, {count} rows in Milvus, "
            f"{stats.n_docs} in the BM25 table; an update cut short?): update it with "
            f"`rag index {manifest.get('source', 'corpus')} --index-dir {index_dir}`, or {rebuild}"
        )
    index = MilvusIndex(index_dir, manifest, articles, chunks, np.zeros((0, dim), np.float32), None, None, [],
                        article_files)
    return index.attach(store, stats)


# ---------------------------------------------------------------------------- building


def _previous(index_dir: Path, embedder: Embedder, chunk_chars: int, rebuild: bool) -> dict[str, Any] | None:
    """The manifest of a milvus index this build may update in place, else None."""
    manifest = None if rebuild else index_manifest(index_dir)
    if not manifest or store_kind(manifest) != "milvus":
        return None
    same = (manifest.get("format_version") == FORMAT_VERSION
            and (manifest.get("embedder") or {}).get("id") == embedder.id
            and manifest.get("tokenizer") == tokenizer_id() and manifest.get("chunk_chars") == chunk_chars
            and all((index_dir / name).exists() for name in LOCAL_FILES))
    if not same:
        log.info("the index at %s was built differently; building it again", index_dir)
    return manifest if same else None


def build_milvus_index(source: Path, index_dir: Path, embedder: Embedder, *, chunk_chars: int = 300,
                       rebuild: bool = False, progress: bool = True, milvus_uri: str | None = None,
                       ray_address: str | None = None, ray_workers: int | None = None) -> BuildReport:
    """Build or update the milvus index of a corpus (called by rag.index.build_index, lock held)."""
    from tqdm import tqdm

    from rag.ray_ingest import EmbedStage, Work, run_in_process, run_on_ray

    started = time.perf_counter()
    source, index_dir = Path(source), Path(index_dir)
    report = BuildReport(str(index_dir), 0, 0, 0, 0)
    named = named_files(source)
    shas = {}
    for name, path in named:
        try:
            shas[name] = file_sha(path)
        except FileNotFoundError:
            report.warnings.append(f"{name} disappeared while the corpus was being read; left out")
    named = [(name, path) for name, path in named if name in shas]
    sidecar = read_sidecar(source)
    files = {name: sidecar_key(sha, sidecar.get(name)) for name, sha in shas.items()}
    previous = _previous(index_dir, embedder, chunk_chars, rebuild)
    old_files: dict[str, str] = previous.get("files", {}) if previous else {}
    report.files_added = sorted(set(files) - set(old_files))
    report.files_removed = sorted(set(old_files) - set(files))
    report.files_changed = sorted(n for n in files if n in old_files and old_files[n] != files[n])
    if previous and not (report.files_added or report.files_removed or report.files_changed):
        report.articles, report.chunks = previous["counts"]["articles"], previous["counts"]["chunks"]
        report.reused, report.unchanged = report.chunks, True
        report.seconds = time.perf_counter() - started
        return report
    unchanged = {n for n in files if old_files.get(n) == files[n]}

    old_store = (previous or {}).get("store") or {}
    if previous and milvus_uri is not None and resolve_uri(index_dir, milvus_uri)[1] != old_store.get("uri"):
        raise IndexConflictError(
            f"the index at {index_dir} keeps its vectors in Milvus at {old_store.get('uri')}, not {milvus_uri}: update "
            f"it without --milvus-uri, or move it on purpose with "
            f"{repair_command(index_dir, previous, f' --milvus-uri {milvus_uri}')}"
        )
    connect, recorded = resolve_uri(index_dir, milvus_uri or old_store.get("uri"))
    index_dir.mkdir(parents=True, exist_ok=True)
    full = previous is None
    base = LOCAL_COLLECTION if recorded == DEFAULT_DB else "rag_" + content_id(str(index_dir.resolve()), length=12)
    collection = f"{base}_{int(time.time() * 1000):x}" if full else old_store["collection"]
    store = MilvusStore(connect, collection, embedder.dim)
    tmp = index_dir.with_name(f".{index_dir.name}.building-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        # 1. Rows of unchanged files are kept; vectors of changed files are reused by embedding key.
        seen: set[str] = set()
        kept = 0
        with (tmp / "articles.jsonl").open("w", encoding="utf-8") as articles_out, \
                (tmp / "chunks.jsonl").open("w", encoding="utf-8") as chunks_out, \
                (tmp / "vectors.f32").open("wb") as spool:
            if previous:
                for row in _rows_from(index_dir / "articles.jsonl"):
                    if row["file"] in unchanged:
                        articles_out.write(json.dumps(row, ensure_ascii=False) + "\n")
                        report.articles += 1
                for row in _rows_from(index_dir / "chunks.jsonl"):
                    if row["file"] in unchanged:
                        chunks_out.write(json.dumps(row, ensure_ascii=False) + "\n")
                        seen.add(row["chunk"]["id"])
                        kept += 1
            cache: dict[str, np.ndarray] = {}
            if previous and report.files_changed:
                store.load()
                for row in store.rows(_in("file", report.files_changed), ["embed_key", "dense"]):
                    cache[row["embed_key"]] = np.asarray(row["dense"], dtype=np.float32)
            # Idle while reading and embedding (minutes to hours): an open channel's keepalive
            # pings annoy the server ("too_many_pings"), so connect again for the writes.
            store.close()

            # 2. Read, chunk, tokenize and embed the new and changed files (in-process or on Ray).
            todo = [Work(name, str(path), chunk_chars, json.dumps(sidecar[name], ensure_ascii=False)
                         if name in sidecar else "") for name, path in named if name not in unchanged]
            if todo and hasattr(embedder, "warm_up") and ray_address is None:
                embedder.warm_up()  # model loading is not embedding time
            embed_started = time.perf_counter()
            if ray_address is None:
                stage = EmbedStage(embedder, frozenset(cache))
                batches = run_in_process(todo, stage)
            else:
                stage = None
                batches = run_on_ray(todo, embedder, frozenset(cache), ray_address, ray_workers)
            new = 0
            with tqdm(desc="indexing", unit="chunk", disable=not progress or not todo) as bar:
                for batch in batches:
                    for i, file in enumerate(batch["file"]):
                        if batch["warning"][i]:
                            report.warnings.append(batch["warning"][i])
                        if batch["article"][i]:
                            article = json.loads(batch["article"][i])
                            articles_out.write(json.dumps({"file": file, "article": article}, ensure_ascii=False) + "\n")
                            report.articles += 1
                        if not batch["chunk"][i]:
                            continue
                        chunk = json.loads(batch["chunk"][i])
                        if chunk["id"] in seen:  # the same paragraph twice in one article: one row
                            continue
                        seen.add(chunk["id"])
                        key = batch["embed_key"][i]
                        vector = cache.get(key, batch["vector"][i])
                        row = {"file": file, "chunk": chunk, "embed_key": key, "tokens": json.loads(batch["tokens"][i])}
                        chunks_out.write(json.dumps(row, ensure_ascii=False) + "\n")
                        spool.write(np.asarray(vector, dtype=np.float32).tobytes())
                        new += 1
                        report.embedded += key not in cache
                    bar.update(len(batch["file"]))
            report.embed_seconds = stage.seconds if stage else time.perf_counter() - embed_started
            report.reused = kept + (new - report.embedded)
            report.chunks = kept + new
        for name in report.files_added + report.files_changed:  # changed while being read: read it next time
            path = dict(named)[name]
            try:
                if file_sha(path) != shas[name]:
                    files[name] = ""
                    report.warnings.append(f"{name} changed while it was being indexed: run `rag index` again")
            except FileNotFoundError:
                files.pop(name, None)
        if report.chunks == 0:
            raise RagError(
                f"no articles found in {source}: it needs .txt, .md, .html or .jsonl(.gz) files with text"
                + (f" ({'; '.join(report.warnings)})" if report.warnings else "")
            )

        # 3. The BM25 table over every chunk, then the rows into Milvus.
        store = MilvusStore(connect, collection, embedder.dim)
        stats = BM25Stats()
        for row in _rows_from(tmp / "chunks.jsonl"):  # streamed: never the whole corpus in memory
            stats.add(row["tokens"])
        old_stats = BM25Stats.load(index_dir) if previous else None
        stats.avgdl_written = old_stats.avgdl_written if old_stats else stats.avgdl
        reweigh = stats.drift() > REWEIGH_DRIFT
        if reweigh:
            stats.avgdl_written = stats.avgdl
        dense_index = store.create(report.chunks) if full else old_store.get("dense_index", "flat")
        if not full:
            store.load()
            store.delete_files(report.files_added + report.files_changed + report.files_removed)
        publications = _publications(tmp / "articles.jsonl")
        vectors = np.memmap(tmp / "vectors.f32", dtype=np.float32, mode="r", shape=(new, embedder.dim)) if new else None
        rows: list[dict[str, Any]] = []
        for i, row in enumerate(_rows_from(tmp / "chunks.jsonl", kept)):
            chunk = Chunk(**row["chunk"])
            rows.append(row_of(row["file"], chunk, publications.get(chunk.article_id), row["embed_key"],
                               vectors[i], stats.doc_vector(row["tokens"])))
            if len(rows) >= INSERT_BATCH:
                store.insert(rows)
                rows = []
        if rows:
            store.insert(rows)
        del vectors
        if reweigh and kept:  # avgdl moved: every kept row's tf part again
            _reweigh(store, tmp / "chunks.jsonl", kept, stats)
        store.flush()

        # 4. The index folder: local files first, the manifest last (what loading trusts).
        stats.save(tmp)
        manifest = manifest_fields(source, embedder, chunk_chars, dense_index, files, report.articles, report.chunks)
        manifest["store"] = {"kind": "milvus", "uri": recorded, "collection": collection, "dense_index": dense_index}
        manifest["versions"].update(_milvus_versions())
        manifest["sizes"] = {name: (tmp / name).stat().st_size for name in LOCAL_FILES}
        manifest["digest"] = manifest_digest(manifest)
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        for name in (*LOCAL_FILES, "manifest.json"):
            os.replace(tmp / name, index_dir / name)
        for name in ("vectors.npy", "dense.faiss", "bm25"):  # a local index this one replaced (--rebuild)
            target = index_dir / name
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        if full:  # the collections of earlier builds of this index (and of builds cut short)
            for name in store.collections():
                if name.startswith(base + "_") and name != collection:
                    store.drop(name)
    except BaseException:
        if full:
            try:
                store.drop()  # a cut-short full build leaves the previous collection as it was
            except Exception:
                pass
        raise
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _publications(articles_path: Path) -> dict[str, str | None]:
    return {row["article"]["id"]: row["article"].get("publication") for row in _rows_from(articles_path)}


def _rows_from(path: Path, skip: int = 0) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= skip and line.strip():
                yield json.loads(line)


def _reweigh(store: MilvusStore, chunks_path: Path, kept: int, stats: BM25Stats) -> None:
    """Rewrite the tf part of the first `kept` chunks (those already in Milvus) with stats.avgdl_written."""
    tokens: dict[str, list[str]] = {}
    with chunks_path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= kept:
                break
            row = json.loads(line)
            tokens[row["chunk"]["id"]] = row["tokens"]
    fields = ["id", "file", "article_id", "source", "publication", "date", "context", "embed_key", "dense"]
    batch: list[dict[str, Any]] = []
    for row in list(store.rows(_in("id", tokens) if len(tokens) < 1000 else "", fields)):
        if row["id"] not in tokens:
            continue
        batch.append({**row, "dense": np.asarray(row["dense"], np.float32), "sparse": stats.doc_vector(tokens[row["id"]])})
        if len(batch) >= INSERT_BATCH:
            store.upsert(batch)
            batch = []
    if batch:
        store.upsert(batch)
    log.info("avgdl moved by more than %.0f%%: rewrote the BM25 part of %d chunks", REWEIGH_DRIFT * 100, len(tokens))


def _milvus_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("pymilvus", "milvus-lite"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
