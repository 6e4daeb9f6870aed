"""Read one corpus file into `Piece`s (articles before they get ids).

Formats, by file name (each may also be gzip-compressed, ending in `.gz`):

- `.txt`: a newspaper page, split into articles by `rag.pages.split_page`; a text that
  opens with YAML front matter (a Jekyll post) is read like `.md` instead.
- `.md` / `.markdown`: one article; front matter `title`/`date`, else the first `# `
  heading; markup is removed, and lines made only of links (navigation) are dropped.
  A body written as HTML (`<p>` paragraphs) is read as HTML.
- `.html` / `.htm`: one article; title from front matter, `<title>` or the first `<h1>`.
- `.jsonl`: one article a line, `{"id", "title", "text", "date"?, "source"?, "publication"?}`; read as a
  stream, a bad line is skipped with a warning and the rest of the file is still read.

Encodings: UTF-8 with or without BOM, then GB18030 (a superset of GBK and GB2312); a
decoding with many replacement or control characters is rejected. Empty, binary and
undecodable files raise `UnreadableFile`, whose message names the file.

Dropped on purpose, and only this: front matter other than its title and date, HTML
tags and entities, Markdown markup characters, and link-only lines.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rag.clean import fix_spaces, html_to_paragraphs, join_lines
from rag.errors import InputError
from rag.pages import Piece, derive_title, split_page

__all__ = [
    "SUPPORTED_SUFFIXES",
    "UnreadableFile",
    "decode_bytes",
    "file_format",
    "normalize_date",
    "read_pieces",
    "split_front_matter",
]

SUPPORTED_SUFFIXES = {".txt": "txt", ".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".jsonl": "jsonl"}
MAX_BAD_FRACTION = 0.01  # more replacement/control characters than this: not text
MAX_LINE_WARNINGS = 5  # per jsonl file; the rest are counted in one summary warning


class UnreadableFile(InputError):
    """A corpus file that cannot be read as text; the message names it and says why."""


def file_format(path: Path) -> str | None:
    """"txt", "md", "html" or "jsonl" from the file name (a `.gz` ending is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return SUPPORTED_SUFFIXES.get(suffixes[-1]) if suffixes else None


def _bad_fraction(text: str) -> float:
    bad = sum(1 for ch in text if ch == "\ufffd" or (ord(ch) < 32 and ch not in "\n\r\t\f"))
    return bad / max(1, len(text))


def decode_bytes(data: bytes, name: str) -> str:
    """Decode a text file: UTF-8 (BOM or not), else GB18030. Raises `UnreadableFile`."""
    if not data.strip():
        raise UnreadableFile(f"{name}: the file is empty")
    if b"\x00" in data[:8192]:
        raise UnreadableFile(f"{name}: binary file (it contains NUL bytes), not text")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if _bad_fraction(text) <= MAX_BAD_FRACTION:
            return text
    raise UnreadableFile(f"{name}: not UTF-8 or GB18030 text; convert it to UTF-8 and try again")


def _read_bytes(path: Path, name: str) -> bytes:
    try:
        data = path.read_bytes()
        if path.suffix.lower() == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UnreadableFile(f"{name}: cannot read it ({exc})") from exc
    return data


_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_FM_LINE = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*?)[ \t]*$")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """(front matter as flat `key: value` strings, the rest of the text).

    Only the flat keys that matter here are parsed (quoted or bare scalars); lists and
    nested values are kept as their raw text.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        kv = _FM_LINE.match(line)
        if kv:
            value = kv.group(2)
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            meta[kv.group(1).lower()] = value
    return meta, text[match.end() :]


_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})")


