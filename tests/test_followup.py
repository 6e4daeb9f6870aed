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
