"""Adding and removing articles of a built index: `POST /articles`, `DELETE /articles/{id}`, `rag add`.

Where uploads live: in the corpus folder the index was built from (its manifest's
`source`), under `uploads/`. They are ordinary corpus files there, so they survive a
restart, `rag corpus` lists them, and a later `rag index corpus` keeps them instead of
dropping them. A file is stored as `uploads/<first 12 hex of its sha256>_<its name>`:
the same bytes uploaded twice are one file.

Each change reruns the incremental build of `rag.index` over that corpus (only the new
file is read and embedded; everything else is reused) and its atomic swap: the index
folder is replaced only once the new one is complete, and a failed build puts the corpus
back as it was. The caller then loads the new index (the API swaps its engine).

Deleting works on uploaded files: the file that holds the article is removed, and with it
any other article read from the same file (the answer lists them). Articles of the corpus
proper are not deleted over the API: remove their file and run `rag index`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.corpus import load_corpus
from rag.embedders import Embedder
from rag.errors import ArticleNotFound, InputError, RagError
from rag.index import BuildReport, build_index, load_index
from rag.readers import decode_bytes, normalize_date
from rag.types import Article, content_id

__all__ = [
    "UPLOADS",
    "UPLOAD_SUFFIXES",
    "Change",
    "NotUploadedError",
    "add_files",
    "corpus_of",
    "delete_article",
    "record_file",
]

UPLOADS = "uploads"  # the folder inside the corpus that holds uploaded files
UPLOAD_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
MAX_TITLE_CHARS = 200
_UNSAFE = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


class NotUploadedError(InputError):
    """The article belongs to the corpus proper, not to an upload (HTTP 409)."""


@dataclass
class Change:
    """What an add or delete did: the articles concerned and the build that followed."""

    articles: list[Article] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # corpus file names written or removed
    report: BuildReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "articles": [{"id": a.id, "title": a.title, "date": a.date, "date_source": a.date_source,
                          "source": a.source, "publication": a.publication} for a in self.articles],
            "files": self.files,
            "index": {"articles": self.report.articles, "chunks": self.report.chunks,
                      "embedded": self.report.embedded, "seconds": round(self.report.seconds, 2)}
            if self.report else None,
        }


def corpus_of(index_dir: Path, fallback: Path | None = None) -> Path:
    """The corpus folder the index at `index_dir` was built from (uploads go into it)."""
    try:
        manifest = json.loads((Path(index_dir) / "manifest.json").read_text(encoding="utf-8"))
        source = Path(manifest["source"])
    except (OSError, ValueError, KeyError) as exc:
        if fallback is None:
            raise RagError(f"no index at {index_dir}: build one with `rag index corpus --index-dir {index_dir}`") from exc
        source = Path(fallback)
    if not source.is_dir():
        raise RagError(
            f"the index at {index_dir} was built from {source}, which is not a folder here; articles are "
            f"added into the corpus folder: rebuild with `rag index <corpus folder> --index-dir {index_dir}`"
        )
    return source


def _stored_name(filename: str, data: bytes) -> str:
    name = Path(filename.replace("\\", "/")).name
    suffix = "".join(Path(name).suffixes[-1:]).lower()
    if suffix not in UPLOAD_SUFFIXES:
        raise InputError(
            f"{name or 'the file'}: unsupported file type; upload {', '.join(UPLOAD_SUFFIXES)} "
            "or JSON {\"title\", \"text\", \"date\", \"source\"}"
        )
    stem = _UNSAFE.sub("_", name[: -len(suffix)]).strip("._")[:60] or "article"
    return f"{UPLOADS}/{content_id(data.hex(), length=12)}_{stem}{suffix}"


def _articles_in(stored: str, data: bytes) -> list[Article]:
    """The articles a file would give, read before it joins the corpus; an error if none."""
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / Path(stored).name
        path.write_bytes(data)
        loaded = load_corpus(path, meta={})
    if not loaded.articles:
        why = "; ".join(loaded.warnings) or "no text found"
        raise InputError(f"{Path(stored).name}: no article could be read from it ({why})")
    return loaded.articles


def record_file(record: Any) -> tuple[str, bytes]:
    """A JSON article `{title, text, date?, source?, publication?}` as a one-line .jsonl file."""
    if not isinstance(record, dict):
        raise InputError('send a JSON object {"title": "…", "text": "…", "date": "2024-02-21", "source": "…"}')
    allowed = {"title", "text", "date", "source", "publication"}
    unknown = set(record) - allowed
    if unknown:
        raise InputError(f"unknown field(s) {sorted(unknown)}: use {', '.join(sorted(allowed))}")
    text, title = record.get("text"), record.get("title", "")
    if not isinstance(text, str) or not text.strip():
        raise InputError('"text" is required: the article\'s text, paragraphs separated by line breaks')
    if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
        raise InputError(f'"title" must be text of at most {MAX_TITLE_CHARS} characters')
    for key in ("source", "publication"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise InputError(f'"{key}" must be text, got {record[key]!r}')
    date = record.get("date")
    if date not in (None, "") and (not isinstance(date, str) or normalize_date(date) is None):
        raise InputError(f'"date" must look like 2024-02-21, got {date!r}')
    line = {k: v for k, v in record.items() if v not in (None, "")}
    data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
    slug = _UNSAFE.sub("_", title.strip())[:30].strip("._") or "article"
    return f"{slug}.jsonl", data


def add_files(corpus: Path, index_dir: Path, embedder: Embedder, files: list[tuple[str, bytes]],
              *, progress: bool = False) -> Change:
    """Store the files under corpus/uploads/ and update the index; undone if the build fails."""
    if not files:
        raise InputError("no file given: upload a .txt, .md, .html or .jsonl file")
    corpus, index_dir = Path(corpus), Path(index_dir)
    planned: list[tuple[str, bytes]] = []
    for filename, data in files:
        stored = _stored_name(filename, data)
        if Path(filename).suffix.lower() != ".jsonl":
            decode_bytes(data, Path(filename).name)  # the reader's own message for binary or undecodable bytes
        _articles_in(stored, data)
        planned.append((stored, data))
    written: list[Path] = []
    try:
        for stored, data in planned:
            target = corpus / stored
            if target.exists():
                continue  # the same bytes are already in the corpus
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part")
            tmp.write_bytes(data)
            os.replace(tmp, target)
            written.append(target)
        report = build_index(corpus, index_dir, embedder, chunk_chars=_chunk_chars(index_dir), progress=progress)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    index = load_index(index_dir, embedder.id)
    names = [stored for stored, _ in planned]
    articles = [index.articles[i] for i, f in index.article_files.items() if f in names]
    return Change(articles, names, report)


def delete_article(corpus: Path, index_dir: Path, embedder: Embedder, article_id: str) -> Change:
    """Remove the uploaded file that holds the article and update the index."""
    corpus, index_dir = Path(corpus), Path(index_dir)
    index = load_index(index_dir, embedder.id)
    if article_id not in index.articles:
        raise ArticleNotFound(article_id)
    stored = index.article_files.get(article_id, "")
    if not stored.startswith(UPLOADS + "/"):
        raise NotUploadedError(
            f"article {article_id} comes from the corpus file {stored}, not from an upload; to remove it, "
            f"delete that file from {corpus} and run `rag index {corpus} --index-dir {index_dir}`"
        )
    gone = [index.articles[i] for i, f in index.article_files.items() if f == stored]
    path = corpus / stored
    data = path.read_bytes() if path.exists() else None
    try:
        path.unlink(missing_ok=True)
        report = build_index(corpus, index_dir, embedder, chunk_chars=_chunk_chars(index_dir), progress=False)
    except BaseException:
        if data is not None:
            path.write_bytes(data)
        raise
    return Change(gone, [stored], report)


def _chunk_chars(index_dir: Path) -> int:
    """The chunk size the index was built with (a different one would re-chunk everything)."""
    try:
        return int(json.loads((index_dir / "manifest.json").read_text(encoding="utf-8"))["chunk_chars"])
    except (OSError, ValueError, KeyError, TypeError):
        return 300
