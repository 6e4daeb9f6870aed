"""Tests for rag.corpus and the `rag corpus` command: the real five files, odd corpora."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.corpus import CorpusLoad, iter_articles, list_corpus_files, load_corpus
from rag.errors import InputError
from rag.types import content_id

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
CRUD = ROOT.parent / "shared" / "data" / "crud_news.jsonl.gz"
if not CRUD.exists():
    CRUD = Path("/work/shared/data/crud_news.jsonl.gz")

# The 29 articles, found by reading the five pages; headlines in two printed parts are
# joined by a space. 002's "（上接第一版）" article has no headline: its first sentence stands in.
TITLES = {
    "000_cf2c951dabb43637.txt": [
        "招远“以工代赈” 创新推出“1234”工作法",
        "招远畅通“双循环” 助力县域经济跨越赶超",
        "向“新”而行，以“质”致远 山东招远：县域经济高质量发展迈上新台阶",
        "工业经济为招远县域经济高质量发展注入新动能",
        "招远聚力打造乡村全面振兴“招远模式”",
    ],
    "001_bc9608eda24c4c9c.txt": [
        "威海环翠四次蝉联山东省“高质量发展先进县”",
        "构建青岛特色能源保障体系 服务绿色低碳高质量发展",
        "科技强县“四行动”赋能 蒙阴高质量发展",
        "胶州:全面开启县域经济高质量发展新征程",
        "胶州:“以工代赈”促进富民增收",
    ],
    "002_eb706093a411a0ab.txt": [
        "省政府召开 政企沟通交流会",
        "山东港口在青岛 新启动推进11个项目",
        "凝聚扩开放抓招商强大合力 ———聚焦全省高水平开放暨高质量招商引资大会",
        "项目为要，实干争先 济南：全力推进“项目深化年”",
        "烟台：抓牢项目，奋进万亿新征程",
        "枣庄：打造“产业森林”“项目矩阵”",
        "日照：加快实施460个省市重点项目",
        "深化机关运转提速提效行动",
        "济南启动首批 “泉城好品”品牌遴选",
        "我省能源资源保障取得新进展",
    ],
    "003_bad21ed3cf753cea.txt": [
        "区市书记谈坚定不移推动高质量发展 培强产业集群 壮大工业规模",
        "项目发展风正劲 凝聚力量再出发",
        "突出“项目为王 落地为要”",
        "奋力夺取项目建设大突破",
        "全力打造“两山”理论蓝色实践样板",
        "树牢“标杆意识” 聚焦“五个全力”",
        "夯实项目建设 做强园区片区",
        "为冲刺“万亿城市”贡献牟平力量",
    ],
    "004_bf6e2d6a9ccb7553.txt": ["乳山市：奋楫扬帆谱写高质量发展新篇章"],
}


@pytest.fixture(scope="module")
def real() -> CorpusLoad:
    return load_corpus(CORPUS)


def test_the_five_files_give_the_29_articles_with_their_headlines(real: CorpusLoad) -> None:
    assert real.warnings == []
    found: dict[str, list[str]] = {}
    for article in real.articles:
        found.setdefault(article.source, []).append(article.title)
    assert found == TITLES
    assert len(real.articles) == 29


def test_real_articles_have_content_ids_and_only_stated_dates(real: CorpusLoad) -> None:
    for article in real.articles:
        assert article.id == content_id(article.source, article.title, article.text)
        assert article.paragraphs and all(p.strip() == p and p for p in article.paragraphs)
    dated = {(a.source[:3], a.date, a.date_source) for a in real.articles if a.date}
    # 004's front matter; 002's datelines give month and day, meta.jsonl the year its text calls 今年
    assert dated == {("004", "2022-05-30", "front_matter"), ("002", "2024-02-21", "inferred")}
    assert sum(1 for a in real.articles if a.date_source == "inferred") == 3
    assert all(a.date_evidence for a in real.articles if a.date_source == "inferred")
    assert [a.id for a in load_corpus(CORPUS).articles] == [a.id for a in real.articles]


def _tmp_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    shutil.copy(CORPUS / "001_bc9608eda24c4c9c.txt", root / "a.txt")
    (root / "gbk.txt").write_bytes("胶州新闻\n\n胶州市已发放劳务报酬322.7万元。\n".encode("gb18030"))
    (root / "scan.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "empty.txt").write_bytes(b"")
    (root / "README.md").write_text("# 说明\n\n这不是文章。\n", encoding="utf-8")
    (root / ".hidden.txt").write_text("隐藏文件。\n", encoding="utf-8")
    (root / "notes.pdf").write_bytes(b"%PDF-1.4")
    sub = root / "2024"
    sub.mkdir()
    (sub / "news.jsonl.gz").write_bytes(
        gzip.compress(json.dumps({"title": "港口", "text": "总投资521亿元。"}, ensure_ascii=False).encode("utf-8"))
    )
    return root


def test_odd_files_are_skipped_with_warnings_and_the_rest_still_loads(tmp_path: Path) -> None:
    load = load_corpus(_tmp_corpus(tmp_path))
    by_source = {a.source: a for a in load.articles}
    assert sorted(by_source) == ["2024/news.jsonl.gz", "a.txt", "gbk.txt"]
    assert by_source["gbk.txt"].title == "胶州新闻"
    assert by_source["gbk.txt"].paragraphs == ["胶州市已发放劳务报酬322.7万元。"]
    assert len([a for a in load.articles if a.source == "a.txt"]) == 5
    assert any("scan.txt" in w and "binary" in w for w in load.warnings)
    assert any("empty.txt" in w and "empty" in w for w in load.warnings)
    assert any("notes.pdf" in w and "unsupported" in w for w in load.warnings)
    assert not any("README" in w or "hidden" in w for w in load.warnings)
    assert len(load.warnings) == 3


def test_list_corpus_files_skips_readme_hidden_and_unsupported(tmp_path: Path) -> None:
    root = _tmp_corpus(tmp_path)
    assert [p.relative_to(root).as_posix() for p in list_corpus_files(root)] == [
        "2024/news.jsonl.gz", "a.txt", "empty.txt", "gbk.txt", "scan.txt"]
    assert list_corpus_files(root / "a.txt") == [root / "a.txt"]


def test_a_single_file_works_as_well_as_a_folder() -> None:
    load = load_corpus(CORPUS / "003_bad21ed3cf753cea.txt")
    assert [a.title for a in load.articles] == TITLES["003_bad21ed3cf753cea.txt"]
    assert {a.source for a in load.articles} == {"003_bad21ed3cf753cea.txt"}


def test_missing_path_and_bad_limit_raise_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="No corpus at"):
        load_corpus(tmp_path / "nowhere")
    with pytest.raises(InputError, match="limit must be > 0, got 0"):
        load_corpus(CORPUS, limit=0)


def test_limit_stops_early() -> None:
    assert len(load_corpus(CORPUS, limit=3).articles) == 3


def test_iter_articles_streams(tmp_path: Path) -> None:
    stream = iter_articles(CORPUS)
    assert next(stream).source == "000_cf2c951dabb43637.txt"


@pytest.mark.skipif(not CRUD.exists(), reason="the shared 68k-article jsonl.gz is not here")
def test_jsonl_gz_reading_is_streaming_and_cheap() -> None:
    start = time.perf_counter()
    load = load_corpus(CRUD, limit=2000)
    elapsed = time.perf_counter() - start
    assert len(load.articles) == 2000
    assert all(a.title and a.paragraphs and a.source == CRUD.name for a in load.articles)
    assert elapsed < 5  # about 0.5 s on a busy 2-core machine: it must not read the whole file


@pytest.mark.slow
@pytest.mark.skipif(not CRUD.exists(), reason="the shared 68k-article jsonl.gz is not here")
def test_whole_crud_news_file_loads() -> None:
    load = load_corpus(CRUD)
    assert len(load.articles) > 68000
    assert all(w.startswith(CRUD.name) for w in load.warnings)


def test_cli_lists_the_corpus_as_a_table() -> None:
    result = CliRunner().invoke(main, ["corpus", str(CORPUS)])
    assert result.exit_code == 0, result.output
    assert "招远“以工代赈” 创新推出“1234”工作法" in result.stdout
    assert "29 articles" in result.stdout
    assert result.stdout.splitlines()[0].split() == ["id", "title", "date", "source", "chunks", "characters"]


def test_cli_json_lists_every_article() -> None:
    result = CliRunner().invoke(main, ["corpus", str(CORPUS), "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 29
    assert set(rows[0]) == {"id", "title", "date", "date_source", "source", "publication", "chunks", "characters"}
    assert rows[-1]["date"] == "2022-05-30" and rows[-1]["chunks"] > 1


def test_cli_sends_warnings_to_stderr(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["corpus", str(_tmp_corpus(tmp_path)), "--json"])
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 7
    assert "warning: skipped scan.txt: binary file" in result.stderr


def test_cli_missing_path_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["corpus", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "Error: No corpus at" in result.stderr and "rag corpus ./corpus" in result.stderr
    assert "Traceback" not in result.output


def test_cli_default_path_is_corpus_in_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["corpus", "--json", "--limit", "2"])
    assert result.exit_code == 0
    assert [r["source"] for r in json.loads(result.stdout)] == ["000_cf2c951dabb43637.txt"] * 2
