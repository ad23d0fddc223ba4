"""Expression classification: accuracy, mean per-class accuracy and macro F1, in percent.

Follows PROTOCOLS.md "Expression". Classes are ids 0..C−1, named by the dataset meta.
Classes absent from the test data are left out of the means rather than scored 0, as in
scikit-learn's ``balanced_accuracy_score`` and ``f1_score(average="macro")`` with its default
labels (the classes present in the targets or the predictions).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from farl_bench.families.base import Metric


def _as_ids(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape or target.ndim != 1 or target.size == 0:
        raise ValueError(f"pred {pred.shape} and target {target.shape} must be (N,) of one length, N > 0")
    return pred, target


def _class_counts(pred: np.ndarray, target: np.ndarray, n_classes: int) -> np.ndarray:
    """(C, C) int64 ``counts[target, pred]`` after checking the ids."""
    pred, target = _as_ids(pred, target)
    for name, ids in (("pred", pred), ("target", target)):
        if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= n_classes:
            raise ValueError(f"{name} must hold integer class ids in [0, {n_classes})")
    codes = target.astype(np.int64) * n_classes + pred.astype(np.int64)
    return np.bincount(codes, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def accuracy(pred: np.ndarray, target: np.ndarray) -> float:
    """Percent of samples whose predicted class id equals the target. pred, target: (N,) ints."""
    pred, target = _as_ids(pred, target)
    return float(np.mean(pred == target) * 100.0)


def per_class_accuracy(pred: np.ndarray, target: np.ndarray, n_classes: int) -> np.ndarray:
    """(C,) recall of each class in percent: the share of its samples predicted as it.

    NaN for a class absent from the targets.
    """
    counts = _class_counts(pred, target, n_classes)
    support = counts.sum(axis=1)
    recall = np.full(n_classes, np.nan)
    recall[support > 0] = 100.0 * np.diagonal(counts)[support > 0] / support[support > 0]
    return recall


def mean_class_accuracy(pred: np.ndarray, target: np.ndarray, n_classes: int) -> float:
    """Unweighted mean, over the classes present in the targets, of the per-class accuracy (%)."""
    recall = per_class_accuracy(pred, target, n_classes)
    return float(np.nanmean(recall))  # the targets hold at least one class, so never all NaN


def macro_f1(pred: np.ndarray, target: np.ndarray, n_classes: int) -> float:
    """Unweighted mean F1 in percent over the classes present in the targets or the predictions.

    F1_c = 2·TP / (2·TP + FP + FN); a class absent from both is 0/0 and left out. Equals
    ``100 * sklearn.metrics.f1_score(target, pred, average="macro")``; passing
    ``labels=range(C)`` to scikit-learn would instead score such classes 0.
    """
    counts = _class_counts(pred, target, n_classes)
    denominator = counts.sum(axis=0) + counts.sum(axis=1)
    present = denominator > 0
    return float(np.mean(200.0 * np.diagonal(counts)[present] / denominator[present]))


def expression_scores(pred: np.ndarray, target: np.ndarray, class_names: Sequence[str]) -> dict[str, Metric]:
    """``acc``, ``mean_class_acc``, ``macro_f1`` and ``acc/<class>`` (NaN when absent), all %.

    pred, target: (N,) class ids into `class_names`.
    """
    n_classes = len(class_names)
    metrics = {"acc": Metric(accuracy(pred, target), "%", True),
               "mean_class_acc": Metric(mean_class_accuracy(pred, target, n_classes), "%", True),
               "macro_f1": Metric(macro_f1(pred, target, n_classes), "%", True)}
    for name, value in zip(class_names, per_class_accuracy(pred, target, n_classes)):
        metrics[f"acc/{name}"] = Metric(float(value), "%", True)
    return metrics
