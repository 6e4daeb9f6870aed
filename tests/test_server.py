"""End to end: the real server (`rag serve`, uvicorn) over the real model and FAISS index."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, *extra: str, ui: bool = False, env: dict | None = None, cwd: Path | None = None):
    """Start `rag serve` in a subprocess and wait until /health answers."""
    port = free_port()
    command = [sys.executable, "-m", "rag", "serve", "--port", str(port), "--index-dir", str(index_dir), *extra]
    if not ui:
        command.append("--no-ui")
    # The log goes to a file, not a pipe: a pipe nobody reads fills up after a thousand requests
    # and the server then blocks on its next log line.
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, cwd=cwd)
    proc.output = lambda: (log.seek(0), log.read())[1]  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited early:\n{log.read()}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code in (200, 503):
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start in time")


def stop_server(proc) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def server(e5_index):
    proc, base = start_server(e5_index)
    yield base
    stop_server(proc)


def test_ask_over_http(server):
    r = httpx.post(server + "/ask", json={"question": "招远2023年黄金产业总产值是多少？"}, timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert not body["refused"] and "900亿元" in body["answer"]
    assert any("900亿元" in c["text"] for c in body["citations"])


def test_stream_over_http(server):
    events = []
    with httpx.stream("POST", server + "/ask/stream", json={"question": "环翠区有多少家高新技术企业？"}, timeout=30) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
    assert events[0] == "delta" and events[-2:] == ["citations", "done"]


def test_bad_input_over_http(server):
    r = httpx.post(server + "/ask", json={"question": " "}, timeout=10)
    assert r.status_code == 422 and "empty" in r.json()["detail"]


def test_first_run_builds_the_index(tmp_path, corpus_dir):
    """`rag serve` with no index builds one from the corpus and says so."""
    small = tmp_path / "corpus"
    small.mkdir()
    (small / "a.txt").write_text((corpus_dir / "001_bc9608eda24c4c9c.txt").read_text(encoding="utf-8"), encoding="utf-8")
    proc, base = start_server(tmp_path / "index", "--corpus", str(small), "--embedder", "hash:384")
    try:
        assert httpx.get(base + "/health", timeout=5).json()["chunks"] > 0
    finally:
        stop_server(proc)
    assert "no index yet: indexing" in proc.output()


def test_serve_never_replaces_the_users_index(tmp_path):
    """The issue's scenario: `rag index my_archive.jsonl --index-dir my_index`, then `rag serve
    --index-dir my_index` from a folder that has the bundled corpus/. The server must serve the
    archive's index as it is, not rebuild it from corpus/."""
    from test_cli import ARCHIVE

    archive = tmp_path / "my_archive.jsonl"
    archive.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in ARCHIVE), encoding="utf-8")
    index_dir = tmp_path / "my_index"
    built = subprocess.run([sys.executable, "-m", "rag", "index", str(archive), "--index-dir", str(index_dir),
                            "--embedder", "hash:384"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    manifest = (index_dir / "manifest.json").read_text()
    proc, base = start_server(index_dir, "--embedder", "hash:384", cwd=ROOT)  # ROOT holds corpus/
    try:
        health = httpx.get(base + "/health", timeout=5).json()
        assert health["articles"] == len(ARCHIVE)
        answer = httpx.post(base + "/ask", json={"question": "青岛国际啤酒节接待游客多少万人次？"}, timeout=30).json()
        assert answer["citations"] and {c["source"] for c in answer["citations"]} == {"my_archive.jsonl"}
        assert "680万人次" in answer["answer"]
    finally:
        stop_server(proc)
    assert "indexing" not in proc.output()
    assert (index_dir / "manifest.json").read_text() == manifest
    refused = subprocess.run([sys.executable, "-m", "rag", "serve", "--index-dir", str(index_dir), "--corpus", "corpus",
                              "--embedder", "hash:384", "--no-ui"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and str(archive) in refused.stderr and "--rebuild" in refused.stderr
    assert (index_dir / "manifest.json").read_text() == manifest
