import gzip
import json
import random

from rag.training.reader_data import (
    _cloze,
    _near_miss,
    article_sentences,
    articles_to_write_about,
    is_held_out,
    mrc_examples,
    news_examples,
    read_examples,
    write_examples,
    written_examples,
)


def _write(path, rows):
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def _train_ids(n):
    return [f"p{i}" for i in range(n) if not is_held_out(f"p{i}")]


def test_held_out_is_a_stable_tenth():
    ids = [f"passage-{i}" for i in range(2000)]
    share = sum(map(is_held_out, ids)) / len(ids)
    assert 0.07 < share < 0.13
    assert [is_held_out(i) for i in ids[:50]] == [is_held_out(i) for i in ids[:50]]


def test_mrc_positive_is_the_sentence_holding_the_answer(tmp_path):
    pid, other = _train_ids(40)[:2]
    corpus = _write(tmp_path / "c.jsonl.gz", [
        {"id": pid, "title": "梵文", "text": "梵语是古印度的语言。在欧洲，梵语研究由德国学者开创。后来琼斯发现了印欧语系。"},
        {"id": other, "title": "梵文", "text": "梵语有丰富的文献。它影响了许多语言。"},
    ])
    qa = _write(tmp_path / "q.jsonl.gz", [
        {"id": "q1", "question": "欧洲的梵语研究由哪国学者开创？", "answers": ["德国"], "passage_id": pid, "split": "dev"},
    ])
    examples = mrc_examples(corpus, qa, random.Random(0), "toy")
    positives = [e for e in examples if e.label == 1]
    assert len(positives) == 1 and "德国" in positives[0].sentence
    assert positives[0].previous == "梵语是古印度的语言。"
    negatives = [e for e in examples if e.label == 0]
    assert negatives and all("德国" not in e.sentence for e in negatives)
    assert any(e.sentence in ("梵语有丰富的文献。", "它影响了许多语言。") for e in negatives)  # the sibling passage


def test_held_out_passages_never_reach_training(tmp_path):
    held = next(f"p{i}" for i in range(100) if is_held_out(f"p{i}"))
    corpus = _write(tmp_path / "c.jsonl.gz", [{"id": held, "title": "t", "text": "甲城的市花是乙花。丙城的市花是丁花。"}])
    qa = _write(tmp_path / "q.jsonl.gz", [{"id": "q", "question": "甲城的市花是什么？", "answers": ["乙花"],
                                           "passage_id": held, "split": "dev"}])
    assert mrc_examples(corpus, qa, random.Random(0), "toy") == []
    assert [e.label for e in mrc_examples(corpus, qa, random.Random(0), "toy", held_out=True)][:1] == [1]


def test_cloze_replaces_the_figure_with_a_question_word():
    question, kind = _cloze("2023年，招远黄金产业总产值达到900亿元。", random.Random(1))
    assert kind == "figure" and "多少" in question and "900" not in question and question.endswith("？")


def test_cloze_needs_a_figure_or_year():
    assert _cloze("招远是黄金之乡，产业基础雄厚。", random.Random(0)) is None


def test_near_miss_changes_the_year_to_one_the_article_lacks():
    article = "2023年，招远黄金产业总产值达到900亿元。"
    changed, what = _near_miss("2023年招远黄金产业总产值达到多少？", article, random.Random(0))
    assert what == "year" and "2023年" not in changed and changed != article


def test_news_examples_pair_positives_with_distractors_and_near_misses(tmp_path):
    text = ("2023年，甲市工业总产值达到900亿元。全市新增企业120家。甲市引进项目31个，总投资50亿元。"
            "同时，乙县新建学校5所。")
    path = _write(tmp_path / "news.jsonl.gz", [{"id": str(i), "title": "甲市经济", "text": text} for i in range(40)])
    examples = news_examples(path, random.Random(3), articles=5)
    assert {e.label for e in examples} == {0, 1}
    assert sum(e.label for e in examples) == 5  # one question per article used
    assert any(e.source.startswith("news-nearmiss") for e in examples)