def normalize_date(value: Any) -> str | None:
    """ISO "YYYY-MM-DD" from a date, datetime or a string that starts with a full date."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        return None
    match = _DATE.search(value)
    if not match:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups())).isoformat()
    except ValueError:
        return None


_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_ANGLE_URL = re.compile(r"<(?:https?:)?//[^>\s]*>|(?:https?:)?//\S+")
_MD_PREFIX = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d{1,3}[.)]\s+)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_LINK_SEPARATORS = re.compile(r"[\s|｜·•/\-–—]+")
_HTML_BODY = re.compile(r"<(?:p|div|br|h[1-6]|section|article)\b", re.I)


def _is_link_line(line: str) -> bool:
    """A navigation line: nothing left once its links and separators are removed."""
    if not (_MD_LINK.search(line) or _ANGLE_URL.search(line)):
        return False
    rest = _ANGLE_URL.sub("", _MD_LINK.sub("", line))
    return not _LINK_SEPARATORS.sub("", rest)


def _markdown_blocks(body: str) -> tuple[str, list[str]]:
    """(first `# ` heading, paragraphs) of a Markdown body, markup removed."""
    heading = ""
    paragraphs: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if block:
            paragraphs.append(join_lines(block))
            block.clear()

    for raw in body.splitlines():
        if not raw.strip() or _is_link_line(raw):
            flush()
            continue
        if re.match(r"^\s{0,3}#{1,6}\s", raw):
            flush()
            text = _MD_EMPHASIS.sub(r"\2", _MD_LINK.sub(r"\1", _MD_PREFIX.sub("", raw))).strip(" #")
            if not heading and raw.lstrip().startswith("# "):
                heading = text
            else:
                paragraphs.append(text)
            continue
        line = _MD_EMPHASIS.sub(r"\2", _ANGLE_URL.sub("", _MD_LINK.sub(r"\1", _MD_PREFIX.sub("", raw))))
        block.append(line)
    flush()
    return heading, paragraphs


def _marked_up_piece(text: str, fmt: str) -> Piece:
    """One article from Markdown or HTML, with optional front matter."""
    meta, body = split_front_matter(text)
    if fmt == "html" or _HTML_BODY.search(body):
        kept = "\n".join(line for line in body.splitlines() if not _is_link_line(line))
        heading, paragraphs = html_to_paragraphs(kept)
    else:
        heading, paragraphs = _markdown_blocks(body)
    paragraphs = [p for p in (fix_spaces(q) for q in paragraphs) if p]
    title = fix_spaces(meta.get("title", "")) or fix_spaces(heading)
    if paragraphs and title and paragraphs[0] == title:
        paragraphs = paragraphs[1:]  # an <h1> repeating the title is the title, not a paragraph
    derived = not title
    if derived:
        title = derive_title(paragraphs)
    date = normalize_date(meta.get("date"))
    return Piece(title, paragraphs, date, title_from_text=derived, date_source="front_matter" if date else None)


def _json_piece(record: Any) -> Piece:
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError('no "text" string')
    paragraphs = [p for p in (fix_spaces(q) for q in text.splitlines()) if p]
    title = record.get("title")
    title = fix_spaces(title) if isinstance(title, str) else ""
    derived = not title
    if derived:
        title = derive_title(paragraphs)
    date = normalize_date(record.get("date"))
    publication = record.get("publication")
    return Piece(title, paragraphs, date, title_from_text=derived, date_source="front_matter" if date else None,
                 publication=fix_spaces(publication) or None if isinstance(publication, str) else None)


def _jsonl_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    with opener(path, "rb") as handle:  # type: ignore[operator]
        yield from handle


def _read_jsonl(path: Path, name: str, warn: Callable[[str], None]) -> Iterator[tuple[Piece, str | None]]:
    """(piece, its "source" field) for each good line; bad lines are warned about."""
    bad = 0
    try:
        for number, raw in enumerate(_jsonl_lines(path), start=1):
            if not raw.strip():
                continue
            try:
                try:
                    record = json.loads(raw)
                except UnicodeDecodeError:
                    record = json.loads(raw.decode("gb18030"))
                piece = _json_piece(record)
            except (ValueError, UnicodeDecodeError) as exc:
                bad += 1
                if bad <= MAX_LINE_WARNINGS:
                    warn(f"{name}: line {number} skipped: {str(exc)[:80]}")
                continue
            source = record.get("source")
            yield piece, source if isinstance(source, str) and source else None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UnreadableFile(f"{name}: cannot read it ({exc})") from exc
    if bad > MAX_LINE_WARNINGS:
        warn(f"{name}: {bad} bad lines skipped in all")


def read_pieces(path: Path, name: str, warn: Callable[[str], None]) -> Iterator[tuple[Piece, str]]:
    """(piece, source) for each article of the file at `path`, shown to users as `name`.

    Raises `UnreadableFile` for a file that cannot be read at all; a jsonl file's bad
    lines go to `warn` and do not stop the rest.
    """
    fmt = file_format(path)
    if fmt is None:
        raise UnreadableFile(f"{name}: unsupported file type; use {', '.join(sorted(SUPPORTED_SUFFIXES))} (or .gz)")
    if fmt == "jsonl":
        for piece, source in _read_jsonl(path, name, warn):
            yield piece, source or name
        return
    text = decode_bytes(_read_bytes(path, name), name)
    if fmt == "txt" and not _FRONT_MATTER.match(text):
        pieces = split_page(text)
    else:
        pieces = [_marked_up_piece(text, fmt)]
    for piece in pieces:
        if piece.paragraphs:
            yield piece, name
