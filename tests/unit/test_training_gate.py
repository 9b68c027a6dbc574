"""The decision after a training: figures, the threshold chosen on the held-out questions
(measured on the half it was not chosen on), and the adopt-only-if-better gate."""

from __future__ import annotations

import pytest

from chatbot.training import evaluation
from chatbot.training.data import HeldOut
from chatbot.training.evaluation import Figures, Scored
from chatbot.training.job import gate


def figures(accuracy: float, mcc: float) -> Figures:
    return Figures(100, 100, accuracy, 0.5, mcc, accuracy)


@pytest.mark.parametrize(
    ("before", "after", "adopted", "why"),
    [
        (figures(0.90, 0.60), figures(0.90, 0.70), True, "MCC 0.600 -> 0.700"),
        (figures(0.90, 0.60), figures(0.88, 0.70), True, "in-scope accuracy 0.900 -> 0.880"),
        (figures(0.90, 0.60), figures(0.87, 0.90), False, "in-scope accuracy fell by more"),
        (figures(0.90, 0.60), figures(0.95, 0.60), False, "MCC is not higher (MCC 0.600 -> 0.600)"),
        (figures(0.90, 0.60), figures(0.95, 0.55), False, "MCC is not higher"),
    ],
)
def test_a_trained_model_is_adopted_only_when_it_is_better(
    before: Figures, after: Figures, adopted: bool, why: str
) -> None:
    decided, reason = gate(before, after)
    assert decided is adopted
    assert why in reason


def scored(expected: str, predicted: str, score: float, fold: int = 0, key: str = "en") -> Scored:
    return Scored(
        HeldOut(f"q{expected}{predicted}{score}{fold}", expected, fold), key, predicted, score
    )


def test_figures_count_right_answers_declines_and_mcc() -> None:
    rows = [
        scored("a", "a", 0.9),  # answered right
        scored("b", "a", 0.8),  # answered wrong
        scored("c", "c", 0.3),  # right entry, but declined
        scored("", "a", 0.2),  # out of scope, declined
        scored("", "b", 0.7),  # out of scope, answered
    ]
    found = evaluation.figures(rows, {"en": 0.5})
    assert (found.in_scope, found.out_of_scope) == (3, 2)
    assert found.in_scope_accuracy == pytest.approx(1 / 3)
    assert found.recall_at_1 == pytest.approx(2 / 3)
    assert found.oos_recall == pytest.approx(1 / 2)
    assert -1 <= found.mcc <= 1
    perfect = evaluation.figures(rows[:1] + rows[3:4], {"en": 0.5})
    assert perfect.mcc == pytest.approx(1.0)


def separable(n: int, fold: int, in_score: float, out_score: float) -> list[Scored]:
    return [scored(f"e{i}", f"e{i}", in_score + i / 1000, fold) for i in range(n)] + [
        scored("", f"e{i}", out_score + i / 1000, fold) for i in range(n)
    ]


def test_the_threshold_chosen_separates_in_scope_from_out_of_scope() -> None:
    rows = separable(12, 0, in_score=0.8, out_score=0.5)
    (key, chosen), *_ = evaluation.fit(rows).items()
    assert key == "en"
    assert 0.512 < chosen.threshold < 0.8
    assert (chosen.in_scope, chosen.off_topic, chosen.method) == (12, 12, evaluation.HELD_OUT)


def test_the_threshold_chosen_keeps_in_scope_accuracy_near_the_model_in_use() -> None:
    # Out-of-scope questions score 0.5-0.62, in-scope ones 0.4-0.9: MCC alone would decline
    # the low in-scope ones along with the out-of-scope ones.
    ins = [scored(f"e{i}", f"e{i}", 0.4 + i * 0.05, i % 2) for i in range(11)]
    oos = [scored("", "e0", 0.5 + i * 0.01, i % 2) for i in range(12)]
    free = evaluation.fit(ins + oos)["en"].threshold
    in_use = {"en": 0.0}  # the model in use answers every in-scope question right
    marked = evaluation.marked(ins + oos, evaluation.right_answers(ins + oos, in_use))
    kept = evaluation.fit(marked)["en"].threshold
    assert kept < free
    accuracy = evaluation.figures(marked, {"en": kept}).in_scope_accuracy
    assert accuracy >= 1.0 - evaluation.FIT_IN_SCOPE_LOSS


def test_each_half_is_decided_with_the_threshold_of_the_other_half() -> None:
    # Half 0 separates at about 0.6, half 1 at about 0.3: a threshold from half 1 answers
    # half 0's out-of-scope questions, one from half 0 declines half 1's in-scope ones.
    rows = separable(10, 0, in_score=0.7, out_score=0.5) + separable(10, 1, 0.4, 0.2)
    crossed = evaluation.cross_fitted(rows, {"en": 0.0})
    in_sample = evaluation.figures(rows, {"en": evaluation.fit(rows)["en"].threshold})
    assert crossed.in_sample == 0
    assert crossed.mcc < in_sample.mcc
    assert crossed.oos_recall == pytest.approx(0.5)  # half 0's answered
    assert crossed.in_scope_accuracy == pytest.approx(0.5)  # half 1's declined


def test_a_language_with_too_few_questions_keeps_its_own_threshold() -> None:
    rows = separable(12, 0, 0.8, 0.5) + separable(12, 1, 0.8, 0.5)
    few = [scored("zz", "zz", 0.35, 0, key="zh"), scored("", "zz", 0.3, 1, key="zh")]
    assert "zh" not in evaluation.fit(rows + few)
    crossed = evaluation.cross_fitted(rows + few, {"en": 0.0, "zh": 0.32})
    zh = evaluation.figures(few, {"zh": 0.32})
    assert (zh.in_scope_accuracy, zh.oos_recall) == (1.0, 1.0)
    assert crossed.in_scope_accuracy == pytest.approx(1.0)
    assert crossed.oos_recall == pytest.approx(1.0)


def test_a_half_too_small_to_choose_from_is_counted_as_decided_in_sample() -> None:
    # 24 questions in all (enough), but half 1 has only out-of-scope ones.
    rows = separable(12, 0, 0.8, 0.5)
    rows = [
        r if r.query.expected else Scored(HeldOut(r.query.text, "", 1), "en", r.predicted, r.score)
        for r in rows
    ]
    crossed = evaluation.cross_fitted(rows, {"en": 0.0})
    assert crossed.in_sample == 24
