"""Fast tests for the chat UI: rendering, escaping, streaming turns and mounting, over fakes."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import gradio as gr
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag.errors import IndexMissingError, InputError
from rag.profile import active as active_profile
from rag.types import Answer, AnswerPart, Article, Citation, Refusal
from ui.app import (
    UNEXPECTED_ERROR,
    build_ui,
    highlight,
    make_filters,
    upload_articles,
    index_status,
    mount_ui,
    part_spans,
    render_answer,
    respond,
)

PASSAGE = (
    "“四个确保”强化资金管理。2024年，招远市谋划适用以工代赈\n方式重点工程项目9个，"
    "预计吸纳务工群众人数 440人；谋划实施以工代赈项目8个。"
)
ARTICLE = Article("a1", "招远“以工代赈”创新推出“1234”工作法", "2024-07-01", "000.txt",
                  ["本报讯 近年来，招远市……", PASSAGE, "其他段落。"])
HOSTILE = '正文<script>alert(1)</script>与<img src=x onerror="alert(2)">结尾。'


def _cite(n: int = 1, text: str = PASSAGE, title: str = ARTICLE.title, article_id: str = "a1") -> Citation:
    return Citation(n, f"c{n}", article_id, title, "2024-07-01", "000.txt", text, 0.9)


class FakeEngine:
    """Streams a fixed answer the way the engine does and records what it was asked."""

    def __init__(self, answer: Answer, articles: dict[str, Article] | None = None) -> None:
        self.answer = answer
        self.articles = articles if articles is not None else {"a1": ARTICLE}
        self.calls: list[dict[str, Any]] = []

    def ask_stream(self, question: str, top_k: int = 5, history: list[dict] | None = None,
                   mode: str = "hybrid", filters: dict | None = None) -> Iterator[dict[str, Any]]:
        self.calls.append({"question": question, "top_k": top_k, "history": history, "mode": mode})
        for piece in self.answer.pieces():
            yield {"event": "delta", "text": piece}
        yield {"event": "citations", "citations": [c.to_dict() for c in self.answer.citations]}
        yield {"event": "done", "answer": self.answer.to_dict()}

    def article(self, article_id: str) -> Article:
        if article_id not in self.articles:
            raise InputError(f"no article with id {article_id!r}")
        return self.articles[article_id]

    def health(self) -> dict[str, Any]:
        return {"articles": 5, "chunks": 188, "embedder": "hash:384", "version": "0.1.0"}


_NINE = PASSAGE.index("2024年")
_PEOPLE = PASSAGE.index("预计")
ANSWER = Answer([AnswerPart("2024年，招远市谋划适用以工代赈方式重点工程项目9个。", 1, "c1", (_NINE, PASSAGE.index("预计"))),
                 AnswerPart("预计吸纳440人。", 1, "c1", (_PEOPLE, PASSAGE.index("；") + 1))], [_cite()])


def _turn(engine: Any, question: str = "招远市谋划了多少个项目？", history: list | None = None,
          top_k: float = 5, mode: str = "hybrid") -> list[tuple]:
    get = engine if callable(engine) else (lambda: engine)
    return list(respond(question, [], history or [], top_k, mode, get_engine=get))


# ------------------------------------------------------------------------- highlight


def test_part_spans_by_citation() -> None:
    parts = [AnswerPart("甲", 1, "c1", (0, 3)), AnswerPart("乙", 2, "c2", (4, 9)), AnswerPart("丙", 1, "c1", (5, 7)),
             AnswerPart("资料中没有找到关于“胶州”的相应内容。"), AnswerPart("LLM 的句子", 2, "c2", None)]
    assert part_spans(parts) == {1: [(0, 3), (5, 7)], 2: [(4, 9)]}
    assert part_spans([p.to_dict() for p in parts]) == part_spans(parts)  # as the stream's JSON carries them


def test_highlight_marks_exactly_the_spans() -> None:
    start, end = ANSWER.parts[0].span
    marked = re.findall(r"<mark>(.*?)</mark>", highlight(PASSAGE, [(start, end)]))
    assert marked == [PASSAGE[start:end].replace("\n", "<br>")]
    assert "9个" in marked[0] and "四个确保" not in marked[0] and "8个" not in marked[0]


def test_highlight_marks_every_span_once_in_order() -> None:
    spans = [ANSWER.parts[1].span, ANSWER.parts[0].span, ANSWER.parts[0].span]
    marked = re.findall(r"<mark>(.*?)</mark>", highlight(PASSAGE, spans))
    assert len(marked) == 2 and "9个" in marked[0] and "440人" in marked[1]


@pytest.mark.parametrize("spans", [[], [(5, 5)], [(500, 600)]])
def test_highlight_marks_nothing_for_empty_or_outside_spans(spans: list) -> None:
    out = highlight(PASSAGE, spans)
    assert "<mark>" not in out and "招远市" in out


# -------------------------------------------------------------------------- rendering


def test_render_escapes_every_document_field() -> None:
    cite = _cite(text=HOSTILE, title="<b>标题</b>", article_id="evil")
    article = Article("evil", "<i>题</i>", None, "x.html", [HOSTILE, "<svg onload=alert(3)>"])
    out = render_answer("答案<script>alert(4)</script>[1]", [cite], articles={"evil": article})
    for raw in ("<script", "<img", "<b>", "<i>", "<svg"):
        assert raw not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in out
    assert "&lt;svg onload=alert(3)&gt;" in out


def test_render_answer_has_cards_markers_and_article() -> None:
    out = render_answer(ANSWER.text, ANSWER.citations, articles={"a1": ARTICLE}, parts=ANSWER.parts)
    assert out.count('class="rag-card"') == 1
    assert out.count("<mark>") == 2
    assert '<sup class="rag-cite"' in out and "[1]</sup>" in out
    assert "2024-07-01" in out and "000.txt" in out and "招远“以工代赈”" in out
    assert '<details class="rag-article">' in out and "其他段落。" in out
    assert 'class="rag-cited-para"' in out
    assert "rag-badge-refused" not in out
    assert "\n\n" not in out, "a blank line would end the HTML block in markdown"


def test_refusal_looks_different_and_keeps_sources() -> None:
    out = render_answer("资料中没有2025年的数据。", [_cite()], refused=True)
    assert "rag-refused" in out and "未找到答案" in out
    assert out.count('class="rag-card"') == 1 and "最接近的资料" in out
    assert "原文暂不可用" in out  # no article passed


def test_refusal_highlights_nothing() -> None:
    refused = Answer([], [_cite()], Refusal("year", ["2025年"], "资料中没有2025年的相关内容"))
    assert refused.text.startswith("资料中没有找到能回答这个问题的内容（资料中没有2025年的相关内容）。最接近的资料：")
    out = render_answer(refused.text, refused.citations, refused=True, parts=refused.parts)
    assert "<mark>" not in out and "rag-refused" in out


# ------------------------------------------------------------------------ chat turns


def test_turn_streams_then_shows_cards_and_records_history() -> None:
    engine = FakeEngine(ANSWER)
    steps = _turn(engine, top_k=3.0, mode="bm25")
    assert engine.calls == [{"question": "招远市谋划了多少个项目？", "top_k": 3, "history": None, "mode": "bm25"}]
    shown = [s[0][-1]["content"] for s in steps]
    assert "rag-cursor" in shown[0] and "正在检索" in shown[0]
    partial = [s for s in shown if "rag-cursor" in s and "9个" in s]
    assert partial and "预计吸纳" not in partial[0], "the answer streams in pieces"
    final_chat, display, history, box = steps[-1]
    assert final_chat == display and box == ""
    assert "rag-card" in display[-1]["content"] and "rag-cursor" not in display[-1]["content"]
    assert display[0] == {"role": "user", "content": "招远市谋划了多少个项目？"}
    assert history == [{"role": "user", "content": "招远市谋划了多少个项目？"},
                       {"role": "assistant", "content": ANSWER.text}]


def test_follow_up_sends_plain_history() -> None:
    engine = FakeEngine(ANSWER)
    first = _turn(engine)[-1]
    list(respond("那胶州呢？", first[1], first[2], 5, "hybrid", get_engine=lambda: engine))
    assert engine.calls[1]["question"] == "那胶州呢？"
    assert engine.calls[1]["history"] == first[2]
    assert all("<" not in turn["content"] for turn in engine.calls[1]["history"])


def test_user_question_is_escaped() -> None:
    display = _turn(FakeEngine(ANSWER), question="<img src=x onerror=alert(1)>")[-1][1]
    assert display[0]["content"] == "&lt;img src=x onerror=alert(1)&gt;"


def test_blank_question_does_not_call_the_engine() -> None:
    engine = FakeEngine(ANSWER)
    assert _turn(engine, question="   ") == [([], [], [], "")]
    assert engine.calls == []


def test_missing_index_message_is_shown() -> None:
    def missing() -> Any:
        raise IndexMissingError("no index in index/: run `rag index corpus/` first")

    chat, display, history, _ = _turn(missing)[-1]
    assert "rag-error" in display[-1]["content"]
    assert "run `rag index corpus/` first" in display[-1]["content"]
    assert history == [], "a failed turn is not sent as history"


def test_input_error_from_the_engine_is_shown() -> None:
    class TooLong(FakeEngine):
        def ask_stream(self, question: str, **_: Any) -> Iterator[dict[str, Any]]:
            raise InputError("question is 2000 characters; the limit is 1000")

    display = _turn(TooLong(ANSWER))[-1][1]
    assert "the limit is 1000" in display[-1]["content"]


def test_unexpected_error_is_short_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(FakeEngine):
        def ask_stream(self, question: str, **_: Any) -> Iterator[dict[str, Any]]:
            yield {"event": "delta", "text": "半句"}
            raise RuntimeError("faiss exploded at 0xdeadbeef")

    with caplog.at_level(logging.ERROR, logger="ui.app"):
        display = _turn(Broken(ANSWER))[-1][1]
    content = display[-1]["content"]
    assert UNEXPECTED_ERROR in content
    assert "faiss" not in content and "Traceback" not in content
    assert "faiss exploded" in caplog.text


def test_unknown_article_leaves_card_without_full_text() -> None:
    display = _turn(FakeEngine(ANSWER, articles={}))[-1][1]
    assert "rag-card" in display[-1]["content"] and "原文暂不可用" in display[-1]["content"]


def test_refused_turn_has_badge() -> None:
    refused = Answer([], [_cite()], Refusal("entity", ["胶州"], "资料中没有提到“胶州”"))
    display = _turn(FakeEngine(refused))[-1][1]
    assert "未找到答案" in display[-1]["content"] and "rag-card" in display[-1]["content"]
    assert "资料中没有提到“胶州”" in display[-1]["content"] and "<mark>" not in display[-1]["content"]


# ---------------------------------------------------------------------- page and mount


def test_index_status(engine: Any) -> None:
    assert "188 个段落" in index_status(lambda: FakeEngine(ANSWER))
    real = index_status(lambda: engine)
    assert f"{engine.health()['chunks']} 个段落" in real and "向量模型 hash-384" in real

    def missing() -> Any:
        raise IndexMissingError("no index <here>")

    assert "no index &lt;here&gt;" in index_status(missing)


def test_build_ui_offers_examples_and_settings() -> None:
    demo = build_ui(lambda: FakeEngine(ANSWER))
    assert isinstance(demo, gr.Blocks)
    config = demo.get_config_file()
    props = [c.get("props", {}) for c in config["components"]]
    chat = next(p for p in props if p.get("elem_id") == "rag-chat")
    assert [e["text"] for e in chat["examples"]] == list(active_profile().example_questions)
    assert len(chat["examples"]) == 4, "the bundled corpus's profile (shandong) has four"
    slider = next(p for p in props if p.get("label") == "来源数量")
    assert (slider["minimum"], slider["maximum"]) == (1, 10)
    radio = next(p for p in props if p.get("label") == "检索方式")
    assert [value for _, value in radio["choices"]] == ["hybrid", "dense", "bm25"]


def test_mount_ui_serves_page_and_redirects_root() -> None:
    app = mount_ui(FastAPI(), lambda: FakeEngine(ANSWER))
    with TestClient(app) as client:
        root = client.get("/", follow_redirects=False)
        assert root.status_code == 307 and root.headers["location"] == "/ui/"
        page = client.get("/ui/")
        assert page.status_code == 200 and "<html" in page.text.lower()


def test_mount_ui_keeps_an_existing_root_route() -> None:
    app = FastAPI()

    @app.get("/")
    def home() -> dict:
        return {"home": True}

    with TestClient(mount_ui(app, lambda: FakeEngine(ANSWER), path="chat/")) as client:
        assert client.get("/").json() == {"home": True}
        assert client.get("/chat/").status_code == 200


def test_turn_over_the_real_engine(engine: Any) -> None:
    """The conftest's engine (real index and composer, hash embedder) through the chat."""
    steps = _turn(engine, question="招远市2024年谋划了多少个以工代赈重点工程项目？")
    content = steps[-1][1][-1]["content"]
    assert "rag-error" not in content and 'class="rag-card"' in content
    assert "原文暂不可用" not in content, "every cited article opens"
    assert [t["role"] for t in steps[-1][2]] == ["user", "assistant"]


