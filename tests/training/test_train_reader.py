"""Going on from a trained reader (rag/training/train_reader.py: TrainConfig.init and replay)."""

import gzip
import json
from dataclasses import asdict

import pytest

from rag.errors import RagError
from rag.training.reader_data import Example, write_examples
from rag.training.train_reader import TrainConfig, examples, recipe_of


def _reader_folder(path, cfg):
    path.mkdir(parents=True, exist_ok=True)
    (path / "train_config.json").write_text(json.dumps(asdict(cfg)))
    return path


def _empty_mrc(folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("drcd", "cmrc_trial"):
        for part in ("corpus", "qa"):
            with gzip.open(folder / f"{name}.{part}.jsonl.gz", "wt", encoding="utf-8"):
                pass
    return folder


def test_a_continued_recipe_is_keyed_by_the_recipe_it_goes_on_from(tmp_path):
    first = _reader_folder(tmp_path / "first", TrainConfig(mrc_dir="m", news="n", seed=1))
    other = _reader_folder(tmp_path / "other", TrainConfig(mrc_dir="m", news="n", seed=2))
    plain = TrainConfig(mrc_dir="m", news="n").data_key()
    going_on = TrainConfig(mrc_dir="m", news="n", init=str(first), replay=0.3).data_key()
    assert going_on != plain
    assert TrainConfig(mrc_dir="m", news="n", init=str(other), replay=0.3).data_key() != going_on
    assert TrainConfig(mrc_dir="m", news="n", init=str(first), replay=0.5).data_key() != going_on
    assert recipe_of(first).seed == 1


def test_a_folder_without_a_recipe_is_refused_with_what_to_pass(tmp_path):
    with pytest.raises(RagError, match="train_config.json"):
        recipe_of(tmp_path)


def test_replay_mixes_back_a_share_of_the_pairs_the_reader_learned_from(tmp_path):
    mrc = _empty_mrc(tmp_path / "mrc")
    base = TrainConfig(mrc_dir=str(mrc), news="n", news_articles=0)
    first = _reader_folder(tmp_path / "first", base)
    old = [Example(f"问题{i}？", "标题", "", f"句子{i}。", i % 2, "old") for i in range(100)]
    write_examples(old, first / "work" / f"train-{base.data_key()}.jsonl.gz")
    write_examples(old[:5], first / "work" / f"check-{base.data_key()}.jsonl.gz")
    cfg = TrainConfig(mrc_dir=str(mrc), news="n", news_articles=0, init=str(first), replay=0.3)
    train, check = examples(cfg, tmp_path / "work")
    assert len(train) == 30 and {e.source for e in train} == {"old"}
    assert len({e.question for e in train}) == 30 and check == []  # a sample without repeats; no check pairs of old


def test_going_on_in_place_is_refused_before_anything_is_written(tmp_path):
    pytest.importorskip("torch")
    from rag.training.train_reader import train

    folder = _reader_folder(tmp_path / "reader", TrainConfig())
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(RagError, match="another folder"):
        train(TrainConfig(out=str(folder), init=str(folder)))
    assert sorted(p.name for p in folder.iterdir()) == before
