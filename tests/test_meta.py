"""Tests for rag.meta: the meta.jsonl sidecar, how dates are filled and recorded, and that
an edit to it re-reads the file it names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.corpus import load_corpus
from rag.embedders import HashEmbedder
from rag.errors import InputError
from rag.index import build_index, index_status, load_index
from rag.meta import SIDECAR_NAME, apply_meta, read_sidecar
from rag.types import Article

PAGE = "　　本报烟台2 月21 日讯 今天下午，省政府在烟台召开政企沟通交流会，与10家企业面对面沟通交流。\n"


def _corpus(tmp_path: Path, entries: list[dict] | None) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    (root / "page.txt").write_text(PAGE, encoding="utf-8")
    (root / "other.txt").write_text("另一篇文章，没有电头。\n", encoding="utf-8")
    if entries is not None:
        (root / SIDECAR_NAME).write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in entries), encoding="utf-8")
    return root


def _by_source(root: Path) -> dict[str, Article]:
    return {a.source: a for a in load_corpus(root).articles}


def test_without_a_year_a_dateline_gives_no_date(tmp_path: Path) -> None:
    assert _by_source(_corpus(tmp_path, None))["page.txt"].date is None


def test_the_year_with_its_evidence_makes_an_inferred_date(tmp_path: Path) -> None:
    root = _corpus(tmp_path, [{"file": "page.txt", "year": 2024, "evidence": "今年初……2024年省级重点项目清单"}])
    page, other = _by_source(root)["page.txt"], _by_source(root)["other.txt"]
    assert (page.date, page.date_source) == ("2024-02-21", "inferred")
    assert "02-21" in page.date_evidence and "2024年省级重点项目清单" in page.date_evidence
    assert other.date is None  # an entry for one file says nothing about another


def test_a_page_date_fills_articles_without_their_own(tmp_path: Path) -> None:
    root = _corpus(tmp_path, [{"file": "other.txt", "date": "2024-05-06", "publication": "烟台日报", "page": 3}])
    other = _by_source(root)["other.txt"]
    assert (other.date, other.date_source, other.publication, other.page) == ("2024-05-06", "sidecar", "烟台日报", "3")


def test_an_articles_own_date_wins(tmp_path: Path) -> None:
    article = Article("a", "t", "2022-05-30", "x.md", ["p"], date_source="front_matter")
    apply_meta(article, {"file": "x.md", "date": "2024-01-01"})
    assert (article.date, article.date_source) == ("2022-05-30", "front_matter")


def test_the_sidecar_is_not_read_as_articles(tmp_path: Path) -> None:
    root = _corpus(tmp_path, [{"file": "page.txt", "date": "2024-02-21"}])
    load = load_corpus(root)
    assert {a.source for a in load.articles} == {"page.txt", "other.txt"} and load.warnings == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"date": "2024-01-01"}', '"file"'),
        ('{"file": "a.txt", "date": "yesterday"}', "date must look like"),
        ('{"file": "a.txt", "year": 2024}', "evidence"),
        ('{"file": "a.txt", "date": "2024-01-01", "date_source": "inferred"}', "evidence"),
        ('{"file": "a.txt", "date_source": "guess"}', "date_source"),
        ('{"file": "a.txt", "colour": "red"}', "unknown key"),
        ("not json", "not valid JSON"),
        ('["a.txt"]', "JSON object"),
    ],
)
def test_bad_sidecar_lines_name_the_line_and_the_fix(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / SIDECAR_NAME).write_text('{"file": "ok.txt"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2") as caught:
        read_sidecar(tmp_path)
    assert message in str(caught.value)


def test_bundled_sidecar_records_only_what_the_pages_establish(corpus_dir: Path) -> None:
    entries = read_sidecar(corpus_dir)
    assert set(entries) <= {p.name for p in corpus_dir.iterdir()}
    assert all("date" not in e for e in entries.values())  # no page states its own date
    assert entries["002_eb706093a411a0ab.txt"]["year"] == 2024


def test_editing_an_entry_rereads_that_file_only(tmp_path: Path) -> None:
    root = _corpus(tmp_path, [])
    index_dir = tmp_path / "index"
    build_index(root, index_dir, HashEmbedder(64), progress=False)
    assert index_status(index_dir, root) == "fresh"
    (root / SIDECAR_NAME).write_text('{"file": "page.txt", "year": 2024, "evidence": "今年是2024年"}\n', encoding="utf-8")
    assert index_status(index_dir, root) == "stale"
    report = build_index(root, index_dir, HashEmbedder(64), progress=False)
    assert report.files_changed == ["page.txt"] and report.embedded == 0  # same text: vectors reused
    dates = {a.source: a.date for a in load_index(index_dir).articles.values()}
    assert dates == {"page.txt": "2024-02-21", "other.txt": None}
    shutil.rmtree(index_dir)
