"""The whole answer pipeline over the real corpus: hash embedder (fast) and the real model (slow)."""

import pytest

from rag.errors import InputError


def markers(answer):
    """The citation numbers the answer's sentences carry, from its parts; each span lies in its passage."""
    by_n = {c.n: c for c in answer.citations}
    for part in answer.parts:
        if part.n is not None:
            assert by_n[part.n].chunk_id == part.chunk_id
            assert 0 <= part.span[0] < part.span[1] <= len(by_n[part.n].text)
    return sorted({p.n for p in answer.parts if p.n is not None})


def test_comparison_answers_each_side_from_its_own_passage(engine):
    answer = engine.ask("招远和环翠区的高新技术企业分别有多少家？")
    assert not answer.refused
    assert "147家" in answer.answer and "1238家" in answer.answer
    assert markers(answer) == [c.n for c in answer.citations]
    assert len({c.article_id for c in answer.citations}) == 2


def test_comparison_with_one_side_missing_says_so(engine):
    answer = engine.ask("招远和寿光的高新技术企业分别有多少家？")
    assert "147家" in answer.answer and "寿光" in answer.answer
    assert markers(answer) == [c.n for c in answer.citations]


def test_enumerated_list_is_read_paragraph_by_paragraph(engine):
    answer = engine.ask("招远以工代赈“1234”工作法里的“1、2、3、4”分别指什么？", top_k=8)
    for item in ("一套流程", "两项机制", "三级培训", "四个确保"):
        assert item in answer.answer


def test_follow_up_uses_the_conversation(engine):
    history = [{"role": "user", "content": "2023年招远市地区生产总值增长多少？"},
               {"role": "assistant", "content": "……"}]
    answer = engine.ask("那胶州呢？", history=history)
    assert answer.query == "2023年胶州地区生产总值增长多少？"
    assert "6.8%" in answer.answer


def test_top_k_caps_the_citations(engine):
    answer = engine.ask("招远以工代赈“1234”工作法里的“1、2、3、4”分别指什么？", top_k=2)
    assert len(answer.citations) <= 2
    assert markers(answer) == [c.n for c in answer.citations]


@pytest.mark.parametrize("question", ["", "  ", "问" * 1001])
def test_bad_questions(engine, question):
    with pytest.raises(InputError):
        engine.ask(question)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("招远2023年黄金产业总产值是多少？", "900亿元"),
        ("环翠区有多少家高新技术企业？", "1238家"),
        ("2024年上半年胶州完成地区生产总值多少？", "817.56亿元"),
        ("山东港口在青岛2024年新启动推进的项目总投资多少？", "521亿元"),
        ("栖霞市委书记是谁？", "包华"),
    ],
)
def test_real_model_answers_figures(e5_engine, question, expected):
    answer = e5_engine.ask(question)
    assert not answer.refused and expected in answer.answer
    assert all(expected in c.text.replace(" ", "") for c in answer.citations[:1])


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    ["招远2022年黄金产业总产值是多少？", "蓬莱区今年重点项目总投资多少？", "玲珑轮胎2023年营业收入是多少？"],
)
def test_real_model_refuses_near_misses(e5_engine, question):
    answer = e5_engine.ask(question)
    assert answer.refused and answer.answer.startswith("资料中没有找到")
    assert answer.citations  # the closest sources are still listed


def test_top_k_keeps_the_closing_sentence_of_a_comparison(engine):
    answer = engine.ask("招远和寿光的高新技术企业分别有多少家？", top_k=1)
    assert len(answer.citations) == 1 and "寿光" in answer.answer


def test_publication_and_date_filters(engine):
    hits = engine.search("高质量发展", top_k=10, filters={"publication": "大众日报"})
    assert hits and {(h.source[:3], h.publication) for h in hits} == {("004", "大众日报")}
    hits = engine.search("高质量发展", top_k=10, filters={"date_from": "2024-01-01", "date_to": "2024-12-31"})
    assert hits and {(h.date, h.date_source) for h in hits} == {("2024-02-21", "inferred")}
    answer = engine.ask("乳山市已累计减少审批环节多少个？")
    assert all(c.publication == ("大众日报" if c.source.startswith("004") else None) for c in answer.citations)
    with pytest.raises(InputError, match="publication"):
        engine.search("高质量发展", filters={"publication": 5})


def test_an_engine_over_an_updated_index_keeps_its_composer(engine):
    """The server swaps engines when articles are added: the new one must answer the same way."""
    sentinel_reader, sentinel_policy = object(), object()
    twin = type(engine)(engine.index, engine.embedder, reader=sentinel_reader, policy=sentinel_policy)  # type: ignore[arg-type]
    updated = twin.with_index(engine.index)
    assert updated.reader is sentinel_reader and updated.policy is sentinel_policy
    assert engine.with_index(engine.index).reader is None  # a rules engine stays a rules engine


def test_a_question_of_two_questions_answers_each_from_its_own_search(engine):
    answer = engine.ask("招远2023年净增了多少家高新技术企业？现在高企总数是多少？")
    assert not answer.refused
    assert "41家" in answer.answer and "147家" in answer.answer
    assert markers(answer) == [c.n for c in answer.citations]


def test_two_years_asked_together_are_answered_each_from_its_own_search(engine):
    answer = engine.ask("招远2023年和2024年规划实施的重点项目分别有多少个？")
    assert not answer.refused
    assert "86个" in answer.answer and "89个" in answer.answer
    assert markers(answer) == [c.n for c in answer.citations]


def test_a_sentence_that_answers_two_parts_is_quoted_once(engine):
    answer = engine.ask("济宁去年新落地了几个过百亿元的项目？济宁实际利用外资在全省排第几？")
    assert "7个" in answer.answer and "第4" in answer.answer
    quoted = [p.text for p in answer.parts if p.n is not None]
    assert len(quoted) == len(set(quoted))


def test_a_part_nothing_answers_says_so_and_the_rest_is_answered(engine):
    answer = engine.ask("招远2023年净增了多少家高新技术企业？招远2023年黄金产量是多少吨？")
    assert "41家" in answer.answer
    assert "黄金产量是多少吨？”资料中没有找到答案" in answer.answer
