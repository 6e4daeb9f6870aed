"""POST /articles and DELETE /articles/{id} through FastAPI's TestClient, and the engine swap:
a change (made here or by another process on disk) replaces the engine whole."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

import rag.live
from rag.api import create_app
from rag.embedders import HashEmbedder
from rag.engine import Engine
from rag.index import build_index
from rag.settings import Settings
from rag.uploads import add_files, record_file

ARTICLE = {"title": "日照港开通新航线", "text": "本报日照3月1日讯 日照港今天开通至釜山的第九条集装箱航线，每周三个航班。",
           "date": "2024-03-01"}
QUESTION = "日照港至釜山的集装箱航线每周几个航班？"


@pytest.fixture
def app_and_dirs(corpus_copy, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus_copy, index_dir, HashEmbedder(384), progress=False)
    engine = Engine.open(index_dir, HashEmbedder(384))
    app = create_app(Settings(ui=False, api_key="k", corpus_dir=corpus_copy), engine=engine)
    return app, corpus_copy, index_dir


def test_add_then_delete(app_and_dirs):
    app, corpus, _ = app_and_dirs
    with TestClient(app, headers={"X-API-Key": "k"}) as client:
        before = app.state.engine
        r = client.post("/articles", json=ARTICLE)
        assert r.status_code == 201
        (added,) = r.json()["articles"]
        assert app.state.engine is not before  # a new engine, swapped in whole
        assert before.index.articles.get(added["id"]) is None  # the old one is left as it was
        assert "每周三个航班" in client.post("/ask", json={"question": QUESTION}).json()["answer"]
        assert client.get(f"/articles/{added['id']}").json()["date_source"] == "front_matter"
        r = client.delete(f"/articles/{added['id']}")
        assert r.status_code == 200 and r.json()["files"][0].startswith("uploads/")
        assert client.post("/ask", json={"question": QUESTION}).json()["refused"]
        assert client.delete(f"/articles/{added['id']}").status_code == 404


def test_file_uploads(app_and_dirs):
    app, corpus, _ = app_and_dirs
    with TestClient(app, headers={"X-API-Key": "k"}) as client:
        r = client.post("/articles", files={"file": ("today.md", "# 今日要闻\n\n烟台地铁1号线今天开通。".encode())})
        assert r.status_code == 201 and r.json()["articles"][0]["title"] == "今日要闻"
        gb = "青岛港今天迎来第一万艘国际邮轮。".encode("gb18030")
        assert client.post("/articles", files={"file": ("gb.txt", gb)}).status_code == 201


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"json": {"title": "无正文"}}, 422, "text"),
        ({"json": {"text": "正文", "date": "3月1日"}}, 422, "date"),
        ({"json": {"text": "正文", "author": "x"}}, 422, "author"),
        ({"json": ["正文"]}, 400, "JSON object"),
        ({"content": b"{", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
        ({"files": {"file": ("scan.pdf", b"%PDF-1.4")}}, 400, "unsupported file type"),
        ({"files": {"file": ("blob.txt", b"\x00\x01\x02")}}, 400, "binary"),
        ({"files": {"other": ("a.txt", b"text")}}, 400, "form field named file"),
        ({"content": b"text", "headers": {"Content-Type": "text/plain"}}, 415, "multipart/form-data"),
    ],
)
def test_bad_uploads_say_what_to_fix(app_and_dirs, kwargs, status, words):
    app, corpus, _ = app_and_dirs
    with TestClient(app, headers={"X-API-Key": "k"}) as client:
        r = client.post("/articles", **kwargs)
        assert r.status_code == status and words in r.json()["detail"]
    assert not (corpus / "uploads").exists() or not any((corpus / "uploads").iterdir())


def test_writes_need_the_key_and_bundled_articles_stay(app_and_dirs):
    app, _, _ = app_and_dirs
    with TestClient(app) as client:
        assert client.post("/articles", json=ARTICLE).status_code == 401
        bundled = next(iter(app.state.engine.index.articles))
        assert client.delete(f"/articles/{bundled}").status_code == 401
        r = client.delete(f"/articles/{bundled}", headers={"Authorization": "Bearer k"})
        assert r.status_code == 409 and "rag index" in r.json()["detail"]


def test_uploads_may_be_larger_than_questions(app_and_dirs, monkeypatch):
    app, _, _ = app_and_dirs
    page = ("烟台今天召开全市重点项目推进会议，部署全年工作。" * 3000).encode()  # ~70 KB, over the 64 KB body limit
    with TestClient(app, headers={"X-API-Key": "k"}) as client:
        assert client.post("/articles", files={"file": ("page.txt", page)}).status_code == 201
        too_big = b"x" * (app.state.settings.max_upload_bytes + 1)
        assert client.post("/articles", files={"file": ("big.txt", too_big)}).status_code == 413


def test_a_change_on_disk_is_picked_up(app_and_dirs, monkeypatch):
    """`rag add` in another process: the server answers from the new index soon after."""
    app, corpus, index_dir = app_and_dirs
    monkeypatch.setattr(rag.live, "RELOAD_CHECK_S", 0.0)
    with TestClient(app, headers={"X-API-Key": "k"}) as client:
        assert client.post("/ask", json={"question": QUESTION}).json()["refused"]
        time.sleep(0.01)
        add_files(corpus, index_dir, HashEmbedder(384), [record_file(ARTICLE)])
        assert "每周三个航班" in client.post("/ask", json={"question": QUESTION}).json()["answer"]
