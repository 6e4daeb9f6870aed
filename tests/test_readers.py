"""Tests for rag.readers: encodings, front matter, Markdown, HTML, jsonl (gzip too)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from rag.clean import content_signature
from rag.pages import Piece
from rag.readers import (
    UnreadableFile,
    decode_bytes,
    file_format,
    normalize_date,
    read_pieces,
    split_front_matter,
)

DATA = Path(__file__).parent / "data"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
TEXT = "乳山市深入贯彻新发展理念，2022年新开工项目50个以上。"


def _read(path: Path) -> tuple[list[tuple[Piece, str]], list[str]]:
    warnings: list[str] = []
    return list(read_pieces(path, path.name, warnings.append)), warnings


@pytest.mark.parametrize(
    "data",
    [TEXT.encode("utf-8"), b"\xef\xbb\xbf" + TEXT.encode("utf-8"), TEXT.encode("gb18030"), TEXT.encode("gbk")],
    ids=["utf-8", "utf-8-bom", "gb18030", "gbk"],
)
def test_decode_bytes_reads_utf8_with_or_without_bom_and_gb18030(data: bytes) -> None:
    assert decode_bytes(data, "x.txt") == TEXT


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"  \n ", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
     (bytes([0x81, 0x30, 0xFF, 0xFE] * 50), "not UTF-8 or GB18030")],
)
def test_decode_bytes_rejects_empty_binary_and_garbage_naming_the_file(data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableFile, match=rf"^scan\.txt: .*{reason}"):
        decode_bytes(data, "scan.txt")


def test_decode_bytes_rejects_text_full_of_control_characters() -> None:
    with pytest.raises(UnreadableFile):
        decode_bytes(("控制" + "\x01\x02\x03" * 10).encode("utf-8"), "c.txt")


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("a.txt", "txt"), ("a.MD", "md"), ("a.html", "html"), ("a.htm", "html"), ("a.jsonl", "jsonl"),
     ("a.jsonl.gz", "jsonl"), ("a.txt.gz", "txt"), ("a.pdf", None), ("a", None), ("a.gz", None)],
)
def test_file_format(name: str, fmt: str | None) -> None:
    assert file_format(Path(name)) == fmt


@pytest.mark.parametrize(
    ("value", "iso"),
    [("2022-05-30 09:55:06 +0800", "2022-05-30"), ("2023/8/1", "2023-08-01"), ("2023年8月1日", "2023-08-01"),
     (dt.date(2024, 2, 21), "2024-02-21"), (dt.datetime(2024, 2, 21, 8), "2024-02-21"), ("2023-02-30", None),
     ("昨天", None), (None, None), (20230801, None)],
)
def test_normalize_date(value: object, iso: str | None) -> None:
    assert normalize_date(value) == iso


def test_split_front_matter() -> None:
    meta, body = split_front_matter('---\ntitle: "标题：副题"\ndate: 2022-05-30\ntags: [a, b]\n---\n<p>正文</p>')
    assert meta == {"title": "标题：副题", "date": "2022-05-30", "tags": "[a, b]"}
    assert body == "<p>正文</p>"
    assert split_front_matter("没有前言\n---\n") == ({}, "没有前言\n---\n")


def test_jekyll_post_keeps_title_and_date_and_drops_markup_and_links() -> None:
    [(piece, source)], warnings = _read(DATA / "jekyll_post.txt")
    assert warnings == []
    assert source == "jekyll_post.txt"
    assert piece.title == "乳山市：奋楫扬帆谱写高质量发展新篇章"
    assert piece.date == "2022-05-30"
    assert piece.paragraphs[:4] == ["□王嘉姜俏俏王文琪", piece.paragraphs[1], "抢抓项目建设“黄金期”", "推动项目建设再提速"]
    assert piece.paragraphs[-2:] == ["⑦共富党建联盟腾裕项目航拍", "（文章来源：大众日报）"]
    text = "\n".join(piece.paragraphs)
    assert not re.search(r"<[a-z/]|http|返回|layout|categories|大众日报新闻", text)


@pytest.mark.parametrize("path", [DATA / "jekyll_post.txt", CORPUS / "004_bf6e2d6a9ccb7553.txt"])
def test_jekyll_post_loses_only_the_documented_lines(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    (piece, _), = _read(path)[0]
    front_matter = raw[: raw.index("---", 3) + 3]
    link_lines = [line for line in raw.splitlines() if line.startswith(("<http", "[返回"))]
    assert len(link_lines) == 2
    expected = content_signature(raw) - content_signature(front_matter) + content_signature(piece.title)
    for line in link_lines:
        expected -= content_signature(line)
    kept = sum((content_signature(p) for p in piece.paragraphs), Counter()) + content_signature(piece.title)
    assert kept == expected


def test_markdown_title_from_heading_markup_removed_and_link_lines_dropped(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text(
        "# 招远：黄金产业总产值达到900亿元\n\n"
        "**2023年**，招远实施全产业链项目31个，\n详见[报道](http://x.cn/a)。\n\n"
        "## 下一步\n\n- 力争年内突破1000亿元。\n\n"
        "[返回首页](//x.cn/) | [上一篇](//x.cn/b)\n",
        encoding="utf-8",
    )
    (piece, source), = _read(path)[0]
    assert source == "note.md"
    assert piece.title == "招远：黄金产业总产值达到900亿元"
    assert piece.paragraphs == ["2023年，招远实施全产业链项目31个，详见报道。", "下一步", "力争年内突破1000亿元。"]


def test_html_title_from_title_tag_and_h1_not_repeated(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>胶州：以工代赈促进富民增收</title></head><body>"
        "<h1>胶州：以工代赈促进富民增收</h1><p>已发放劳务报酬322.7万元。</p><nav></nav></body></html>",
        encoding="utf-8",
    )
    (piece, _), = _read(path)[0]
    assert piece.title == "胶州：以工代赈促进富民增收"
    assert piece.paragraphs == ["已发放劳务报酬322.7万元。"]
    assert not piece.title_from_text


def _jsonl_lines() -> list[str]:
    return [
        json.dumps({"id": "a", "title": "港口 新项目", "text": "总投资754 . 85 亿元。\n\n第二段。", "date": "2024-02-21 08:00:00"},
                   ensure_ascii=False),
        "{not json",
        json.dumps({"id": "b", "title": "", "text": "IT之家 8 月 16 日消息，英特尔发布新版本。后文。"}, ensure_ascii=False),
        json.dumps({"id": "c", "title": "无正文", "text": ""}, ensure_ascii=False),
        json.dumps({"id": "d", "title": "来源", "text": "正文。", "source": "dazhong/2024-02-21"}, ensure_ascii=False),
        "[1, 2]",
        "",
    ]


@pytest.mark.parametrize("compressed", [False, True])
def test_jsonl_reads_good_lines_and_warns_about_bad_ones(tmp_path: Path, compressed: bool) -> None:
    content = "\n".join(_jsonl_lines()).encode("utf-8")
    path = tmp_path / ("news.jsonl.gz" if compressed else "news.jsonl")
    path.write_bytes(gzip.compress(content) if compressed else content)
    pieces, warnings = _read(path)
    assert [(p.title, p.date, s) for p, s in pieces] == [
        ("港口 新项目", "2024-02-21", path.name),
        ("IT之家8月16日消息，英特尔发布新版本", None, path.name),
        ("来源", None, "dazhong/2024-02-21"),
    ]
    assert pieces[0][0].paragraphs == ["总投资754.85亿元。", "第二段。"]
    assert pieces[1][0].title_from_text
    assert [w.split(":")[1].strip() for w in warnings] == ["line 2 skipped", "line 4 skipped", "line 6 skipped"]
    assert all(w.startswith(path.name) for w in warnings)


def test_jsonl_in_gb18030_is_read(tmp_path: Path) -> None:
    path = tmp_path / "gbk.jsonl"
    path.write_bytes(json.dumps({"title": "标题", "text": "正文内容。"}, ensure_ascii=False).encode("gb18030"))
    (piece, _), = _read(path)[0]
    assert (piece.title, piece.paragraphs) == ("标题", ["正文内容。"])


def test_truncated_gzip_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"title": "a", "text": "b"}\n' * 1000)[:50])
    with pytest.raises(UnreadableFile, match="cut.jsonl.gz"):
        _read(path)


def test_unsupported_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(b"%PDF-1.4")
    with pytest.raises(UnreadableFile, match=r"scan\.pdf: unsupported file type"):
        _read(path)
