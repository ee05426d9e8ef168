"""The metrics on hand-made answers whose scores are worked out by hand."""

import math

import pytest

from recommendations.evaluation.metrics import KS, Scores, hits_at, ndcg_at, user_scores


def test_a_perfect_answer_scores_one():
    scores = user_scores([1, 2, 3], {1, 2, 3})
    for k in KS:
        assert scores["hit_rate"][k] == 1
        assert scores["ndcg"][k] == pytest.approx(1)
        assert scores["recall"][k] == min(k, 3) / 3
    assert scores["precision"][1] == scores["precision"][3] == 1
    assert scores["precision"][10] == 3 / 10  # three right answers cannot fill ten places


def test_a_never_right_answer_scores_zero():
    scores = user_scores([4, 5, 6, 7, 8, 9, 10, 11, 12, 13], {1, 2})
    assert all(value == 0 for by_k in scores.values() for value in by_k.values())


def test_an_empty_answer_scores_zero():
    scores = user_scores([], {1})
    assert all(value == 0 for by_k in scores.values() for value in by_k.values())


@pytest.mark.parametrize(
    ("position", "expected"),
    [(1, 1.0), (2, 1 / math.log2(3)), (3, 0.5), (4, 1 / math.log2(5)), (10, 1 / math.log2(11))],
)
def test_ndcg_discounts_a_single_hit_by_its_position(position, expected):
    ranked = [100 + i for i in range(10)]
    ranked[position - 1] = 1
    assert ndcg_at(ranked, {1}, 10) == pytest.approx(expected)
    assert ndcg_at(ranked, {1}, position - 1 or 1) == (1.0 if position == 1 else 0.0)


def test_ndcg_of_two_hits_against_the_best_order():
    # Hits at positions 1 and 3: DCG 1 + 1/log2(4) = 1.5; ideal 1 + 1/log2(3).
    assert ndcg_at([1, 9, 2], {1, 2}, 3) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # At k = 1 only the first counts, and the ideal list of one is that one hit.
    assert ndcg_at([1, 9, 2], {1, 2}, 1) == 1.0
    assert ndcg_at([9, 1, 2], {1, 2}, 1) == 0.0


def test_hits_precision_and_recall_at_k():
    ranked, relevant = [7, 1, 8, 2, 9], {1, 2, 3, 4}
    assert [hits_at(ranked, relevant, k) for k in (1, 3, 5, 10)] == [0, 1, 2, 2]
    scores = user_scores(ranked, relevant)
    assert scores["hit_rate"] == {1: 0, 3: 1, 5: 1, 10: 1}
    assert scores["precision"] == {1: 0, 3: 1 / 3, 5: 2 / 5, 10: 2 / 10}
    assert scores["recall"] == {1: 0, 3: 1 / 4, 5: 2 / 4, 10: 2 / 4}


def test_means_are_over_every_user_scored_and_coverage_over_the_catalogue():
    scores = Scores()
    scores.add([1, 2], {1}, cold_start=False)  # right at 1
    scores.add([3], {4}, cold_start=True)  # never right
    scores.add([], {5}, cold_start=True)  # no answer
    result = scores.result(catalogue=10)
    assert result.means["hit_rate"][1] == pytest.approx(1 / 3)
    assert result.means["ndcg"][10] == pytest.approx(1 / 3)
    assert result.coverage == pytest.approx(3 / 10)  # events 1, 2 and 3 were recommended
    assert (result.answered, result.answered_cold_start) == (2, 1)