# ------------------------------------------------------------------- dates, filters, upload


@pytest.mark.parametrize(
    ("source", "label"),
    [("dateline", "据电头"), ("front_matter", "据文件元数据"), ("sidecar", "据 meta.jsonl"), ("inferred", "推断")],
)
def test_cards_say_where_a_date_came_from(source: str, label: str) -> None:
    cite = _cite()
    cite.date_source = source
    article = Article("a1", ARTICLE.title, "2024-07-01", "000.txt", ARTICLE.paragraphs, date_source=source,
                      date_evidence="年份据正文：<今年>是2024年" if source == "inferred" else None)
    out = render_answer(ANSWER.text, [cite], articles={"a1": article})
    assert f"2024-07-01<span class=\"rag-date-source\">（{label}）</span>" in out
    if source == "inferred":
        assert 'title="年份据正文：&lt;今年&gt;是2024年"' in out


def test_cards_without_a_date_say_so() -> None:
    cite = _cite()
    cite.date = None
    assert "日期不详" in render_answer(ANSWER.text, [cite])


def test_make_filters() -> None:
    assert make_filters("", " ", []) == {}
    assert make_filters("2024-01-01", "2024-12", ["大众日报"]) == {
        "date_from": "2024-01-01", "date_to": "2024-12", "publications": ["大众日报"]}
    with pytest.raises(Exception, match="2024-02-21"):
        make_filters("昨天", "", None)


