"""The pack path trains the same model on the same pairs as the text path (rag/training/pack.py)."""

import json

import numpy as np
import pytest

from rag.training.pack import join, pack_setup, split, write_pack
from rag.training.reader_data import Example
from rag.training.train_reader import TrainConfig, _Plan, _text_setup

torch = pytest.importorskip("torch")

TRAIN = [
    Example("招远黄金产业总产值是多少？", "山东招远", "2023年实施项目31个。", "总产值达到900亿元。", 1, "news"),
    Example("招远黄金产业总产值是多少？", "山东招远", "", "招远是黄金之都。", 0, "news-distractor"),
    Example("梵语研究由谁开创？", "梵文", "梵语是古印度的语言。", "在欧洲，梵语研究由德国学者开创。", 1, "drcd"),
    Example("请问" + "蓬莱区文化和旅游局统计的" * 3 + "2022年全年接待游客多少人次？", "蓬莱文旅",
            "蓬莱区深入推进文旅融合发展，" * 4, "全年接待游客1200万人次，" * 12, 1, "news"),
]
CHECK = [Example("德州2023年GDP是多少？", "德州经济", "", "德州市地区生产总值3800亿元。", 1, "news"),
         Example("德州2021年GDP是多少？", "德州经济", "", "德州市地区生产总值3800亿元。", 0, "news-nearmiss-year")]


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    pack = tmp_path_factory.mktemp("pack")
    cfg = TrainConfig(out=str(tmp_path_factory.mktemp("out")))
    meta = write_pack(TRAIN, CHECK, cfg, pack, log=lambda _line: None)
    return pack, cfg, meta


def test_the_pack_describes_itself_and_keeps_only_the_vocabulary_it_uses(packed):
    pack, _cfg, meta = packed
    assert meta["train_pairs"] == len(TRAIN) and meta["check_pairs"] == len(CHECK)
    assert meta["questions"] == 5 and 10 < meta["vocab_rows"] < 1000
    assert json.loads((pack / "pack.json").read_text())["bert_config"]["vocab_size"] == meta["vocab_rows"]


def test_pairs_and_model_from_the_pack_equal_the_text_path(packed):
    pack, cfg, _meta = packed
    model, train, check = pack_setup(pack)(cfg, pack)
    text_model, text_train, _ = _text_setup_for(cfg)
    text_model.classifier.load_state_dict(model.classifier.state_dict())
    rows = list(range(len(TRAIN)))
    mine, theirs = train.encode(rows, "cpu"), text_train.encode(rows, "cpu")
    assert mine["input_ids"].shape == theirs["input_ids"].shape  # padded to the same width
    assert (mine["attention_mask"] == theirs["attention_mask"]).all()
    assert mine["input_ids"].shape[1] == 128  # the long context was cut at MAX_TOKENS
    model.eval(), text_model.eval()
    with torch.no_grad():
        a, b = model(**mine).logits, text_model(**theirs).logits
    assert torch.allclose(a, b, atol=1e-4)
    assert (train.labels == np.array([e.label for e in TRAIN])).all() and len(check.labels) == 2


def _text_setup_for(cfg):
    import rag.training.train_reader as tr

    real = tr.examples
    tr.examples = lambda _cfg, _work: (TRAIN, CHECK)
    try:
        return _text_setup(cfg, __import__("pathlib").Path(cfg.out))
    finally:
        tr.examples = real


def test_split_and_join_give_back_a_reader_that_loads(tmp_path):
    from safetensors.numpy import save_file

    trained = tmp_path / "trained"
    trained.mkdir()
    save_file({f"bert.encoder.layer.{i}.w": np.full((4,), i, np.float16) for i in range(5)},
              str(trained / "reader.safetensors"))
    (trained / "metrics.json").write_text(json.dumps({"history": [], "sha256": "stale"}))
    (trained / "train_config.json").write_text("{}")
    split(trained, tmp_path / "parts")
    parts = sorted(p.name for p in (tmp_path / "parts").iterdir())
    assert parts == ["metrics.json", "reader.part0.safetensors", "reader.part1.safetensors",
                     "reader.part2.safetensors", "train_config.json"]
    (tmp_path / "model").mkdir()
    join(tmp_path / "parts", tmp_path / "model")
    from safetensors.numpy import load_file

    joined = load_file(str(tmp_path / "model" / "reader.safetensors"))
    assert sorted(joined) == sorted(f"bert.encoder.layer.{i}.w" for i in range(5))
    assert json.loads((tmp_path / "model" / "metrics.json").read_text())["sha256"] != "stale"


def test_a_time_budget_shortens_the_schedule_so_the_decay_still_ends():
    plan = _Plan(warmup=10, total=1000)
    plan.fit(step=250, seconds_per_step=0.1, seconds_left=30)  # room for about 290 more steps
    assert 500 < plan.total < 550
    assert plan.factor(5) == 0.5 and plan.factor(plan.total) == 0.0
    plan.fit(step=250, seconds_per_step=0.001, seconds_left=3000)  # never grows past the epochs asked
    assert plan.total < 550


def test_split_balances_the_files_by_size(tmp_path):
    from safetensors.numpy import save_file

    trained = tmp_path / "trained"
    trained.mkdir()
    sizes = [1000, 10, 900, 10]  # every other name would put the two large tensors in one file
    save_file({f"t{i}": np.zeros((n,), np.float16) for i, n in enumerate(sizes)}, str(trained / "reader.safetensors"))
    (trained / "metrics.json").write_text("{}")
    (trained / "train_config.json").write_text("{}")
    split(trained, tmp_path / "parts", shards=2)
    weights = [p.stat().st_size for p in sorted((tmp_path / "parts").glob("reader.part*.safetensors"))]
    assert len(weights) == 2 and max(weights) < 0.6 * sum(weights)


def test_a_continued_run_starts_from_its_reader_on_both_paths(packed, tmp_path):
    from rag.training.train_reader import _save

    _pack, cfg, _meta = packed
    first, _, _ = _text_setup_for(cfg)
    with torch.no_grad():
        first.classifier.weight.fill_(0.25)
        first.bert.encoder.layer[11].output.dense.bias.fill_(-0.5)
    (tmp_path / "first").mkdir()
    _save(first, cfg, tmp_path / "first", {})
    going_on = TrainConfig(out=str(tmp_path / "out"), init=str(tmp_path / "first"))
    write_pack(TRAIN, CHECK, going_on, tmp_path / "pack", log=lambda _line: None)
    from_pack, _, _ = pack_setup(tmp_path / "pack")(going_on, tmp_path / "pack")
    from_text, _, _ = _text_setup_for(going_on)
    for model in (from_pack, from_text):
        assert torch.all(model.classifier.weight == 0.25)
        assert torch.all(model.bert.encoder.layer[11].output.dense.bias == -0.5)
