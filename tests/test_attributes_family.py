import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from farl_bench.families import get
from farl_bench.families.attributes import attribute_accuracy, balanced_accuracy


def test_accuracy_and_balanced_accuracy_by_hand():
    target = np.array([[1, 0], [1, 0], [1, 1], [0, 1]], bool)
    pred = np.array([[1, 0], [0, 0], [1, 0], [0, 1]], bool)
    np.testing.assert_allclose(attribute_accuracy(pred, target), [75.0, 75.0])
    # attribute 0: recall(pos) 2/3, recall(neg) 1/1 -> 83.33; attribute 1: 1/2 and 2/2 -> 75
    np.testing.assert_allclose(balanced_accuracy(pred, target), [100 * (2 / 3 + 1) / 2, 75.0])


def test_balanced_accuracy_matches_scikit_learn_on_random_labels():
    rng = np.random.default_rng(0)
    target = rng.random((500, 6)) < [0.05, 0.2, 0.5, 0.7, 0.9, 0.99]
    pred = np.where(rng.random((500, 6)) < 0.8, target, ~target)
    expected = [100 * balanced_accuracy_score(target[:, a], pred[:, a]) for a in range(6)]
    np.testing.assert_allclose(balanced_accuracy(pred, target), expected)


def test_balanced_accuracy_of_an_attribute_with_one_class_is_that_class_recall():
    target = np.array([[1, 0], [1, 1], [1, 0], [1, 1]], bool)
    pred = np.array([[1, 0], [0, 1], [1, 1], [1, 1]], bool)
    np.testing.assert_allclose(balanced_accuracy(pred, target), [75.0, 75.0])


def test_score_names_metrics_with_units_and_per_attribute_rows():
    family = get("attributes")
    target = np.array([[1, 0], [0, 1]], bool)
    metrics = family.score(np.array([[1, 1], [0, 1]], bool), target, {"attribute_names": ["A", "B"]})
    assert metrics["acc_mean"].value == pytest.approx(75.0) and metrics["acc_mean"].unit == "%"
    assert metrics["acc/A"].value == 100.0 and metrics["acc/B"].value == 50.0
    # A: both classes right -> 100; B: negative missed, positive right -> 50
    assert metrics["bacc_mean"].value == pytest.approx((100 + 50) / 2)


def test_loss_and_gradient_equal_torchs_bce_with_logits():
    import torch.nn.functional as F

    logits = torch.cat([torch.randn(60, 40) * 5, torch.zeros(2, 40), torch.full((2, 40), 90.0), torch.full((2, 40), -90.0)])
    targets = torch.rand(logits.shape) < 0.3
    ours_x, torch_x = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    ours = get("attributes").loss(ours_x, targets)
    expected = F.binary_cross_entropy_with_logits(torch_x, targets.float())
    ours.backward()
    expected.backward()
    torch.testing.assert_close(ours, expected, atol=1e-7, rtol=1e-6)
    torch.testing.assert_close(ours_x.grad, torch_x.grad, atol=1e-9, rtol=1e-6)