def test_examples_round_trip(tmp_path):
    examples = news_examples(_write(tmp_path / "n.jsonl.gz", [
        {"id": "1", "title": "t", "text": "2023年甲市产值900亿元。乙县新建学校5所。丙区新增企业12家。丁镇投资3亿元。"}
    ] * 8), random.Random(0), articles=2)
    write_examples(examples, tmp_path / "out.jsonl.gz")
    assert read_examples(tmp_path / "out.jsonl.gz") == examples


_ARTICLE = ("2023年上半年，甲市实现地区生产总值900亿元，同比增长6.1%。全市新增企业120家。"
            "甲市引进项目31个，总投资50亿元。同时，乙县新建学校5所。")


def _written(tmp_path, rows, article_id):
    news = _write(tmp_path / "news.jsonl.gz", [{"id": article_id, "title": "甲市经济半年报", "text": _ARTICLE}])
    questions = tmp_path / "written.jsonl"
    questions.write_text("".join(json.dumps(dict(r, article=article_id), ensure_ascii=False) + "\n" for r in rows))
    return questions, news


def test_written_question_pairs_its_sentence_with_distractors(tmp_path):
    article = next(i for i in _train_ids(40))
    questions, news = _written(tmp_path, [
        {"sentence": 1, "question": "甲市上半年GDP涨了多少？", "answer": "6.1%", "style": "paraphrase"},
        {"sentence": 3, "question": "甲市2022年引进了几个项目？", "answer": "", "style": "unanswerable"},
    ], article)
    examples, held = written_examples([questions], news, random.Random(0))
    assert held == []
    positive = [e for e in examples if e.label == 1]
    assert [e.sentence for e in positive] == [article_sentences(_ARTICLE)[0]]
    assert positive[0].title == "甲市经济半年报"
    distractors = [e for e in examples if e.source == "written-distractor"]
    assert len(distractors) == 2 and all("6.1%" not in e.sentence for e in distractors)
    near = [e for e in examples if e.source == "written-nearmiss"]
    assert [(e.label, e.sentence, e.previous) for e in near] == [
        (0, article_sentences(_ARTICLE)[2], article_sentences(_ARTICLE)[1])]


def test_written_question_finds_its_sentence_when_the_number_is_off(tmp_path):
    article = next(i for i in _train_ids(40))
    questions, news = _written(tmp_path, [
        {"sentence": 2, "question": "甲市引进项目一共投了多少钱？", "answer": "50亿元", "style": "paraphrase"},
        {"sentence": 1, "question": "乙县盖了几所学校？", "answer": "7所", "style": "paraphrase"},  # not in the article
    ], article)
    positive = [e for e in written_examples([questions], news, random.Random(0))[0] if e.label == 1]
    assert [e.sentence for e in positive] == ["甲市引进项目31个，总投资50亿元。"]


def test_written_questions_of_held_out_articles_stay_out_of_training(tmp_path):
    article = next(f"p{i}" for i in range(200) if is_held_out(f"p{i}"))
    questions, news = _written(tmp_path, [
        {"sentence": 2, "question": "甲市新增了多少企业？", "answer": "120家", "style": "paraphrase"}], article)
    train, held = written_examples([questions], news, random.Random(0))
    assert train == [] and [e.label for e in held][:1] == [1]


def test_articles_to_write_about_keeps_local_economy_news_once(tmp_path):
    body = "甲县项目投资" * 5 + "，".join(f"{i}个产业园区投资{i}亿元，增长{i}%" for i in range(1, 12)) + "。" + "经济" * 200
    path = _write(tmp_path / "news.jsonl.gz", [
        {"id": "a", "text": body}, {"id": "b", "text": body},  # the same article twice
        {"id": "c", "text": "短讯。"}, {"id": "d", "text": "IT之家" + body},
    ])
    assert [a["id"] for a in articles_to_write_about(path, 10)] in (["a"], ["b"])


