import pytest

from rag.question import analyze, split_comparison, split_parts, split_years


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


def test_a_name_only_jiebas_tag_makes_one_is_marked_guessed():
    q = analyze("哪一种东西来形容纳戈尔诺卡拉巴赫的边界轮廓?")  # 东西 is tagged a place name
    assert "东西" in q.places and q.guessed == ["东西"]
    # a place of the gazetteer, or one written with its administrative suffix, is known
    assert analyze("寿光市2023年蔬菜产量是多少？").guessed == []
    assert analyze("招远2023年黄金产业总产值是多少？").guessed == []


def test_the_tagger_follows_the_active_profiles_dictionary():
    from rag.profile import activate, load_profile

    question = "远景能源零碳产业园建成后一年能有多少产值？"
    activate(load_profile("national"))
    assert "远景能源" not in analyze(question).orgs  # not a word of the national dictionary
    activate(load_profile("shandong"))
    q = analyze(question)
    assert "远景能源" in q.orgs and q.guessed == []  # a name the shandong profile knows


def test_generic_places_are_not_entities():
    assert analyze("山东省2023年竣工投产项目有多少个？").places == []


KINDS = {"number", "percent", "year", "date", "person", "org", "place", "list", "compare", "describe"}


@pytest.mark.parametrize("text", ["", "   ", "🙂🙂", "What is the GDP?", "？？？", "[1][2]", "2023年" * 300,
                                  "招远\x00市", "ＧＤＰ是多少"])
def test_odd_input_does_not_crash(text):
    q = analyze(text)
    assert q.text == text.strip() and q.kind in KINDS
    # Whatever it finds stands in the question: no place, org or term is made up.
    assert all(p in q.text for p in q.places) and all(o in q.text for o in q.orgs)
    assert all(t in q.text for t in q.terms)
    assert all(1900 <= y < 2100 and str(y) in q.text for y in q.years)
    assert split_parts(text) == []  # none of these is two questions
    if not q.text.strip():
        assert (q.kind, q.places, q.orgs, q.years, q.terms) == ("describe", [], [], [], [])


@pytest.mark.parametrize(
    ("question", "sides"),
    [
        ("招远和环翠区的高新技术企业分别有多少家？", ["招远的高新技术企业有多少家？", "环翠区的高新技术企业有多少家？"]),
        ("2023年招远和胶州的地区生产总值分别增长了多少？",
         ["2023年招远的地区生产总值增长了多少？", "2023年胶州的地区生产总值增长了多少？"]),
        ("招远以工代赈计划发放的劳务报酬和胶州以工代赈已发放的劳务报酬分别是多少？",
         ["招远以工代赈计划发放的劳务报酬是多少？", "胶州以工代赈已发放的劳务报酬是多少？"]),
        ("栖霞和福山各有多少个重点项目？", ["栖霞有多少个重点项目？", "福山有多少个重点项目？"]),
        # one side named by a city and a unit in it: not a third side
        ("黄渤海新区和烟台综保区今年分别要引进多少个项目？",
         ["黄渤海新区今年要引进多少个项目？", "烟台综保区今年要引进多少个项目？"]),
    ],
)
def test_comparisons_split_into_one_question_per_side(question, sides):
    q = analyze(question)
    assert q.kind == "compare"
    assert split_comparison(question, q.entities) == sides


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("招远2023年和2024年规划实施的重点项目分别有多少个？",
         ["招远2023年规划实施的重点项目有多少个？", "招远2024年规划实施的重点项目有多少个？"]),
        ("胶州2023年全年的GDP和2024年上半年的GDP分别是多少？",
         ["胶州2023年全年的GDP是多少？", "胶州2024年上半年的GDP是多少？"]),
        ("招远2024年和2023年相比GDP增长多少？", []),  # one figure that relates the years
        ("招远2023年的GDP和2024年上半年的投资增长多少？", []),  # the first part asks nothing
        ("招远2023年黄金产业总产值是多少？", []),
    ],
)
def test_two_years_joined_split_into_one_question_per_year(question, parts):
    assert split_years(question, analyze(question).years) == parts


def test_a_bare_kind_of_body_is_no_name_and_a_counter_no_part_of_a_word():
    q = analyze("港口集团今年在青岛新推的项目投资规模多大？")
    assert "集团" not in q.orgs
    assert "家规" not in analyze("胶州现在有多少家规上工厂？").terms  # "多少家" + "规上工厂"


def test_a_single_place_is_not_split():
    q = analyze("招远2023年黄金产业总产值是多少？")
    assert split_comparison(q.text, q.entities) == []


def test_focus_is_the_metric_not_the_change():
    assert analyze("2023年招远规上工业利润总额同比增长多少？").focus == "利润总额"
    assert analyze("招远市2023年进出口总额是多少亿元？").focus_words == ["进出口", "总额"]
    assert analyze("济南第二批“泉城好品”品牌数量是多少？").ordinals == ["第二批"]
    # what is counted is the head noun that ends the phrase, with the noun before it
    assert analyze("环翠区2023年新增了多少家国家级高新技术企业？").focus_words == ["高新技术", "企业"]


