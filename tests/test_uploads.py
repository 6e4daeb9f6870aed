"""Tests for rag.uploads: adding and removing articles of a built index (hash embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.embedders import HashEmbedder
from rag.errors import InputError, RagError
from rag.index import build_index, index_status, load_index
from rag.uploads import UPLOADS, NotUploadedError, add_files, corpus_of, delete_article, record_file

EMBEDDER = HashEmbedder(64)
ARTICLE = {"title": "日照港开通新航线", "text": "本报日照3月1日讯 日照港今天开通第九条集装箱航线。\n每周三个航班。",
           "date": "2024-03-01", "publication": "日照日报"}


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("招远市今年谋划项目9个，吸纳务工群众440人。\n", encoding="utf-8")
    build_index(corpus, tmp_path / "index", EMBEDDER, progress=False)
    return corpus, tmp_path / "index"


def test_add_a_json_article_stores_it_in_the_corpus(built: tuple[Path, Path]) -> None:
    corpus, index_dir = built
    change = add_files(corpus, index_dir, EMBEDDER, [record_file(ARTICLE)])
    (article,) = change.articles
    assert (article.title, article.date, article.date_source, article.publication) == (
        "日照港开通新航线", "2024-03-01", "front_matter", "日照日报")
    assert change.files[0].startswith(UPLOADS + "/") and (corpus / change.files[0]).is_file()
    assert change.report.embedded == len([c for c in load_index(index_dir).chunks if c.article_id == article.id])
    assert index_status(index_dir, corpus) == "fresh"
    # a later full `rag index` of the corpus keeps the upload: it is a corpus file
    assert build_index(corpus, index_dir, EMBEDDER, progress=False).unchanged
    assert article.id in load_index(index_dir).articles


def test_the_same_bytes_twice_are_one_file(built: tuple[Path, Path]) -> None:
    corpus, index_dir = built
    first = add_files(corpus, index_dir, EMBEDDER, [("note.md", "# 标题\n\n正文一段。".encode())])
    second = add_files(corpus, index_dir, EMBEDDER, [("note.md", "# 标题\n\n正文一段。".encode())])
    assert first.files == second.files and second.report.unchanged
    assert len(list((corpus / UPLOADS).iterdir())) == 1


def test_delete_removes_the_uploaded_file(built: tuple[Path, Path]) -> None:
    corpus, index_dir = built
    added = add_files(corpus, index_dir, EMBEDDER, [record_file(ARTICLE)]).articles[0]
    change = delete_article(corpus, index_dir, EMBEDDER, added.id)
    assert [a.id for a in change.articles] == [added.id]
    assert not (corpus / change.files[0]).exists() and added.id not in load_index(index_dir).articles


def test_articles_of_the_corpus_proper_are_not_deleted(built: tuple[Path, Path]) -> None:
    corpus, index_dir = built
    bundled = next(iter(load_index(index_dir).articles))
    with pytest.raises(NotUploadedError, match="rag index"):
        delete_article(corpus, index_dir, EMBEDDER, bundled)
    with pytest.raises(InputError, match="no article"):
        delete_article(corpus, index_dir, EMBEDDER, "nope")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("scan.pdf", b"%PDF-1.4", "unsupported file type"),
        ("empty.txt", b"   ", "empty"),
        ("binary.txt", b"\x00\x01\x02abc", "binary"),
        ("bad.jsonl", b'{"title": "no text"}\n', "no article"),
    ],
)
def test_unreadable_uploads_change_nothing(built: tuple[Path, Path], name: str, data: bytes, message: str) -> None:
    corpus, index_dir = built
    before = (index_dir / "manifest.json").read_bytes()
    with pytest.raises(InputError, match=message):
        add_files(corpus, index_dir, EMBEDDER, [(name, data)])
    assert (index_dir / "manifest.json").read_bytes() == before and not (corpus / UPLOADS).exists()


def test_a_failed_build_takes_the_file_back_out(built: tuple[Path, Path]) -> None:
    corpus, index_dir = built

    class Broken(HashEmbedder):
        def embed_passages(self, texts, batch_size=32):
            raise RagError("the model is gone")

    with pytest.raises(RagError, match="the model is gone"):
        add_files(corpus, index_dir, Broken(64), [record_file(ARTICLE)])
    assert list((corpus / UPLOADS).iterdir()) == []
    assert len(load_index(index_dir).articles) == 1


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"title": "t"}, '"text" is required'),
        ({"text": "正文", "date": "3月1日"}, '"date" must look like'),
        ({"text": "正文", "author": "x"}, "unknown field"),
        ({"text": "正文", "source": 5}, '"source" must be text'),
        (["正文"], "JSON object"),
    ],
)
def test_bad_json_articles_say_what_to_fix(record: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        record_file(record)


def test_a_json_article_is_one_jsonl_line() -> None:
    name, data = record_file(ARTICLE)
    assert name.endswith(".jsonl") and json.loads(data) == ARTICLE


def test_corpus_of_needs_a_folder(tmp_path: Path) -> None:
    single = tmp_path / "one.txt"
    single.write_text("一篇文章的正文。\n", encoding="utf-8")
    build_index(single, tmp_path / "index", EMBEDDER, progress=False)
    with pytest.raises(RagError, match="not a folder"):
        corpus_of(tmp_path / "index")


def test_rag_add_and_remove_on_the_command_line(built: tuple[Path, Path], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from rag.cli import main

    corpus, index_dir = built
    note = tmp_path / "today.md"
    note.write_text("# 今日要闻\n\n烟台地铁1号线今天开通。", encoding="utf-8")
    result = CliRunner().invoke(main, ["add", str(note), "--index-dir", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)["articles"][0]
    assert added["title"] == "今日要闻" and (corpus / json.loads(result.stdout)["files"][0]).is_file()
    result = CliRunner().invoke(main, ["remove", added["id"], "--index-dir", str(index_dir)])
    assert result.exit_code == 0 and "removed uploads/" in result.output
    missing = CliRunner().invoke(main, ["add", str(note), "--index-dir", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "rag index corpus --index-dir" in missing.output
    bad = CliRunner().invoke(main, ["add", str(tmp_path / "scan.pdf"), "--index-dir", str(index_dir)])
    assert bad.exit_code != 0 and "Traceback" not in bad.output
