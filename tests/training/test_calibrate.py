"""rag.training.calibrate: the policy is judged on several dev sets, weighed alike."""

from rag.eval.gold import GoldItem
from rag.reader import ReaderPolicy
from rag.training.calibrate import _measure_sets
from rag.types import Answer, AnswerPart, Refusal


class FakeEngine:
    """Answers every question with `said`, or refuses when the policy lets no sentence overrule a check."""

    def __init__(self, said: str) -> None:
        self.said = said
        self.policy = None

    def ask(self, question, history=None):
        if self.policy.override > 1:
            return Answer([], [], Refusal("coverage"))
        return Answer([AnswerPart(self.said + "。", 1, "c1", (0, 3))], [])


def item(id_, answers, kind="fact"):
    return GoldItem(id_, kind, "问？", answers, [], "", split="dev")


def test_each_set_counts_alike_and_refusal_comes_from_the_set_with_near_misses():
    news = (FakeEngine("900亿元"), [item("a", ["900亿元"]), item("b", [], "unanswerable")])
    mrc = (FakeEngine("梵语"), [item("m1", ["梵语"]), item("m2", ["欧洲"]), item("m3", ["梵语"]), item("m4", ["梵语"])])
    answering = _measure_sets([news, mrc], ReaderPolicy(override=0.7))
    # news: 1 right, 1 wrong (answered a near miss) -> (1 - 1.5) / 2; mrc: 3 right, 1 wrong -> (3 - 1.5) / 4
    assert [s["utility"] for s in answering["sets"]] == [-0.25, 0.375]
    assert answering["utility"] == round((-0.25 + 0.375) / 2, 4)
    assert answering["refusal"] == 0.0 and answering["accuracy"] == round((1.0 + 0.75) / 2, 4)
    refusing = _measure_sets([news, mrc], ReaderPolicy(override=1.01))
    assert [s["utility"] for s in refusing["sets"]] == [0.5, 0.0] and refusing["refusal"] == 1.0
