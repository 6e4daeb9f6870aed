"""The OpenAI-compatible endpoints through FastAPI's TestClient: shapes, streaming, errors, key.
(The official `openai` client against the real server is in test_server_clients.py.)"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from rag.api import create_app
from rag.openai_api import ChatRequest, question_and_history
from rag.settings import Settings

QUESTION = "招远2023年黄金产业总产值是多少？"


@pytest.fixture(scope="module")
def client(engine):
    with TestClient(create_app(Settings(ui=False, api_key="k"), engine=engine)) as c:
        c.headers["Authorization"] = "Bearer k"
        yield c


def _ask(client, **body):
    return client.post("/v1/chat/completions", json={"model": "rag", **body})


def test_completion_has_openai_shape_and_citations(client):
    r = _ask(client, messages=[{"role": "user", "content": QUESTION}])
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert "[1]" in choice["message"]["content"] and body["citations"][0]["n"] == 1
    assert body["refused"] is False and body["refusal"] is None
    assert choice["message"]["content"] == "".join(p["text"] + f"[{p['n']}]" for p in body["parts"])


def test_stream_ends_with_citations_and_done(client):
    with client.stream("POST", "/v1/chat/completions",
                       json={"model": "rag", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == _ask(client, messages=[{"role": "user", "content": QUESTION}]).json()["choices"][0]["message"]["content"]


def test_messages_become_question_and_history():
    messages = ChatRequest.model_validate({"messages": [
        {"role": "system", "content": "be brief"}, {"role": "user", "content": "2023年招远呢？"},
        {"role": "assistant", "content": "……"},
        {"role": "user", "content": [{"type": "text", "text": "那胶州"}, {"type": "text", "text": "呢？"}]},
        {"role": "tool", "content": "ignored"},
    ]}).messages
    question, history = question_and_history(messages)
    assert question == "那胶州呢？"
    assert history == [{"role": "user", "content": "2023年招远呢？"}, {"role": "assistant", "content": "……"}]


def test_models_lists_rag(client):
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["rag"]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"messages": []}, "messages", "at least 1"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages", "no user message"),
        ({"messages": [{"role": "user", "content": " "}]}, "messages.0.content", "only spaces"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages.0.content", "text"),
        ({"messages": [{"role": "user", "content": "问" * 1001}]}, "messages.0.content", "1000"),
        ({"messages": [{"role": "user", "content": QUESTION}], "top_k": 99}, "top_k", "less than or equal"),
        ({"messages": [{"role": "user", "content": QUESTION}], "n": 2}, "n", "less than or equal"),
        ({"messages": [{"role": "user", "content": QUESTION}], "filters": {"colour": "red"}}, "filters.colour",
         "unknown filter"),
    ],
)
def test_errors_use_openais_shape(client, body, param, words):
    r = _ask(client, **body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and words in error["message"]


def test_the_key_goes_in_a_bearer_header(client):
    r = client.post("/v1/chat/completions", headers={"Authorization": "Bearer wrong"},
                    json={"model": "rag", "messages": [{"role": "user", "content": QUESTION}]})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models", headers={"Authorization": ""}).status_code == 401


def test_malformed_json_and_huge_bodies(client):
    r = client.post("/v1/chat/completions", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    r = _ask(client, messages=[{"role": "user", "content": "问" * 70_000}])
    assert r.status_code == 413 and "limit" in r.json()["error"]["message"]


def test_schema_declares_the_openai_errors(client):
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/v1/chat/completions"]["post"]
    assert {"200", "400", "401", "413", "503"} <= set(post["responses"])
    assert "text/event-stream" in post["responses"]["200"]["content"]
