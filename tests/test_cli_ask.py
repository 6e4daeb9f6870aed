"""`rag ask --json` prints exactly what POST /ask returns; bad input is a message, not a traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from rag.api import create_app
from rag.cli import main
from rag.settings import Settings


def _without_timings(body: dict) -> dict:
    assert set(body["timings_ms"]) >= {"total_ms"}
    return {k: v for k, v in body.items() if k != "timings_ms"}


@pytest.mark.parametrize(
    "question",
    ["招远2023年黄金产业总产值是多少？", "招远和环翠区的高新技术企业分别有多少家？", "龙口2023年地区生产总值是多少？"],
)
def test_ask_json_is_the_api_body(hash_index, question: str) -> None:
    settings = Settings(index_dir=hash_index, embedder="hash:384", composer="rules", ui=False)
    with TestClient(create_app(settings)) as client:
        api = client.post("/ask", json={"question": question, "top_k": 3})
    assert api.status_code == 200
    result = CliRunner().invoke(main, ["ask", question, "--json", "--top-k", "3", "--index-dir", str(hash_index),
                                       "--embedder", "hash:384", "--composer", "rules"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.stdout)
    assert _without_timings(cli) == _without_timings(api.json())
    assert cli["answer"] and isinstance(cli["parts"], list)


def test_ask_readable_shows_the_answer_and_sources(hash_index) -> None:
    result = CliRunner().invoke(main, ["ask", "招远2023年黄金产业总产值是多少？", "--index-dir", str(hash_index),
                                       "--embedder", "hash:384", "--composer", "rules"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(("答案：", "未找到答案：")) and "[1] 《" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [(["   "], "the question is empty"), (["x" * 1001], "the limit is 1000"),
     (["招远", "--top-k", "0"], "top_k must be between 1 and 20, got 0")],
)
def test_ask_bad_input_is_a_message(hash_index, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["ask", *args, "--index-dir", str(hash_index), "--embedder", "hash:384",
                                       "--composer", "rules"])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, (TypeError, KeyError, AttributeError))


def test_ask_without_an_index_says_how_to_build_one(tmp_path) -> None:
    result = CliRunner().invoke(main, ["ask", "招远", "--index-dir", str(tmp_path / "none"), "--embedder", "hash:384"])
    assert result.exit_code != 0 and "rag index" in result.output and "Traceback" not in result.output
