"""Every endpoint and every bad input, through FastAPI's TestClient."""

import json

import pytest
from fastapi.testclient import TestClient

from rag.api import create_app
from rag.settings import Settings


@pytest.fixture(scope="module")
def client(engine):
    app = create_app(Settings(ui=False), engine=engine)
    with TestClient(app) as c:
        yield c


def test_ask_returns_the_answer_object(client):
    r = client.post("/ask", json={"question": "招远2023年黄金产业总产值是多少？"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"answer", "refused", "citations", "timings_ms", "parts", "refusal"}
    assert body["citations"]
    # The text is rendered from the parts: each part's text, then its [n]; each span lies in its passage.
    passages = {c["n"]: c["text"] for c in body["citations"]}
    if not body["refused"]:
        assert body["refusal"] is None and body["parts"]
        assert body["answer"] == "".join(p["text"] + (f"[{p['n']}]" if p["n"] else "") for p in body["parts"])
        for part in body["parts"]:
            if part["n"] is not None:
                start, end = part["span"]
                assert 0 <= start < end <= len(passages[part["n"]])
    else:
        assert body["parts"] == [] and body["refusal"]["code"]
    assert set(body["citations"][0]) == {"n", "chunk_id", "article_id", "title", "date", "date_source", "source",
                                         "publication", "text", "score"}


def test_ask_with_history_and_filters(client):
    history = [{"role": "user", "content": "2023年招远市地区生产总值增长多少？"}]
    r = client.post("/ask", json={"question": "那胶州呢？", "history": history, "top_k": 3,
                                  "filters": {"sources": ["001_bc9608eda24c4c9c.txt"]}})
    assert r.status_code == 200
    assert all(c["source"] == "001_bc9608eda24c4c9c.txt" for c in r.json()["citations"])


def test_ask_stream_sends_pieces_citations_and_done(client):
    with client.stream("POST", "/ask/stream", json={"question": "环翠区有多少家高新技术企业？"}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [block.split("\n")[0].removeprefix("event: ") for block in text.strip().split("\n\n")]
    assert events[-2:] == ["citations", "done"] and events[0] == "delta"
    done = json.loads(text.strip().split("\n\n")[-1].split("data: ", 1)[1])
    assert set(done["answer"]) == {"answer", "refused", "citations", "timings_ms", "parts", "refusal"}


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_search_in_every_mode(client, mode):
    r = client.post("/search", json={"query": "招远 黄金产业", "top_k": 4, "mode": mode})
    assert r.status_code == 200
    body = r.json()
    assert 0 < len(body["hits"]) <= 4 and "total_ms" in body["timings_ms"]


def test_article_and_health(client, engine):
    article_id = next(iter(engine.index.articles))
    r = client.get(f"/articles/{article_id}")
    assert r.status_code == 200 and r.json()["id"] == article_id and r.json()["paragraphs"]
    assert client.get("/articles").json()["articles"]
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["chunks"] > 0 and health["embedder"]["id"] == "hash-384"
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/ask"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"question": ""}, 422, "the question is empty"),
        ({"question": "   \n "}, 422, "the question is empty"),
        ({"question": "\u3000\x1c"}, 422, "the question is empty"),  # what str.strip() removes
        ({"question": "问" * 1001}, 422, "the limit is 1000"),
        ({"question": "招远", "top_k": True}, 422, "top_k"),
        ({"question": "招远", "top_k": "5"}, 422, "top_k"),
        ({"question": 5}, 422, "question"),
        ({"question": "招远", "filters": {"date_from": "2024-13-99"}}, 400, "YYYY-MM-DD, such as 2023-01-31"),
        ({"question": "招远", "filters": {"date_to": "2024"}}, 400, "date_to must be a date in the form YYYY-MM-DD"),
        ({"question": "招远", "top_k": 0}, 422, "top_k"),
        ({"question": "招远", "top_k": 21}, 422, "top_k"),
        ({"question": "招远", "mode": "magic"}, 422, "mode must be one of hybrid, dense, bm25"),
        ({"question": "招远", "history": [{"role": "robot", "content": "x"}]}, 422, "history"),
        ({"question": "招远", "filters": {"colour": "red"}}, 422, "unknown filter 'colour'"),
        ({}, 422, "question"),
    ],
)
def test_bad_input_is_a_4xx_with_a_message(client, body, status, message):
    r = client.post("/ask", json=body)
    assert r.status_code == status
    assert message in r.json()["detail"]


def test_malformed_json(client):
    r = client.post("/ask", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "not valid JSON" in r.json()["detail"]


def test_unknown_article_is_404(client):
    r = client.get("/articles/nope")
    assert r.status_code == 404 and "no article" in r.json()["detail"]


def test_body_limit(engine):
    app = create_app(Settings(ui=False, max_body_bytes=1024), engine=engine)
    with TestClient(app) as c:
        r = c.post("/ask", json={"question": "问" * 900})
        assert r.status_code == 413 and "limit is 1024" in r.json()["detail"]


def test_no_index_is_503_with_how_to_build(tmp_path):
    app = create_app(Settings(ui=False, index_dir=tmp_path / "none", embedder="hash:384"))
    with TestClient(app) as c:
        r = c.post("/ask", json={"question": "招远"})
        assert r.status_code == 503 and "rag index" in r.json()["detail"]
        assert c.get("/health").status_code == 503


def test_api_key_and_cors(engine):
    app = create_app(Settings(ui=False, api_key="k", cors_origins=["http://newsroom.example"]), engine=engine)
    with TestClient(app) as c:
        assert c.post("/ask", json={"question": "招远"}).status_code == 401
        assert c.post("/ask", json={"question": "招远"}, headers={"X-API-Key": "k"}).status_code == 200
        assert c.get("/health").status_code == 200  # health stays open for probes
        pre = c.options("/ask", headers={"Origin": "http://newsroom.example", "Access-Control-Request-Method": "POST"})
        assert pre.headers["access-control-allow-origin"] == "http://newsroom.example"
