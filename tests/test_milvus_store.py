"""The milvus store on real milvus-lite: the same answers as the local store, updates, filters, refusals.

Skipped when the `cluster` extra is not installed (`pip install -e ".[cluster]"`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from click.testing import CliRunner  # noqa: E402

from rag import milvus_store  # noqa: E402
from rag.cli import main  # noqa: E402
from rag.embedders import HashEmbedder  # noqa: E402
from rag.engine import Engine  # noqa: E402
from rag.errors import IndexConflictError, IndexMismatchError, InputError  # noqa: E402
from rag.eval.evaluate import run_eval  # noqa: E402
from rag.eval.gold import load_gold  # noqa: E402
from rag.index import build_index, load_index  # noqa: E402
from rag.milvus_store import MilvusIndex, filter_expression  # noqa: E402
from rag.retrieve import Filters, search  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOLD = [ROOT / "eval" / "gold.jsonl", ROOT / "eval" / "news_heldout.jsonl"]


@pytest.fixture(scope="module")
def milvus_index(corpus_dir, tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("milvus") / "index"
    build_index(corpus_dir, index_dir, HashEmbedder(384), progress=False, store="milvus")
    return index_dir


def _test_items():
    """The test split of both question sets (nothing in this comparison was tuned on them)."""
    return [item for path in GOLD for item in load_gold(path) if item.split == "test"]


def _compare(local: Engine, milvus: Engine) -> dict:
    items = _test_items()
    a = run_eval(local, items, ("hybrid",), progress=False)
    b = run_eval(milvus, items, ("hybrid",), progress=False)
    same = sum([c["chunk_id"] for c in x["citations"]] == [c["chunk_id"] for c in y["citations"]]
               for x, y in zip(a["items"], b["items"]))
    return {"local": a, "milvus": b, "same_citations": same / len(items), "n": len(items)}


def _assert_same_quality(result: dict) -> None:
    local, milvus = result["local"], result["milvus"]
    for key in ("hit@5", "hit@1"):
        assert abs(local["retrieval"]["hybrid"]["overall"][key] - milvus["retrieval"]["hybrid"]["overall"][key]) <= 0.01
    assert abs(local["answers"]["overall"]["accuracy"] - milvus["answers"]["overall"]["accuracy"]) <= 0.01
    assert result["same_citations"] >= 0.9, result["same_citations"]


def test_the_gold_set_gets_the_same_answers_as_on_the_local_store(hash_index, milvus_index):
    result = _compare(Engine.open(hash_index, HashEmbedder(384), composer="rules"),
                      Engine.open(milvus_index, HashEmbedder(384), composer="rules"))
    print(f"hash embedder, {result['n']} test questions: same citations {result['same_citations']:.3f}")
    _assert_same_quality(result)


class _StoredPassages:
    """e5 for queries; for passages, the vectors the local e5 index already holds (embedding them
    again would only cost a minute: this test is about the store)."""

    def __init__(self, index_dir: Path) -> None:
        index = load_index(index_dir)
        self.engine = Engine.open(index_dir, composer="rules")
        self.id, self.dim = self.engine.embedder.id, self.engine.embedder.dim
        self.by_text = {c.context_text(): v for c, v in zip(index.chunks, index.vectors)}

    def embed_queries(self, texts):
        return self.engine.embedder.embed_queries(texts)

    def embed_passages(self, texts, batch_size=32):
        return np.stack([self.by_text[t] for t in texts])


@pytest.mark.slow
def test_the_gold_set_with_the_real_model(e5_index, corpus_dir, tmp_path):
    index_dir = tmp_path / "e5_milvus"
    stored = _StoredPassages(e5_index)
    build_index(corpus_dir, index_dir, stored, progress=False, store="milvus")
    result = _compare(stored.engine, Engine.open(index_dir, stored.engine.embedder, composer="rules"))
    print(f"e5, {result['n']} test questions: same citations {result['same_citations']:.3f}, hit@5 "
          f"{result['local']['retrieval']['hybrid']['overall']['hit@5']:.3f} / "
          f"{result['milvus']['retrieval']['hybrid']['overall']['hit@5']:.3f}, accuracy "
          f"{result['local']['answers']['overall']['accuracy']:.3f} / {result['milvus']['answers']['overall']['accuracy']:.3f}")
    _assert_same_quality(result)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_leg_ranks_as_the_local_store(hash_index, milvus_index, mode):
    local, milvus = load_index(hash_index), load_index(milvus_index)
    assert isinstance(milvus, MilvusIndex) and len(milvus.chunks) == len(local.chunks)
    embedder = HashEmbedder(384)
    questions = [item.question for item in _test_items()][:60]
    same = sum([h.chunk_id for h in search(local, embedder, q, 10, mode)[0]]
               == [h.chunk_id for h in search(milvus, embedder, q, 10, mode)[0]] for q in questions)
    assert same / len(questions) >= 0.95


FILTERS = [
    {"sources": ["001_bc9608eda24c4c9c.txt"]},
    {"sources": ["000_cf2c951dabb43637.txt", "004_bf6e2d6a9ccb7553.txt"]},
    {"publication": "大众日报"},
    {"date_from": "2024-01-01", "date_to": "2024-12-31"},
    {"date_to": "2023-01-01"},
    {"place": "招远"},
    {"place": "青岛", "sources": ["002_eb706093a411a0ab.txt"], "date_from": "2024-01-01"},
    {"sources": ['no such "file".txt']},
]


@pytest.mark.parametrize("spec", FILTERS, ids=lambda s: json.dumps(s, ensure_ascii=False))
@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_filters_give_what_the_local_store_gives(hash_index, milvus_index, spec, mode):
    local, milvus = load_index(hash_index), load_index(milvus_index)
    filters = Filters.from_dict(spec)
    embedder = HashEmbedder(384)
    allowed = filters.mask(local.chunks, local.articles)
    for question in ("招远黄金产业总产值是多少？", "高新技术企业有多少家？", "2024年重点项目"):
        expected = [h.chunk_id for h in search(local, embedder, question, 8, mode, filters)[0]]
        got = [h.chunk_id for h in search(milvus, embedder, question, 8, mode, filters)[0]]
        assert got == expected
        by_id = {c.id: i for i, c in enumerate(local.chunks)}
        assert all(allowed[by_id[i]] for i in got)
    if spec.get("date_from") or spec.get("date_to") or spec.get("publication"):
        assert 0 < allowed.sum() < len(local.chunks)  # the filter keeps some chunks and drops others


def test_filter_expressions_are_literal_and_escaped():
    filters = Filters.from_dict({"sources": ['a"b\\c.txt'], "date_from": "2024-01-01", "place": "5%_x"})
    assert filter_expression(filters) == ('source in ["a\\"b\\\\c.txt"] and date != "" and date >= "2024-01-01" '
                                          'and context like "%5%%x%"')
    assert filter_expression(None) == ""


def test_incremental_update_and_file_removal(corpus_copy, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    embedder = HashEmbedder(384)
    first = build_index(corpus_copy, index_dir, embedder, progress=False, store="milvus")
    collection = json.loads((index_dir / "manifest.json").read_text())["store"]["collection"]
    assert build_index(corpus_copy, index_dir, embedder, progress=False).unchanged  # store comes from the manifest
    removed = sorted(corpus_copy.glob("*.txt"))[-1]
    removed.unlink()
    (corpus_copy / "new.txt").write_text("威海新闻\n\n本报讯 威海市2024年新建5G基站1200个，同比增长12%。\n", encoding="utf-8")
    changed = sorted(corpus_copy.glob("0*.txt"))[0]
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\n本报讯 招远新增光伏电站3座。\n", encoding="utf-8")
    monkeypatch.setattr(milvus_store, "REWEIGH_DRIFT", 0.0)  # rewrite every tf part: exact BM25 afterwards
    report = build_index(corpus_copy, index_dir, embedder, progress=False)
    assert report.files_added == ["new.txt"] and report.files_removed == [removed.name]
    assert report.files_changed == [changed.name]
    assert 0 < report.embedded <= 4 and report.reused > first.chunks // 2
    index = load_index(index_dir)
    assert index.manifest["store"]["collection"] == collection  # updated in place
    assert index.store.count() == len(index.chunks) == report.chunks
    assert not any(c.source == removed.name for c in index.chunks)
    hits, _ = search(index, embedder, "威海 5G基站 1200个", 3, "bm25")
    assert hits and "1200个" in hits[0].text
    assert all(h.source != removed.name for h in search(index, embedder, "乳山 共富党建联盟", 20, "bm25")[0])
    # The same corpus built from nothing, locally: the same chunks and the same keyword ranking.
    fresh = load_index(_local(corpus_copy, tmp_path / "fresh"))
    assert {c.id for c in fresh.chunks} == {c.id for c in index.chunks}
    for question in ("招远 光伏电站", "高新技术企业", "威海 基站"):
        assert [h.chunk_id for h in search(index, embedder, question, 10, "bm25")[0]] == \
               [h.chunk_id for h in search(fresh, embedder, question, 10, "bm25")[0]]


def _local(corpus: Path, index_dir: Path) -> Path:
    build_index(corpus, index_dir, HashEmbedder(384), progress=False)
    return index_dir


def test_a_failed_full_build_leaves_the_previous_index_answering(corpus_copy, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    build_index(corpus_copy, index_dir, HashEmbedder(384), progress=False, store="milvus")
    before = load_index(index_dir)
    count = len(before.chunks)
    before.store.close()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(milvus_store.MilvusStore, "insert", crash)
    with pytest.raises(KeyboardInterrupt):
        build_index(corpus_copy, index_dir, HashEmbedder(384), progress=False, rebuild=True)
    after = load_index(index_dir)
    assert len(after.chunks) == after.store.count() == count
    assert search(after, HashEmbedder(384), "招远黄金", 3)[0]
    assert not list(tmp_path.glob(".index.building-*"))


def test_store_mismatches_are_refused_with_what_to_do(milvus_index, hash_index, tmp_path, corpus_dir):
    with pytest.raises(IndexMismatchError, match=r"'milvus' store.*'local' store was asked for.*unset RAG_STORE"):
        load_index(milvus_index, store="local")
    with pytest.raises(IndexMismatchError, match=r"'local' store.*--store milvus"):
        load_index(hash_index, store="milvus")
    with pytest.raises(IndexMismatchError, match=r"keeps its vectors in Milvus at milvus.db.*unset it"):
        load_index(milvus_index, milvus_uri=str(tmp_path / "other.db"))
    with pytest.raises(IndexConflictError, match=r"is a 'milvus' index.*--rebuild --store local"):
        build_index(corpus_dir, milvus_index, HashEmbedder(384), progress=False, store="local")
    with pytest.raises(InputError, match="--ray ingests into Milvus: add --store milvus"):
        build_index(corpus_dir, tmp_path / "x", HashEmbedder(384), progress=False, ray_address="local")
    with pytest.raises(InputError, match="ending in .db"):
        build_index(corpus_dir, tmp_path / "y", HashEmbedder(384), progress=False, store="milvus",
                    milvus_uri=str(tmp_path / "data"))


def test_a_missing_collection_says_how_to_rebuild(corpus_dir, tmp_path):
    index_dir = tmp_path / "index"
    build_index(corpus_dir, index_dir, HashEmbedder(384), progress=False, store="milvus")
    index = load_index(index_dir)
    index.store.drop()
    with pytest.raises(IndexMismatchError, match=r"which is not there.*--rebuild --store milvus"):
        load_index(index_dir)


def test_cli_index_search_and_ask_on_milvus(corpus_dir, tmp_path, monkeypatch):
    index_dir = tmp_path / "index"
    runner = CliRunner()
    built = runner.invoke(main, ["index", str(corpus_dir), "--index-dir", str(index_dir), "--store", "milvus",
                                 "--embedder", "hash:384", "--json"])
    assert built.exit_code == 0, built.output
    assert json.loads(built.output[built.output.index("{"):])["chunks"] > 100
    assert (index_dir / "milvus.db").is_dir()
    monkeypatch.setenv("RAG_STORE", "milvus")
    asked = runner.invoke(main, ["ask", "招远2023年黄金产业总产值是多少？", "--index-dir", str(index_dir),
                                 "--embedder", "hash:384", "--composer", "rules", "--json"])
    assert asked.exit_code == 0, asked.output
    assert "900亿元" in json.loads(asked.output)["answer"]
    monkeypatch.setenv("RAG_STORE", "local")
    refused = runner.invoke(main, ["search", "招远", "--index-dir", str(index_dir), "--embedder", "hash:384"])
    assert refused.exit_code == 1 and "Traceback" not in refused.output and "unset RAG_STORE" in refused.output


def test_the_default_path_never_imports_milvus_or_ray(hash_index):
    code = ("import sys; from rag.engine import Engine; from rag.embedders import HashEmbedder; import rag.cli, rag.api;"
            f"e = Engine.open({str(hash_index)!r}, HashEmbedder(384), composer='rules'); e.ask('招远黄金产业总产值？');"
            "print(sorted(m for m in ('pymilvus', 'milvus_lite', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_local_index_folder_with_milvus_files_is_not_foreign(milvus_index, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(milvus_index, copy)
    (copy / "notes.txt").write_text("mine")
    with pytest.raises(IndexConflictError, match=r"notes.txt\)"):  # only the foreign file is named
        build_index(ROOT / "corpus", copy, HashEmbedder(384), progress=False, rebuild=True)


def test_the_api_adds_and_deletes_articles_on_a_milvus_index(corpus_copy, tmp_path):
    from fastapi.testclient import TestClient

    from rag.api import create_app
    from rag.settings import Settings

    index_dir = tmp_path / "index"
    build_index(corpus_copy, index_dir, HashEmbedder(384), progress=False, store="milvus")
    engine = Engine.open(index_dir, HashEmbedder(384), composer="rules")
    app = create_app(Settings(ui=False, corpus_dir=corpus_copy, store="milvus"), engine=engine)
    article = {"title": "日照港开通新航线", "text": "本报日照3月1日讯 日照港今天开通至釜山的第九条集装箱航线，每周三个航班。",
               "date": "2024-03-01"}
    question = {"question": "日照港至釜山的集装箱航线每周几个航班？", "filters": {"date_from": "2024-03-01"}}
    with TestClient(app) as client:
        r = client.post("/articles", json=article)
        assert r.status_code == 201, r.text
        (added,) = r.json()["articles"]
        assert isinstance(app.state.engine.index, MilvusIndex)
        assert "每周三个航班" in client.post("/ask", json=question).json()["answer"]
        assert client.delete(f"/articles/{added['id']}").status_code == 200
        assert client.post("/ask", json=question).json()["refused"]
        assert app.state.engine.index.store.count() == len(app.state.engine.index.chunks)


def test_a_milvus_lite_folder_open_in_another_process_is_a_clear_error(milvus_index, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(milvus_index, copy)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pymilvus import MilvusClient; "
         f"MilvusClient({str(copy / 'milvus.db')!r}); print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        runner = CliRunner()
        result = runner.invoke(main, ["search", "招远", "--index-dir", str(copy), "--embedder", "hash:384"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "one process at a time" in result.output and "POST /articles" in result.output
    finally:
        holder.kill()
        holder.wait()


def test_both_stores_give_what_retrieval_needs(hash_index, milvus_index):
    from rag.store import Store

    assert isinstance(load_index(hash_index), Store) and isinstance(load_index(milvus_index), Store)
