"""The real server (`rag serve`, uvicorn, the chat UI mounted) against the clients people use:
the official `openai` package, Gradio's own `gradio_client`, plain HTTP for adding and
removing articles while questions keep coming, and the date and publication filters.

One server for the module, over a copy of the corpus indexed with the hash embedder (the
real model's answers are covered by test_server.py; here the subject is the wiring). An
API key is set, so every client is also checked to send it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from rag.embedders import HashEmbedder
from rag.index import build_index

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KEY = "test-key-15"
HEADERS = {"X-API-Key": KEY}
QUESTION = "招远2023年黄金产业总产值是多少？"
# An article no corpus file talks about, and a question only it answers.
NEW_ARTICLE = {
    "title": "日照港开通至釜山第九条集装箱航线",
    "text": "本报日照3月1日讯 日照港今天开通至韩国釜山的第九条集装箱航线，每周三个航班。\n"
            "该航线由日照港集团与两家船公司合作运营，预计每年运送集装箱12万标准箱。",
    "date": "2024-03-01",
    "publication": "日照日报",
}
NEW_QUESTION = "日照港至釜山的集装箱航线每周几个航班？"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("clients")
    corpus = work / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    build_index(corpus, work / "index", HashEmbedder(384), progress=False)
    port = _free_port()
    env = {**os.environ, "RAG_API_KEY": KEY, "RAG_UI_PUBLIC": "true", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--port", str(port), "--index-dir", str(work / "index"),
         "--corpus", str(corpus), "--embedder", "hash:384"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{proc.stdout.read()}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.time() > deadline:
            proc.kill()
            raise RuntimeError("server did not start in time")
        time.sleep(0.3)
    yield base, corpus
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


# ------------------------------------------------------------------------- OpenAI


def test_openai_client_non_streaming(server):
    from openai import OpenAI

    client = OpenAI(base_url=server[0] + "/v1", api_key=KEY)
    assert [m.id for m in client.models.list()] == ["rag"]
    reply = client.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    text = reply.choices[0].message.content
    assert "900亿元" in text and "[1]" in text and reply.choices[0].finish_reason == "stop"
    citations = reply.model_extra["citations"]
    assert citations[0]["n"] == 1 and "900亿元" in "".join(c["text"] for c in citations)
    assert reply.model_extra["refused"] is False


def test_openai_client_streaming_and_follow_up(server):
    from openai import OpenAI

    client = OpenAI(base_url=server[0] + "/v1", api_key=KEY)
    messages = [
        {"role": "system", "content": "你是报纸问答助手。"},
        {"role": "user", "content": "2023年招远市地区生产总值增长多少？"},
        {"role": "assistant", "content": "……"},
        {"role": "user", "content": "那胶州呢？"},
    ]
    chunks = list(client.chat.completions.create(model="rag", messages=messages, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "[1]" in text and chunks[-1].choices[0].finish_reason == "stop"
    last = chunks[-1].model_extra
    assert last["citations"] and any("胶州" in c["title"] + c["text"] for c in last["citations"])


def test_openai_errors_come_in_openai_shape(server):
    import openai

    bad_key = openai.OpenAI(base_url=server[0] + "/v1", api_key="wrong")
    with pytest.raises(openai.AuthenticationError) as caught:
        bad_key.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    assert "Bearer" in caught.value.body["message"]
    client = openai.OpenAI(base_url=server[0] + "/v1", api_key=KEY)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "   "}])
    assert caught.value.body["type"] == "invalid_request_error" and "empty" in caught.value.body["message"]


# ------------------------------------------------------------------------- Gradio


def _content(message: dict) -> str:
    """A chat message's text (Gradio sends content as a list of parts)."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def test_gradio_client_chat_and_follow_up(server):
    from gradio_client import Client

    client = Client(server[0] + "/ui/", verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/chat" in endpoints and "/ask" in endpoints
    first = client.predict(QUESTION, api_name="/chat")
    assert "900亿元" in _content(first[0][-1])
    follow = client.predict("那2024年上半年呢？", api_name="/chat")  # the session keeps the conversation
    assert len(follow[0]) == 4 and _content(follow[0][2]) == "那2024年上半年呢？"
    answer = client.predict("那胶州呢？", [{"role": "user", "content": "2023年招远市地区生产总值增长多少？"},
                                         {"role": "assistant", "content": "……"}], api_name="/ask")
    assert answer["citations"] and "胶州" in "".join(c["title"] + c["text"] for c in answer["citations"])


# ------------------------------------------------------------------------- articles


def test_add_ask_delete_while_questions_keep_coming(server):
    base, corpus = server
    failures: list[str] = []
    answered = 0
    stop = threading.Event()

    def ask_again_and_again() -> None:
        nonlocal answered
        with httpx.Client(timeout=60, headers=HEADERS) as http:
            while not stop.is_set():
                r = http.post(base + "/ask", json={"question": QUESTION})
                if r.status_code != 200 or "900亿元" not in r.json()["answer"]:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                answered += 1

    askers = [threading.Thread(target=ask_again_and_again) for _ in range(3)]
    for t in askers:
        t.start()
    try:
        assert httpx.post(base + "/articles", json=NEW_ARTICLE, timeout=60).status_code == 401  # writes need the key
        r = httpx.post(base + "/articles", json=NEW_ARTICLE, headers=HEADERS, timeout=120)
        assert r.status_code == 201, r.text
        added = r.json()["articles"]
        assert [a["title"] for a in added] == [NEW_ARTICLE["title"]]
        assert (corpus / r.json()["files"][0]).is_file()  # stored in the corpus, so it survives a restart
        answer = httpx.post(base + "/ask", json={"question": NEW_QUESTION}, headers=HEADERS, timeout=60).json()
        assert not answer["refused"] and "每周三个航班" in answer["answer"]
        cited = answer["citations"][0]
        assert (cited["date"], cited["date_source"], cited["publication"]) == ("2024-03-01", "front_matter", "日照日报")

        page = "# 烟台新开一条地铁线\n\n本报烟台3月2日讯 烟台今天开通地铁1号线，全长36公里。\n"
        r = httpx.post(base + "/articles", files={"file": ("subway.md", page.encode())}, headers=HEADERS, timeout=120)
        assert r.status_code == 201 and r.json()["articles"][0]["title"] == "烟台新开一条地铁线"

        gone = httpx.delete(f"{base}/articles/{added[0]['id']}", headers=HEADERS, timeout=120)
        assert gone.status_code == 200 and gone.json()["articles"][0]["id"] == added[0]["id"]
        again = httpx.post(base + "/ask", json={"question": NEW_QUESTION}, headers=HEADERS, timeout=60).json()
        assert again["refused"] and "每周三个航班" not in again["answer"]
        assert httpx.get(f"{base}/articles/{added[0]['id']}", headers=HEADERS).status_code == 404
        bundled = httpx.delete(f"{base}/articles/{_bundled_id(base)}", headers=HEADERS)
        assert bundled.status_code == 409 and "rag index" in bundled.json()["detail"]
    finally:
        stop.set()
        for t in askers:
            t.join()
    print(f"{answered} questions answered, {len(failures)} failed, during two adds and a delete")
    assert answered > 0 and failures == []


def _bundled_id(base: str) -> str:
    articles = httpx.get(base + "/articles", headers=HEADERS).json()["articles"]
    return next(a["id"] for a in articles if a["source"].startswith("000_"))


def test_rag_add_on_the_command_line_reaches_the_running_server(server, tmp_path):
    base, corpus = server
    note = tmp_path / "port.txt"
    note.write_text("青岛港今天迎来第一万艘国际邮轮靠泊，创下单港邮轮靠泊纪录。\n", encoding="utf-8")
    index_dir = corpus.parent / "index"
    result = subprocess.run([sys.executable, "-m", "rag", "add", str(note), "--index-dir", str(index_dir)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "added 1 article(s)" in result.stdout
    deadline = time.time() + 15  # the server looks at the index on disk every couple of seconds
    while time.time() < deadline:
        answer = httpx.post(base + "/ask", json={"question": "青岛港迎来第多少艘国际邮轮靠泊？"},
                            headers=HEADERS, timeout=60).json()
        if not answer["refused"]:
            break
        time.sleep(0.5)
    assert "第一万艘" in answer["answer"]


# ------------------------------------------------------------------------- dates


def test_dates_and_their_source_over_http(server):
    base = server[0]
    r = httpx.post(base + "/ask", headers=HEADERS, timeout=60, json={
        "question": "省政府在烟台召开的政企沟通交流会与多少家企业沟通交流？",
        "filters": {"date_from": "2024-02-01", "date_to": "2024-02-29"}})
    cites = r.json()["citations"]
    assert cites and all(c["date"] == "2024-02-21" and c["date_source"] == "inferred" for c in cites)
    article = httpx.get(f"{base}/articles/{cites[0]['article_id']}", headers=HEADERS).json()
    assert article["date_source"] == "inferred" and "2024" in article["date_evidence"]
    r = httpx.post(base + "/ask", headers=HEADERS, timeout=60,
                   json={"question": "乳山市已累计减少审批环节多少个？", "filters": {"publication": "大众日报"}})
    assert {c["publication"] for c in r.json()["citations"]} == {"大众日报"}


def test_date_filters_in_the_chat_ui(server):
    from gradio_client import Client

    client = Client(server[0] + "/ui/", verbose=False)
    result = client.predict("政企沟通交流会", 5, "hybrid", "2024-02-01", "2024-02-29", [], api_name="/chat")
    html = _content(result[0][-1])
    assert "2024-02-21" in html and "推断" in html and "日期不详" not in html
