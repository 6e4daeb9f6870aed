"""The per-file metadata sidecar: `meta.jsonl` at the top of a corpus folder.

One JSON object a line, for files whose text does not carry everything a reader needs::

    {"file": "004_x.txt", "publication": "大众日报", "note": "front matter tags: 大众日报新闻"}
    {"file": "002_x.txt", "year": 2024, "evidence": "今年初，我省即下达了2024年省级重点项目清单"}
    {"file": "2024/05.txt", "date": "2024-05-06", "publication": "烟台日报", "page": "3"}

Keys (only `file` is required):

- `file`: the file's path inside the corpus folder, as `rag corpus` shows it in `source`.
- `date`: the date of every article of the file that has none of its own (a page's date).
  Recorded as `date_source: "sidecar"`, or `"inferred"` when the entry says so (then
  `evidence` is required).
- `year` + `evidence`: the year the text states as current, with the words it was read
  from. An article whose dateline gives only month and day ("本报烟台2月21日讯") gets that
  year, recorded as `date_source: "inferred"` and shown as inferred, never as fact.
- `publication`, `page`: the newspaper and printed page, for articles that do not name them.
- `note`: free text for people (where the metadata came from); ignored by the program.

An article's own date (a dateline with the year, front matter, a JSON record's `date`)
always wins over the sidecar. The file itself is not read as articles. Changing an entry
makes the next `rag index` read that file again (its entry is part of the file's hash).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.readers import normalize_date
from rag.types import Article

__all__ = ["SIDECAR_NAME", "apply_meta", "entry_key", "read_sidecar"]

SIDECAR_NAME = "meta.jsonl"
_KEYS = {"file", "date", "date_source", "year", "evidence", "publication", "page", "note"}


def _check(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: each line must be a JSON object such as {{\"file\": \"a.txt\", \"date\": \"2024-02-21\"}}")
    unknown = set(entry) - _KEYS
    if unknown:
        raise InputError(f"{where}: unknown key(s) {sorted(unknown)}; use {', '.join(sorted(_KEYS))}")
    if not isinstance(entry.get("file"), str) or not entry["file"].strip():
        raise InputError(f"{where}: \"file\" (the file's path inside the corpus folder) is required")
    if "date" in entry and normalize_date(entry["date"]) is None:
        raise InputError(f"{where}: date must look like 2024-02-21, got {entry['date']!r}")
    if entry.get("date_source", "sidecar") not in ("sidecar", "inferred"):
        raise InputError(f"{where}: date_source must be \"sidecar\" or \"inferred\", got {entry['date_source']!r}")
    if "year" in entry and not (isinstance(entry["year"], int) and 1800 <= entry["year"] <= 2200):
        raise InputError(f"{where}: year must be a number such as 2024, got {entry['year']!r}")
    inferred = "year" in entry or entry.get("date_source") == "inferred"
    if inferred and not (isinstance(entry.get("evidence"), str) and entry["evidence"].strip()):
        raise InputError(f"{where}: an inferred year or date needs \"evidence\": the words of the text it comes from")
    for key in ("publication", "page", "note", "evidence"):
        if key in entry and not isinstance(entry[key], str | int):
            raise InputError(f"{where}: {key} must be text, got {entry[key]!r}")
    return entry


def read_sidecar(root: str | Path) -> dict[str, dict[str, Any]]:
    """The entries of `root/meta.jsonl` by file name; {} when `root` is a file or has none."""
    path = Path(root) / SIDECAR_NAME
    if not Path(root).is_dir() or not path.is_file():
        return {}
    entries: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({exc}); it must be UTF-8 JSON lines") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        try:
            entry = _check(json.loads(line), where)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not valid JSON ({exc.msg})") from exc
        name = entry["file"].strip()
        if name in entries:
            raise InputError(f"{where}: {name} already has an entry; keep one line per file")
        entries[name] = entry
    return entries


def entry_key(entry: dict[str, Any] | None) -> str:
    """A stable text of an entry, hashed with its file's bytes (so an edit re-reads the file)."""
    return json.dumps(entry, ensure_ascii=False, sort_keys=True) if entry else ""


def apply_meta(article: Article, entry: dict[str, Any] | None, month_day: str | None = None) -> Article:
    """Fill what the article lacks from its file's entry (see the module docstring)."""
    if not entry:
        return article
    if article.date is None:
        year = entry.get("year")
        if year and month_day:
            date = normalize_date(f"{year}-{month_day}")
            if date:
                article.date, article.date_source = date, "inferred"
                article.date_evidence = f"电头只有月日（{month_day}）；年份据正文：{entry['evidence']}"
        if article.date is None and entry.get("date"):
            article.date = normalize_date(entry["date"])
            article.date_source = entry.get("date_source", "sidecar")
            article.date_evidence = entry.get("evidence")
    if article.publication is None and entry.get("publication"):
        article.publication = str(entry["publication"])
    if article.page is None and entry.get("page") not in (None, ""):
        article.page = str(entry["page"])
    return article
