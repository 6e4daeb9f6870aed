import pytest

from rag.question import analyze, split_comparison


@pytest.mark.parametrize(
    ("question", "kind", "unit"),
    [
        ("招远2023年黄金产业总产值是多少？", "number", "元"),
        ("环翠区有多少家高新技术企业？", "number", "家"),
        ("2023年招远市地区生产总值增长多少？", "percent", "%"),
        ("比亚迪济南基地首台整车是哪天下线的？", "date", None),
        ("栖霞市委书记是谁？", "person", None),
        ("福山区加快推进的3大片区是哪三个？", "list", None),
        ("福山区在全市牵头负责哪条产业链？", "describe", None),
        ("招远和环翠区的高新技术企业分别有多少家？", "compare", "家"),
        ("乳山探索建立了哪几种共富党建联盟模式？", "list", None),
    ],
)
def test_kind_and_unit(question, kind, unit):
    q = analyze(question)
    assert (q.kind, q.unit) == (kind, unit)


def test_entities_years_and_terms():
    q = analyze("招远2023年黄金产业总产值是多少？")
    assert q.places == ["招远"] and q.years == [2023]
    assert "总产值" in q.terms and "多少" not in q.terms and "招远" not in q.terms


def test_places_outside_the_corpus_are_still_found():
    assert "寿光" in analyze("寿光市2023年蔬菜产量是多少？").places


def test_generic_places_are_not_entities():
    assert analyze("山东省2023年竣工投产项目有多少个？").places == []


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂", "What is the GDP?"])
def test_odd_input_does_not_crash(text):
    analyze(text)


@pytest.mark.parametrize(
    ("question", "sides"),
    [
        ("招远和环翠区的高新技术企业分别有多少家？", ["招远的高新技术企业有多少家？", "环翠区的高新技术企业有多少家？"]),
        ("2023年招远和胶州的地区生产总值分别增长了多少？",
         ["2023年招远的地区生产总值增长了多少？", "2023年胶州的地区生产总值增长了多少？"]),
        ("招远以工代赈计划发放的劳务报酬和胶州以工代赈已发放的劳务报酬分别是多少？",
         ["招远以工代赈计划发放的劳务报酬是多少？", "胶州以工代赈已发放的劳务报酬是多少？"]),
        ("栖霞和福山各有多少个重点项目？", ["栖霞有多少个重点项目？", "福山有多少个重点项目？"]),
    ],
)
def test_comparisons_split_into_one_question_per_side(question, sides):
    q = analyze(question)
    assert q.kind == "compare"
    assert split_comparison(question, q.entities) == sides


def test_a_single_place_is_not_split():
    q = analyze("招远2023年黄金产业总产值是多少？")
    assert split_comparison(q.text, q.entities) == []


def test_focus_is_the_metric_not_the_change():
    assert analyze("2023年招远规上工业利润总额同比增长多少？").focus == "利润总额"
    assert analyze("招远市2023年进出口总额是多少亿元？").focus_words == ["进出口", "总额"]
    assert analyze("济南第二批“泉城好品”品牌数量是多少？").ordinals == ["第二批"]
