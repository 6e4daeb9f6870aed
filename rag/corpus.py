"""Load a corpus folder (or one file) into `Article`s.

    >>> load = load_corpus("corpus")          # doctest: +SKIP
    >>> len(load.articles), load.warnings     # doctest: +SKIP
    (29, [])

Every supported file under the folder is read in name order (sub-folders too); hidden
files and folders, README files and the metadata sidecar `meta.jsonl` (see `rag.meta`,
applied here) are skipped. A file that cannot be read (empty,
binary, undecodable, unsupported type) is skipped with a warning that names it, and the
rest of the corpus still loads. Article ids are `content_id(source, title, text)`, so a
rebuild gives the same ids; an article whose id was already seen (the same text twice
in one file) is dropped with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import InputError
from rag.meta import SIDECAR_NAME, apply_meta, read_sidecar
from rag.readers import SUPPORTED_SUFFIXES, UnreadableFile, file_format, read_pieces
from rag.types import Article, content_id

__all__ = ["CorpusLoad", "corpus_files", "iter_articles", "list_corpus_files", "load_corpus"]


@dataclass
class CorpusLoad:
    """What `load_corpus` found: the articles, and warnings about what it skipped."""

    articles: list[Article] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _skipped(path: Path) -> bool:
    return path.name.startswith(".") or path.name.split(".")[0].upper() == "README"


def corpus_files(root: Path, warn: Callable[[str], None] = lambda _: None) -> list[tuple[Path, str]]:
    """(path, source name) of each file to read under `root`, in name order.

    The source name is the path relative to `root` ("000_x.txt", "2024/01.jsonl"), or the
    file name when `root` is a file. Unsupported files are reported through `warn`.
    """
    if root.is_file():
        return [(root, root.name)]
    found: list[tuple[Path, str]] = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if any(_skipped(Path(part)) for part in relative.parts) or not path.is_file():
            continue
        if relative.as_posix() == SIDECAR_NAME:  # the metadata sidecar (rag.meta), not articles
            continue
        if file_format(path) is None:
            supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
            warn(f"{relative.as_posix()}: skipped, unsupported file type (use {supported}, or .gz)")
            continue
        found.append((path, relative.as_posix()))
    return found


def list_corpus_files(root: str | Path) -> list[Path]:
    """The files `load_corpus(root)` reads, in order (`root` itself when it is a file)."""
    return [path for path, _ in corpus_files(Path(root))]


def iter_articles(path: str | Path, warn: Callable[[str], None] = lambda _: None,
                  meta: dict[str, dict] | None = None) -> Iterator[Article]:
    """Articles of the corpus at `path`, as a stream (a 68k-line jsonl.gz is not held in memory).

    `meta`: sidecar entries by file name (`rag.meta`); by default a folder's own meta.jsonl.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"No corpus at '{root}': pass a folder of .txt/.md/.html/.jsonl files or one such file.")
    if meta is None:
        meta = read_sidecar(root)
    seen: set[str] = set()
    for file_path, name in corpus_files(root, warn):
        duplicates = 0
        try:
            for piece, source in read_pieces(file_path, name, warn):
                text = "\n".join(piece.paragraphs)
                article_id = content_id(source, piece.title, text)
                if article_id in seen:
                    duplicates += 1
                    continue
                seen.add(article_id)
                article = Article(article_id, piece.title, piece.date, source, piece.paragraphs,
                                  date_source=piece.date_source, publication=piece.publication)
                yield apply_meta(article, meta.get(name), piece.month_day)
        except UnreadableFile as exc:
            warn(f"skipped {exc}")
        if duplicates:
            warn(f"{name}: {duplicates} duplicate article(s) skipped (same source, title and text)")


def load_corpus(path: str | Path, limit: int | None = None, meta: dict[str, dict] | None = None) -> CorpusLoad:
    """All articles under `path` (a folder or one file), at most `limit` of them."""
    if limit is not None and limit <= 0:
        raise InputError(f"limit must be > 0, got {limit}")
    load = CorpusLoad()
    for article in iter_articles(path, load.warnings.append, meta):
        load.articles.append(article)
        if limit is not None and len(load.articles) >= limit:
            break
    return load