def test_ui_has_filters_and_a_named_api(engine: Any) -> None:
    demo = build_ui(lambda: engine)
    config = demo.get_config_file()
    labels = {c.get("props", {}).get("label") for c in config["components"]}
    assert {"起始日期", "截止日期", "报纸"} <= labels and "文章文件（.txt、.md、.html、.jsonl）" not in labels
    names = {d.get("api_name") for d in config["dependencies"] if d.get("api_visibility", "public") == "public"}
    assert {"chat", "ask"} <= names


def test_upload_control_reports_what_was_added(tmp_path) -> None:
    note = tmp_path / "note.md"
    note.write_text("# 标题\n\n正文。", encoding="utf-8")
    seen = []

    class Change:
        articles = [Article("x", "标题<b>", None, "uploads/note.md", ["正文。"])]

    def add(files, key):
        seen.append((files, key))
        return Change()

    out = upload_articles([str(note)], "secret", add)
    assert seen == [([("note.md", "# 标题\n\n正文。".encode())], "secret")]
    assert "已添加 1 篇文章" in out and "&lt;b&gt;" in out
    assert "请先选择文件" in upload_articles([], None, add)
    assert "未开放" in upload_articles([str(note)], None, None)

    def refuse(files, key):
        raise InputError("API 密钥不对")

    assert "API 密钥不对" in upload_articles([str(note)], "wrong", refuse)