@pytest.mark.parametrize(
    ("question", "kind", "unit"),
    [
        ("招远去年GDP涨了多少？", "percent", "%"),  # a rise is a rate
        ("招远的规上工业企业去年一共挣了多少钱？", "number", "元"),
        ("山东极电那个电池项目的厂房啥时候能完工？", "date", None),
        ("乳山那几个城郊村每年最少能分到多少钱？", "number", "元"),  # 那几个 points back, it asks no count
        ("乳山有几个城郊村参与分红？", "number", "个"),
    ],
)
def test_colloquial_kind_and_unit(question, kind, unit):
    assert (analyze(question).kind, analyze(question).unit) == (kind, unit)


def test_a_phase_of_a_project_is_an_exact_qualifier():
    assert analyze("伯特利三期项目总投资是多少？").ordinals == ["三期"]
    assert analyze("南山LNG接收站一期工程什么时候能投产？").ordinals == ["一期"]
    assert analyze("上一期项目投了多少？").ordinals == []  # the one before, not a phase


def test_a_word_jieba_only_guessed_is_no_name_by_its_tag():
    q = analyze("芝罘今年招大项目的目标")  # "招大" is tagged as an organisation by jieba's guess
    assert q.orgs == [] and "招大" in q.terms
    from rag.question import _in_dictionary

    assert not _in_dictionary("招大") and _in_dictionary("万华") and _in_dictionary("集团")


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("乳山现在一共有多少个共富党建联盟？", ["共富党建联盟"]),  # 现在, 一共: how, not what
        ("环翠区最近有多少家企业搬迁？", ["企业", "搬迁"]),
        ("招远出台的政策文件包含多少条具体措施？", ["出台", "政策", "文件", "包含", "措施"]),
        ("环翠现在高企有多少家？", ["高企"]),  # not the guessed word "高企有"
        # spoken asking: 多大, 多高, 啥时候, 咋样, 这块, 各自
        ("港口集团今年在青岛新推的项目投资规模多大？", ["港口", "集团", "项目", "投资规模"]),
        ("招远那边的黄金产业产值多高？", ["黄金", "产业", "产值"]),
        ("烟台这个项目啥时候开工？", ["项目", "开工"]),
        ("招远储能搞得咋样了？", ["储能"]),
        ("玲珑轮胎在新能源车配套这块的市场份额有多少？", ["新能源", "配套", "市场份额"]),
        ("黄渤海新区和综保区今年各自要引进多少个项目？", ["引进", "项目"]),
    ],
)
def test_terms_leave_out_the_form_of_the_question(question, terms):
    assert analyze(question).terms == terms


def test_how_a_question_counts_or_ranks_is_no_word_the_answer_must_print():
    assert "辆车" not in analyze("比亚迪济南基地2023年造了多少辆车？").terms  # "多少辆" + "车"
    assert "第几" not in analyze("招远在赛迪百强县榜单里排第几？").terms


def test_year_end_is_spelled_either_way():
    assert "年底" in analyze("截至去年底环翠区高企有多少家？").periods
    assert "年底" in analyze("截至2023年末环翠区高企有多少家？").periods


def test_levels_must_match_like_ordinals():
    assert analyze("环翠区新增了多少家省级专精特新企业？").ordinals == ["省级"]


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        ("招远2023年净增了多少家高新技术企业？现在高企总数是多少？",
         ["招远2023年净增了多少家高新技术企业？", "招远现在高企总数是多少？"]),
        ("招远今年谋划了几个以工代赈项目？胶州有几个项目进了清单？",
         ["招远今年谋划了几个以工代赈项目？", "今年胶州有几个项目进了清单？"]),
        ("招远2023年GDP是多少？", []),
        ("你好？招远GDP是多少？", []),  # a greeting is no question
        # two clauses that each ask, the second about its own place; the topic goes with both
        ("以工代赈劳务报酬：招远计划发多少，胶州截至目前已经发了多少？",
         ["以工代赈劳务报酬招远计划发多少？", "以工代赈劳务报酬胶州截至目前已经发了多少？"]),
        ("招远2023年GDP是多少，增长了多少？", []),  # one subject: one question
    ],
)
def test_a_question_of_several_splits_into_standalone_parts(question, parts):
    assert split_parts(question) == parts


def test_a_message_of_many_questions_is_read_as_one():
    many = "招远GDP是多少？胶州GDP是多少？环翠GDP是多少？蒙阴GDP是多少？"
    assert split_parts(many) == []
    assert len(split_parts("招远GDP是多少？胶州GDP是多少？环翠GDP是多少？")) == 3


@pytest.mark.parametrize(("question", "periods"), [
    ("招远今年1到6月规上工业总产值是多少？", ["上半年"]),
    ("招远2024年1-6月规上工业总产值是多少？", ["上半年"]),
    ("招远一季度网络零售额是多少？", ["一季度"]),
    ("招远2023年网络零售额是多少？", []),
])
def test_a_period_is_read_in_any_of_its_spellings(question, periods):
    assert analyze(question).periods == periods


def test_everyday_words_the_synonyms_know_are_terms():
    # "挣" (one character) stands for 利润; "网上" + "卖货" make one phrase, 网络零售 in the press
    assert "挣" in analyze("招远的规上工业企业去年一共挣了多少钱？").terms
    assert "网上卖货" in analyze("招远今年上半年网上卖货卖了多少钱？").terms
    assert "的" not in analyze("招远的高新技术企业有多少家？").terms
