import json
import shutil

import pytest

from rag.errors import RagError
from rag.reader import READER_DIR, WEIGHTS_FILE, Reader, ReaderPolicy, file_sha256
from rag.reader_input import PREVIOUS_CHARS, SENTENCE_CHARS, TITLE_CHARS, reader_pair


def test_reader_pair_marks_the_sentence_and_cuts_each_part():
    question, context = reader_pair("问？", "标" * 50, "前" * 100, "句" * 300)
    assert question == "问？"
    assert context == "标" * TITLE_CHARS + "｜" + "前" * PREVIOUS_CHARS + "【" + "句" * SENTENCE_CHARS + "】"


@pytest.mark.parametrize("text", ["", "😀", "English only"])
def test_reader_pair_takes_any_text(text):
    assert reader_pair(text, text, text, text)[1].endswith(f"【{text}】")


def test_the_shipped_reader_is_present_with_its_recipe_and_card():
    for name in (WEIGHTS_FILE, "metrics.json", "train_config.json", "policy.json", "MODEL_CARD.md"):
        assert (READER_DIR / name).is_file(), name
    metrics = json.loads((READER_DIR / "metrics.json").read_text())
    assert metrics["sha256"] == file_sha256(READER_DIR / WEIGHTS_FILE)


def test_a_missing_reader_says_how_to_train_one(tmp_path):
    with pytest.raises(RagError, match="rag train-reader"):
        Reader.load(tmp_path)


def test_the_reader_training_went_on_from_says_how_to_restore_its_weights(tmp_path):
    init = json.loads((READER_DIR / "train_config.json").read_text())["init"]
    assert init and (READER_DIR.parent.parent.parent / init / "train_config.json").is_file()
    # its recipe only, as committed (a developer may have restored the weights beside it)
    for name in ("metrics.json", "train_config.json"):
        shutil.copy(READER_DIR / "init" / name, tmp_path / name)
    with pytest.raises(RagError, match="git show"):
        Reader.load(tmp_path)


def test_damaged_weights_are_refused_before_loading(tmp_path):
    folder = tmp_path / "reader"
    shutil.copytree(READER_DIR, folder, ignore=shutil.ignore_patterns("work"))
    with open(folder / WEIGHTS_FILE, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\x00\x01\x02\x03")
    with pytest.raises(RagError, match="damaged or foreign"):
        Reader.load(folder)


def test_policy_defaults_without_a_file(tmp_path):
    assert ReaderPolicy.load(tmp_path) == ReaderPolicy()


def test_policy_round_trips_and_ignores_notes(tmp_path):
    policy = ReaderPolicy(accept=0.3, extra=0.9, max_extra=2, vetoes=("year",), pool=12)
    (tmp_path / "policy.json").write_text(json.dumps(dict(policy.to_dict(), chosen_on="dev")))
    assert ReaderPolicy.load(tmp_path) == policy


def test_a_broken_policy_says_how_to_restore_it(tmp_path):
    (tmp_path / "policy.json").write_text("{not json")
    with pytest.raises(RagError, match="git checkout"):
        ReaderPolicy.load(tmp_path)


@pytest.fixture(scope="module")
def reader():
    return Reader.load()


@pytest.mark.slow
def test_the_reader_prefers_the_answering_sentence(reader):
    question = "招远2023年黄金产业总产值是多少？"
    title = "向“新”而行 山东招远：县域经济高质量发展迈上新台阶"
    scores = reader.score(question, [
        (title, "黄金是招远的特色产业和支柱产业。", "2023年，实施全产业链项目31个，黄金产业总产值达到900亿元。"),
        (title, "", "招远市委书记表示，要坚持生态优先、绿色发展。"),
    ])
    assert scores.shape == (2,) and 0 <= scores.min() and scores.max() <= 1
    assert scores[0] > scores[1] + 0.3


@pytest.mark.slow
def test_a_pair_read_once_is_not_read_again(reader, monkeypatch):
    question, item = "招远黄金产业总产值是多少？", ("招远", "", "黄金产业总产值达到900亿元。")
    first = reader.score(question, [item])
    model = reader._model
    calls = []
    monkeypatch.setattr(reader, "_model", lambda **enc: calls.append(enc) or model(**enc))
    again = reader.score(question, [item, ("招远", "", "招远坚持生态优先。")])
    assert again[0] == first[0] and len(calls) == 1 and calls[0]["input_ids"].shape[0] == 1  # only the new one


@pytest.mark.slow
def test_the_reader_scores_nothing_for_no_items(reader):
    assert reader.score("问题？", []).shape == (0,)


@pytest.mark.slow
def test_the_learned_composer_answers_and_refuses_end_to_end(learned_engine):
    answer = learned_engine.ask("招远2023年黄金产业总产值是多少？")
    assert not answer.refused and "900亿元" in answer.answer
    assert learned_engine.health()["composer"] == "learned"
    assert learned_engine.ask("招远2022年黄金产业总产值是多少？").refused  # a year the articles lack


@pytest.mark.slow
def test_rules_then_learned_shares_the_reader_and_backs_off_to_it(learned_engine, e5_index, monkeypatch):
    from rag.engine import Engine

    both = Engine.open(e5_index, composer="rules-then-learned")
    assert both.health()["composer"] == "rules-then-learned" and both.reader is not None
    read, score = [], both.reader.score
    monkeypatch.setattr(both.reader, "score", lambda q, items: read.append(q) or score(q, items))
    both.search("招远2023年黄金产业总产值是多少？")
    assert read == []  # its search keeps the rules' speed: the reader ranks only for `learned`
    learned_engine.reader.forget()
    ranked = learned_engine.search("招远2023年黄金产业总产值是多少？")
    assert ranked and learned_engine.reader._seen  # the learned composer's search reads
    answer = both.ask("招远2023年黄金产业总产值是多少？")
    assert not answer.refused and "900亿元" in answer.answer
    assert both.ask("招远2022年黄金产业总产值是多少？").refused  # the reader's vetoes hold too
    assert both.with_index(both.index).rules_first
