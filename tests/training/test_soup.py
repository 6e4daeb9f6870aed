"""Averaging trained readers (rag/training/soup.py)."""

import json
from dataclasses import asdict

import pytest
import torch
from safetensors.torch import save_file

from rag.errors import RagError
from rag.reader import WEIGHTS_FILE, file_sha256, trained_state
from rag.training.soup import main, soup
from rag.training.train_reader import TrainConfig, recipe_of


def _reader(folder, tensors, seed):
    folder.mkdir(parents=True)
    save_file({k: v.to(torch.float16) for k, v in tensors.items()}, str(folder / WEIGHTS_FILE))
    (folder / "train_config.json").write_text(json.dumps(asdict(TrainConfig(mrc_dir="m", news="n", seed=seed))))
    (folder / "metrics.json").write_text(json.dumps({"sha256": file_sha256(folder / WEIGHTS_FILE)}))
    return folder


def test_the_soup_is_the_weighted_mean_and_loads_with_its_own_hash(tmp_path):
    a = _reader(tmp_path / "a", {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([0.0])}, seed=1)
    b = _reader(tmp_path / "b", {"w": torch.tensor([3.0, 6.0]), "b": torch.tensor([4.0])}, seed=2)
    metrics = soup([a, b], tmp_path / "s", [3.0, 1.0])
    state, sha = trained_state(tmp_path / "s")
    assert torch.equal(state["w"], torch.tensor([1.5, 3.0])) and torch.equal(state["b"], torch.tensor([1.0]))
    assert sha == metrics["sha256"]
    assert [i["weight"] for i in metrics["soup"]] == [3.0, 1.0]
    recipe = json.loads((tmp_path / "s" / "train_config.json").read_text())
    assert [i["recipe"]["seed"] for i in recipe["extra"]["soup"]] == [1, 2]
    assert recipe_of(tmp_path / "s").seed == 1  # a soup can be gone on from like any reader


def test_readers_with_other_layers_are_refused(tmp_path):
    a = _reader(tmp_path / "a", {"w": torch.zeros(2)}, seed=1)
    b = _reader(tmp_path / "b", {"w": torch.zeros(3)}, seed=2)
    with pytest.raises(RagError, match="same frozen layers"):
        soup([a, b], tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_damaged_reader_is_refused_before_anything_is_written(tmp_path):
    a = _reader(tmp_path / "a", {"w": torch.zeros(2)}, seed=1)
    b = _reader(tmp_path / "b", {"w": torch.ones(2)}, seed=2)
    (b / "metrics.json").write_text(json.dumps({"sha256": "0" * 64}))
    with pytest.raises(RagError, match="damaged or foreign"):
        soup([a, b], tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_the_command_says_what_is_wrong_without_a_traceback(tmp_path):
    a = _reader(tmp_path / "a", {"w": torch.zeros(2)}, seed=1)
    with pytest.raises(SystemExit, match="at least two"):
        main([str(a), "--out", str(tmp_path / "s")])
    b = _reader(tmp_path / "b", {"w": torch.ones(2)}, seed=2)
    with pytest.raises(SystemExit, match="one positive weight per reader"):
        main([str(a), str(b), "--out", str(tmp_path / "s"), "--weights", "1"])


def test_a_reader_without_a_recipe_is_refused_before_anything_is_written(tmp_path):
    a = _reader(tmp_path / "a", {"w": torch.zeros(2)}, seed=1)
    b = _reader(tmp_path / "b", {"w": torch.ones(2)}, seed=2)
    (b / "train_config.json").unlink()
    with pytest.raises(RagError, match="train_config.json"):
        soup([a, b], tmp_path / "s")
    assert not (tmp_path / "s").exists()
