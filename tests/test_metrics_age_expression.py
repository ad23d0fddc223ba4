import math
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score

from farl_bench.families.metrics.age import age_scores, cs_at_k, eps_error, mae
from farl_bench.families.metrics.expression import (
    accuracy, expression_scores, macro_f1, mean_class_accuracy, per_class_accuracy,
)

RAF_DB = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]


def test_age_mae_and_cumulative_score_by_hand():
    pred, age = np.array([20.0, 30.0, 41.0]), np.array([22.0, 30.0, 35.0])  # errors 2, 0, 6
    assert mae(pred, age) == pytest.approx(8 / 3)
    assert cs_at_k(pred, age, 5) == pytest.approx(200 / 3)
    assert cs_at_k(pred, age, 6) == 100.0  # |error| <= k counts


def test_eps_error_is_zero_on_the_mean_and_grows_with_distance_in_stds():
    mean, std = np.array([30.0, 50.0]), np.array([4.0, 2.0])
    assert eps_error(mean, mean, std) == 0.0
    assert eps_error(mean + std, mean, std) == pytest.approx(1 - math.exp(-0.5))
    assert eps_error(mean + [8.0, 0.0], mean, std) == pytest.approx((1 - math.exp(-2)) / 2)


def test_age_metrics_match_explicit_loops_on_random_ages():
    rng = np.random.default_rng(0)
    age, std = rng.uniform(1, 80, 500), rng.uniform(1, 8, 500)
    pred = age + rng.normal(0, 6, 500)
    assert mae(pred, age) == pytest.approx(sum(abs(p - a) for p, a in zip(pred, age)) / 500)
    assert cs_at_k(pred, age) == pytest.approx(100 * sum(abs(p - a) <= 5 for p, a in zip(pred, age)) / 500)
    expected = sum(1 - math.exp(-((p - m) ** 2) / (2 * s * s)) for p, m, s in zip(pred, age, std)) / 500
    assert eps_error(pred, age, std) == pytest.approx(expected)


def test_age_scores_give_eps_error_only_with_an_apparent_age_std():
    pred, age = np.array([20.0, 30.0]), np.array([21.0, 36.0])
    metrics = age_scores(pred, age)
    assert set(metrics) == {"mae", "cs@5"}
    assert metrics["mae"].unit == "years" and not metrics["mae"].higher_is_better
    assert metrics["cs@5"].unit == "%" and metrics["cs@5"].value == 50.0
    metrics = age_scores(pred, age, age_std=np.array([2.0, 3.0]), k=3)
    assert set(metrics) == {"mae", "cs@3", "eps_error"}
    assert metrics["eps_error"].unit == "fraction" and not metrics["eps_error"].higher_is_better


def test_age_inputs_are_checked():
    with pytest.raises(ValueError, match="shapes"):
        mae(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="std <= 0"):
        eps_error(np.zeros(2), np.zeros(2), np.array([1.0, 0.0]))


def test_expression_metrics_by_hand():
    target = np.array([0, 0, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0])
    assert accuracy(pred, target) == 60.0
    # recalls: class 0 1/2, class 1 2/2, class 2 0/1
    np.testing.assert_allclose(per_class_accuracy(pred, target, 3), [50.0, 100.0, 0.0])
    assert mean_class_accuracy(pred, target, 3) == pytest.approx(50.0)
    # F1 = 2TP / (2TP + FP + FN): class 0 2/4, class 1 4/5, class 2 0/1
    assert macro_f1(pred, target, 3) == pytest.approx(100 * (0.5 + 0.8 + 0.0) / 3)


def test_expression_metrics_match_scikit_learn_on_random_labels():
    rng = np.random.default_rng(1)
    target = rng.choice(7, 3068, p=[0.1, 0.03, 0.05, 0.39, 0.16, 0.05, 0.22])
    pred = np.where(rng.random(3068) < 0.8, target, rng.integers(0, 7, 3068))
    assert accuracy(pred, target) == pytest.approx(100 * accuracy_score(target, pred))
    assert mean_class_accuracy(pred, target, 7) == pytest.approx(100 * balanced_accuracy_score(target, pred))
    np.testing.assert_allclose(per_class_accuracy(pred, target, 7), 100 * recall_score(target, pred, average=None))
    assert macro_f1(pred, target, 7) == pytest.approx(100 * f1_score(target, pred, average="macro"))


def test_classes_absent_from_the_test_data_are_left_out_of_the_means():
    # class 3 appears nowhere; class 2 is predicted but never the target
    target = np.array([0, 0, 1, 1, 1, 0])
    pred = np.array([0, 1, 1, 2, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about classes 2 and 3
        balanced = balanced_accuracy_score(target, pred)
        f1_present = f1_score(target, pred, average="macro")
        f1_all_labels = f1_score(target, pred, labels=range(4), average="macro", zero_division=0)
    recall = per_class_accuracy(pred, target, 4)
    assert np.isnan(recall[2]) and np.isnan(recall[3])
    assert mean_class_accuracy(pred, target, 4) == pytest.approx(100 * balanced)
    # macro F1 over the classes in target or pred (0, 1, 2), as scikit-learn's default labels;
    # naming all 4 labels would add a 0 for class 3
    assert macro_f1(pred, target, 4) == pytest.approx(100 * f1_present)
    assert macro_f1(pred, target, 4) == pytest.approx(100 * f1_all_labels * 4 / 3)


def test_expression_scores_give_per_class_accuracy_in_percent():
    target = np.array([0, 3, 3, 6, 6, 6])
    pred = np.array([0, 3, 6, 6, 6, 0])
    metrics = expression_scores(pred, target, RAF_DB)
    assert set(metrics) == {"acc", "mean_class_acc", "macro_f1"} | {f"acc/{name}" for name in RAF_DB}
    assert metrics["acc"].value == pytest.approx(400 / 6)
    assert metrics["acc/happiness"].value == 50.0 and metrics["acc/surprise"].value == 100.0
    assert np.isnan(metrics["acc/fear"].value)
    assert metrics["mean_class_acc"].value == pytest.approx((100 + 50 + 200 / 3) / 3)
    assert all(m.unit == "%" and m.higher_is_better for m in metrics.values())


def test_expression_class_ids_are_checked():
    with pytest.raises(ValueError, match=r"class ids in \[0, 7\)"):
        macro_f1(np.array([0, 7]), np.array([0, 1]), 7)
    with pytest.raises(ValueError, match="one length"):
        accuracy(np.array([0, 1]), np.array([0]))
