import pytest

from rag.followup import rewrite

PREVIOUS = [{"role": "user", "content": "2023年招远市地区生产总值增长多少？"},
            {"role": "assistant", "content": "增长7.3%。[1]"}]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("那胶州呢？", "2023年胶州地区生产总值增长多少？"),
        ("胶州市呢", "2023年胶州地区生产总值增长多少？"),
        ("2024年呢？", "2024年招远市地区生产总值增长多少？"),
        ("那去年呢？", "2022年招远市地区生产总值增长多少？"),
        ("该市高新技术企业有多少家？", "招远高新技术企业有多少家？"),
        ("环翠区有多少家高新技术企业？", "环翠区有多少家高新技术企业？"),
    ],
)
def test_follow_ups_become_standalone(question, expected):
    assert rewrite(question, PREVIOUS) == expected


def test_without_history_the_question_stands():
    assert rewrite("那胶州呢？", []) == "那胶州呢？"
    assert rewrite("那胶州呢？", None) == "那胶州呢？"


def test_a_whole_year_follow_up_replaces_the_relative_year_and_the_period():
    history = [{"role": "user", "content": "招远今年上半年实施了多少项重点技术创新项目？"}]
    assert rewrite("那2023年全年呢？", history) == "招远2023年全年实施了多少项重点技术创新项目？"


def test_a_carried_subject_puts_the_place_first():
    history = [{"role": "user", "content": "乳山共富党建联盟牵头组建了多少家联合社？"}]
    assert rewrite("成立了多少家农业社会化服务中心？", history).startswith("乳山")


@pytest.mark.parametrize(("question", "previous", "expected"), [
    ("那今年1到6月呢？", "招远2023年规上工业总产值是多少？", "招远今年1到6月规上工业总产值是多少？"),
    ("那一季度呢？", "招远2023年上半年网络零售额是多少？", "招远2023年一季度网络零售额是多少？"),
    ("那去年呢？", "招远今年上半年网络零售额是多少？", "招远去年上半年网络零售额是多少？"),
    ("那上半年呢？", "招远网络零售额是多少？", "上半年招远网络零售额是多少？"),
])
def test_a_follow_up_about_another_time_replaces_the_time(question, previous, expected):
    assert rewrite(question, [{"role": "user", "content": previous}]) == expected


def test_a_follow_up_about_another_time_and_what_of_it():
    history = [{"role": "user", "content": "招远2023年黄金产业总产值是多少？"}]
    assert rewrite("今年的目标呢？", history) == "招远今年黄金产业总产值目标是多少？"
    assert rewrite("那去年的增速呢？", history) == "招远去年黄金产业总产值增速是多少？"


@pytest.mark.parametrize("question, previous, expected", [
    ("那续建的呢？", "山东港口2023年在青岛建成投产了多少个项目？", "山东港口2023年在青岛续建了多少个项目？"),
    ("那出口呢？", "青岛今年上半年进口增长多少？", "青岛今年上半年出口增长多少？"),
    ("那进出口呢？", "招远上半年出口多少？", "招远上半年进出口多少？"),
    ("那农村居民呢？", "招远2023年城镇居民人均可支配收入是多少？", "招远2023年农村居民人均可支配收入是多少？"),
])
def test_a_follow_up_naming_a_sibling_word_swaps_it_in(question, previous, expected):
    assert rewrite(question, [{"role": "user", "content": previous}]) == expected


def test_a_sibling_word_the_previous_question_lacks_is_a_subject_as_before():
    # nothing to swap: "二期" stands where the place would
    assert rewrite("那胶州呢？", [{"role": "user", "content": "招远一期项目投资多少？"}]) == "胶州一期项目投资多少？"
