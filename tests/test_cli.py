"""`rag serve` and `rag index` never rebuild or replace an index the user did not name.

The server itself is not started here (uvicorn.run is replaced); tests/test_server.py runs
the same scenario against the real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner

from rag.cli import main
from rag.embedders import HashEmbedder
from rag.index import build_index, load_index

ARCHIVE = [
    {"id": "qd-1", "title": "青岛国际啤酒节闭幕", "date": "2024-08-20",
     "text": "本报讯 第34届青岛国际啤酒节昨日闭幕，本届啤酒节共接待游客680万人次，同比增长15%。"},
    {"id": "qd-2", "title": "青岛港集装箱吞吐量创新高", "date": "2024-07-02",
     "text": "本报讯 上半年青岛港完成集装箱吞吐量1550万标准箱，同比增长8.5%。"},
]


@pytest.fixture
def archive_index(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """The user's own archive, indexed into my_index; the working folder has a corpus/ too."""
    archive = tmp_path / "my_archive.jsonl"
    archive.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARCHIVE), encoding="utf-8")
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "other.txt").write_text("本报讯 另一篇无关的文章，讲的是别的城市。", encoding="utf-8")
    index_dir = tmp_path / "my_index"
    build_index(archive, index_dir, HashEmbedder(384), progress=False)
    monkeypatch.chdir(tmp_path)
    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(app))
    return archive, index_dir


def serve(*args: str):
    return CliRunner().invoke(main, ["serve", "--embedder", "hash:384", "--no-ui", *args])


def test_serve_serves_the_index_it_is_given_as_it_is(archive_index):
    _, index_dir = archive_index
    before = (index_dir / "manifest.json").read_text()
    result = serve("--index-dir", str(index_dir))
    assert result.exit_code == 0, result.output
    assert "indexing" not in result.output and "updating" not in result.output
    assert (index_dir / "manifest.json").read_text() == before


def test_serve_with_another_corpus_is_an_error_naming_both(archive_index):
    archive, index_dir = archive_index
    before = (index_dir / "manifest.json").read_text()
    result = serve("--index-dir", str(index_dir), "--corpus", "corpus")
    assert result.exit_code == 1
    assert str(archive) in result.output and "not from corpus" in result.output
    assert f"rag index corpus --index-dir {index_dir} --rebuild" in result.output
    assert (index_dir / "manifest.json").read_text() == before


def test_the_corpus_setting_counts_as_naming_a_corpus(archive_index, monkeypatch):
    _, index_dir = archive_index
    monkeypatch.setenv("RAG_CORPUS_DIR", "corpus")
    assert serve("--index-dir", str(index_dir)).exit_code == 1


def test_serve_updates_an_index_only_from_its_own_corpus(archive_index):
    archive, index_dir = archive_index
    extra = {"id": "qd-3", "title": "青岛地铁新线开通", "text": "本报讯 青岛地铁6号线一期今日开通，全长30.8公里。"}
    with archive.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(extra, ensure_ascii=False) + "\n")
    result = serve("--index-dir", str(index_dir))
    assert result.exit_code == 0, result.output
    assert f"{archive} changed since the index was built: updating {index_dir}" in result.output
    sources = {c.source for c in load_index(index_dir).chunks}
    assert sources == {"my_archive.jsonl"} and any("6号线" in c.text for c in load_index(index_dir).chunks)


def test_serve_leaves_an_index_whose_corpus_is_gone(archive_index):
    archive, index_dir = archive_index
    archive.unlink()
    result = serve("--index-dir", str(index_dir))
    assert result.exit_code == 0 and "is not there; serving the index as it is" in result.output
    assert load_index(index_dir).chunks


def test_serve_does_not_update_with_another_embedder(archive_index):
    archive, index_dir = archive_index
    archive.write_text(archive.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    before = (index_dir / "manifest.json").read_text()
    result = CliRunner().invoke(main, ["serve", "--embedder", "hash:64", "--no-ui", "--index-dir", str(index_dir)])
    assert "it is not updated" in result.output
    assert (index_dir / "manifest.json").read_text() == before


def test_first_run_builds_from_the_corpus(tmp_path, monkeypatch, archive_index):
    result = serve("--index-dir", str(tmp_path / "fresh"))
    assert result.exit_code == 0 and "no index yet: indexing corpus into" in result.output
    assert {c.source for c in load_index(tmp_path / "fresh").chunks} == {"other.txt"}


def test_eval_split_takes_only_that_part_and_reports_it(tmp_path, monkeypatch):
    """`rag eval --split dev` reads only dev questions and names the split in the report."""
    from rag.eval.gold import load_gold

    gold = Path("eval/gold.jsonl")
    dev = [i for i in load_gold(gold) if i.split == "dev"]
    small = tmp_path / "mini.jsonl"
    keep = [i for i in load_gold(gold) if i.type == "fact"][:3] + [i for i in load_gold(gold) if i.type == "fact"][-3:]
    small.write_text("".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in keep), encoding="utf-8")
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_EMBEDDER", "hash:384")
    result = CliRunner().invoke(main, ["eval", str(small), "--split", "dev", "--composer", "rules",
                                       "--modes", "bm25", "--out", str(tmp_path / "reports")])
    assert result.exit_code == 0, result.output
    reports = list((tmp_path / "reports").glob("*.json"))
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    n_dev = sum(i.split == "dev" for i in keep)
    assert report["n_items"] == n_dev and report["config"]["split"] == "dev"
    assert set(report["answers"]["by_group"]) == {"mini/dev"}
    assert dev  # the real set has a dev part


def test_train_reader_from_a_folder_without_a_reader_says_what_to_pass(tmp_path):
    news = tmp_path / "news.jsonl.gz"
    news.write_bytes(b"")
    result = CliRunner().invoke(main, ["train-reader", "--mrc-dir", str(tmp_path), "--news", str(news),
                                       "--init", str(tmp_path / "nothing"), "--out", str(tmp_path / "out")])
    assert result.exit_code != 0 and "holds no trained reader" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
