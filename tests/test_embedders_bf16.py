"""e5 passages in bfloat16 (`--embedder e5-bf16`): close to float32 on the corpus, the same retrieval on gold.

Runs where the CPU has bf16 instructions (avx512_bf16 or amx_bf16); elsewhere e5-bf16 falls back to int8
and there is nothing to compare.
"""

from pathlib import Path

import pytest

from rag.e5convert import cpu_has_bf16
from rag.embedders import make_embedder
from rag.engine import Engine
from rag.eval.evaluate import run_eval
from rag.eval.gold import load_gold
from rag.index import build_index, load_index

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 instructions")]


@pytest.fixture(scope="module")
def bf16_index(tmp_path_factory, corpus_dir) -> Path:
    index_dir = tmp_path_factory.mktemp("bf16") / "index"
    build_index(corpus_dir, index_dir, make_embedder("e5-bf16"), progress=False)
    return index_dir


def test_bf16_passages_are_within_0_99_cosine_of_float32(bf16_index):
    chunks = load_index(bf16_index)
    texts = [c.context_text() for c in chunks.chunks]
    fp32 = make_embedder("e5-fp32").embed_passages(texts)
    cosine = (chunks.vectors * fp32).sum(axis=1)
    assert chunks.manifest["embedder"]["id"] == "multilingual-e5-small"  # interchangeable with e5's vectors
    assert cosine.min() >= 0.99, float(cosine.min())


def test_bf16_retrieval_on_the_gold_test_split_is_unchanged(bf16_index, e5_index):
    items = [i for p in ("gold.jsonl", "news_heldout.jsonl") for i in load_gold(ROOT / "eval" / p) if i.split == "test"]
    reports = [run_eval(Engine.open(d, composer="rules"), items, ("hybrid",), progress=False)
               for d in (e5_index, bf16_index)]
    a, b = (r["retrieval"]["hybrid"]["overall"] for r in reports)
    accuracy = [r["answers"]["overall"]["accuracy"] for r in reports]
    print({k: (round(a[k], 3), round(b[k], 3)) for k in ("hit@1", "hit@5")}, "accuracy", accuracy)
    # Measured 2026-11-27 (int8 default vs bf16): hit@5 0.968 both, hit@1 0.790 / 0.774 (one question),
    # accuracy 0.774 / 0.790; with the sentence rerank (second session) hit@5 0.992 both, hit@1
    # 0.871 / 0.847 (three questions of 124: near ties at the top move), accuracy 0.798 / 0.815.
    # hit@5 within one question, hit@1 within three; answers not worse.
    answerable = sum(i.answerable for i in items)
    assert abs(a["hit@5"] - b["hit@5"]) <= 1.01 / answerable and abs(a["hit@1"] - b["hit@1"]) <= 3.01 / answerable
    assert accuracy[1] >= accuracy[0] - 0.01
