"""rag.profile: corpus knowledge as data, chosen by a setting and recorded in the manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.embedders import HashEmbedder
from rag.errors import InputError
from rag.index import build_index, load_index
from rag.profile import (
    PROFILES_DIR,
    activate,
    active,
    colloquial_words,
    corpus_profile,
    load_profile,
    place_stem,
    resolve_profile,
)
from rag.question import analyze
from rag.text import LEVEL
from rag.tokenize import tokenize, tokenizer_id


@pytest.fixture
def national():
    activate(load_profile("national"))


def test_shipped_profiles_load_with_their_knowledge() -> None:
    shandong, national = load_profile("shandong"), load_profile("national")
    assert "招远" in shandong.places and "山东" in shandong.generic_places and shandong.dense_weight == 0.3
    assert len(national.places) > 5000 and "山东" not in national.generic_places
    assert {"恩施州", "雄安新区", "锡林郭勒", "内蒙古", "广西", "新疆", "云南"} <= set(national.places)
    assert shandong.id != national.id and len(shandong.example_questions) == 4


@pytest.mark.usefixtures("national")
@pytest.mark.parametrize(
    ("question", "place"),
    [("恩施州2023年地区生产总值是多少？", "恩施州"), ("雄安新区今年新开工多少个项目？", "雄安新区"),
     ("锡林郭勒盟的风电装机有多少千瓦？", "锡林郭勒盟"), ("云南怒江州有多少家高新技术企业？", "怒江州")],
)
def test_national_recognises_every_division(question: str, place: str) -> None:
    places = analyze(question).places
    assert place in places or place_stem(place) in places, places
    assert "新区" not in places and "州" not in places


def test_shandong_keeps_todays_places() -> None:
    assert analyze("招远2023年黄金产业总产值是多少？").places == ["招远"]
    assert analyze("山东省的高新技术企业有多少家？").places == []  # too broad for this press


@pytest.mark.usefixtures("national")
def test_national_suffixes_stem_autonomous_names() -> None:
    assert place_stem("恩施州") == "恩施" and place_stem("锡林郭勒盟") == "锡林郭勒"
    assert "锡林郭勒" in tokenize("锡林郭勒盟风电")


def test_unknown_profile_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no profile 'yunnan': name one of national, shandong"):
        load_profile("yunnan")
    with pytest.raises(InputError, match="not a profile folder"):
        load_profile(tmp_path)
    (tmp_path / "profile.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="could not be read as JSON"):
        load_profile(tmp_path)


def test_a_user_profile_folder(tmp_path: Path) -> None:
    mine = tmp_path / "yunnan"
    shutil.copytree(PROFILES_DIR / "national", mine)
    data = json.loads((mine / "profile.json").read_text(encoding="utf-8"))
    data["name"], data["weights"]["dense_weight"] = "yunnan", 0.7
    (mine / "profile.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (mine / "places.txt").write_text("普洱 西双版纳\n", encoding="utf-8")
    profile = load_profile(mine)
    assert profile.name == "yunnan" and profile.dense_weight == 0.7 and profile.places == ("西双版纳", "普洱")
    assert profile.manifest()["path"] == str(mine.resolve())


def test_the_corpus_names_its_profile(tmp_path: Path, corpus_dir: Path) -> None:
    assert corpus_profile(corpus_dir) == "shandong"
    assert corpus_profile(tmp_path) is None
    assert resolve_profile(None, tmp_path).name == "national"  # the default for any other corpus
    assert resolve_profile("shandong", tmp_path).name == "shandong"  # the setting wins


def test_the_manifest_records_the_profile_and_loading_restores_it(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.txt").write_text("雄安新区今年新开工项目120个。\n\n恩施州旅游收入增长百分之十。", encoding="utf-8")
    build_index(corpus, tmp_path / "idx", HashEmbedder(64), progress=False)
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["profile"]["name"] == "national" and manifest["profile"]["path"] == ""
    national_tokenizer = manifest["tokenizer"]
    activate(load_profile("shandong"))
    assert tokenizer_id() != national_tokenizer  # another dictionary and suffixes
    load_index(tmp_path / "idx", "hash-64")
    assert active().name == "national" and tokenizer_id() == national_tokenizer
    build_index(corpus, tmp_path / "idx2", HashEmbedder(64), progress=False, profile="shandong")
    assert json.loads((tmp_path / "idx2" / "manifest.json").read_text(encoding="utf-8"))["profile"]["name"] == "shandong"


def test_every_profile_knows_everyday_words_and_its_own_win() -> None:
    words = colloquial_words()
    shandong, national = load_profile("shandong"), load_profile("national")
    assert {"网上卖货", "工钱", "老乡", "干完"} <= set(words)
    assert shandong.synonyms["工钱"] == national.synonyms["工钱"] == words["工钱"]
    assert shandong.synonyms["挣"] == ("利润", "收入")  # the profile's own entry, not the shared one
    for word, alternatives in words.items():
        assert alternatives and word not in alternatives, word
        # no everyday word stands for a level of government (省里 is not 省级)
        assert not any(LEVEL.search(a) for a in alternatives), word
    assert "进出口" not in words.get("出口", ())  # exports are part of 进出口, not all of it


def test_a_one_character_everyday_word_counts_only_as_a_word() -> None:
    from rag.retrieve import query_tokens

    assert not {"电力", "电量"} & set(query_tokens("招远电商直播基地有几个？"))  # 电 of 电商 is no 电力
    assert "电子商务" in query_tokens("招远电商直播基地有几个？")  # 电商 itself is spelled out
    assert set(tokenize("劳务报酬")) <= set(query_tokens("胶州给老乡发了多少工钱？"))
