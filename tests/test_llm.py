"""The optional LLM path, against a local OpenAI-compatible server started in the test."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from rag.llm import LLMClient, check_generated, parse_reply
from rag.text import render_parts
from rag.types import Citation

CITES = [Citation(1, "c1", "a1", "招远", None, "000.txt", "2023年，黄金产业总产值达到900亿元。", 0.9)]


class _Handler(BaseHTTPRequestHandler):
    reply = ""
    status = 200
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, body, self.headers.get("Authorization")))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps({"choices": [{"message": {"content": type(self).reply}}]}).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    _Handler.status = 200
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_checked_answer_is_used(server):
    _Handler.reply = "招远2023年黄金产业总产值为900亿元。[1]"
    client = LLMClient(server, "m", api_key="secret")
    parts = client.answer("招远黄金产业总产值？", CITES)
    assert [(p.text, p.n, p.chunk_id) for p in parts] == [("招远2023年黄金产业总产值为900亿元。", 1, "c1")]
    assert render_parts((p.text, p.n) for p in parts) == _Handler.reply
    path, body, auth = _Handler.seen[0]
    assert path == "/v1/chat/completions" and body["model"] == "m" and auth == "Bearer secret"
    assert "900亿元" in body["messages"][1]["content"]


@pytest.mark.parametrize("reply", ["总产值为950亿元。[1]", "总产值为900亿元。[2]", "总产值为900亿元。"])
def test_unsupported_answer_falls_back(server, reply):
    _Handler.reply = reply
    assert LLMClient(server, "m").answer("q", CITES) is None


def test_endpoint_error_falls_back(server):
    _Handler.status = 500
    assert LLMClient(server, "m").answer("q", CITES) is None


def test_unreachable_endpoint_falls_back():
    assert LLMClient("http://127.0.0.1:9/v1", "m", timeout_s=0.5).answer("q", CITES) is None


def _check(text):
    return check_generated(parse_reply(text, CITES), CITES)


def test_check_generated_reasons():
    assert _check("900亿元。[1]") is None
    assert _check("900亿元。[1][1]") is None
    assert "marker" in _check("900亿元。[3]")
    assert "number 950" in _check("950亿元。[1]")
    assert "no citation markers" in _check("900亿元。")
    assert "after the last marker" in _check("900亿元。[1]另有950亿元。")