def test_written_questions_change_the_data_key_and_their_absence_keeps_it(tmp_path):
    from rag.training.train_reader import TrainConfig

    written = tmp_path / "written.jsonl"
    written.write_text('{"article": "a", "sentence": 1, "question": "q", "answer": "", "style": "unanswerable"}\n')
    plain = TrainConfig(mrc_dir="m", news="n")
    assert TrainConfig(mrc_dir="m", news="n", written_repeat=3).data_key() == plain.data_key()
    key = TrainConfig(mrc_dir="m", news="n", written=str(written)).data_key()
    assert key != plain.data_key()
    written.write_text(written.read_text() * 2)  # other questions, same path: other pairs
    assert TrainConfig(mrc_dir="m", news="n", written=str(written)).data_key() != key


def test_several_files_of_written_questions_are_read_together_and_each_keys_the_data(tmp_path):
    from rag.training.train_reader import TrainConfig

    article = next(i for i in _train_ids(40))
    first, news = _written(tmp_path, [
        {"sentence": 1, "question": "甲市上半年GDP涨了多少？", "answer": "6.1%", "style": "paraphrase"}], article)
    second = tmp_path / "second.jsonl"
    second.write_text(json.dumps({"article": article, "sentence": 3, "question": "甲市2022年引进了几个项目？",
                                  "answer": "", "style": "unanswerable"}, ensure_ascii=False) + "\n")
    examples, _ = written_examples([first, second], news, random.Random(0))
    assert {e.source for e in examples} == {"written", "written-distractor", "written-nearmiss"}
    one = TrainConfig(mrc_dir="m", news="n", written=str(first))  # as a recipe of one file records it
    assert one.written == [str(first)] and one.data_key() == TrainConfig(mrc_dir="m", news="n",
                                                                          written=[str(first)]).data_key()
    assert TrainConfig(mrc_dir="m", news="n", written=[str(first), str(second)]).data_key() != one.data_key()


def test_hard_negatives_are_the_sentence_after_the_answer_then_those_echoing_the_question(tmp_path):
    from rag.training.reader_data import hard_negatives
    from rag.training.train_reader import TrainConfig

    sentences = ["梵语是古印度的语言。", "在欧洲，梵语研究由德国学者开创。", "此后欧洲的梵语研究兴盛起来。",
                 "它影响了许多语言。", "欧洲学者研究梵语的热情很高。"]
    question = "欧洲的梵语研究由哪国学者开创？"
    assert hard_negatives(question, sentences, 1, ["德国"], 2) == [2, 4]
    assert hard_negatives(question, sentences, 1, ["德国"], 2, taken={2}) == [4, 0]
    assert hard_negatives(question, sentences, 1, ["德国"], 0) == []
    pid = _train_ids(40)[0]
    corpus = _write(tmp_path / "c.jsonl.gz", [{"id": pid, "title": "梵文", "text": "".join(sentences)}])
    qa = _write(tmp_path / "q.jsonl.gz", [{"id": "q1", "question": question, "answers": ["德国"],
                                           "passage_id": pid, "split": "dev"}])
    plain = mrc_examples(corpus, qa, random.Random(0), "toy")
    hard = mrc_examples(corpus, qa, random.Random(0), "toy", hard=1)
    assert [e for e in hard if e.source != "toy-hard"] == plain  # the random draws stay as they were
    drawn = {sentences.index(e.sentence) for e in plain if e.label == 0}
    expected = hard_negatives(question, sentences, 1, ["德国"], 1, taken=drawn)
    assert [(e.sentence, e.previous, e.label) for e in hard if e.source == "toy-hard"] == [
        (sentences[expected[0]], sentences[expected[0] - 1] if expected[0] else "", 0)]
    assert TrainConfig(mrc_dir="m", news="n", hard_negatives=2).data_key() != TrainConfig(mrc_dir="m", news="n").data_key()
