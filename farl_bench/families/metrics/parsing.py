"""Face parsing: one pixel confusion matrix over the test set, F1 per class, mean over foreground.

Follows PROTOCOLS.md "Parsing metric": ``hist[gt, pred]`` summed over all pixels of all images,
F1_c = 2·hist[c, c] / (Σ_pred=c + Σ_gt=c), ``f1_mean`` over every class except background (id 0).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from farl_bench.families.base import Metric

BACKGROUND = 0


def confusion_matrix(gt: np.ndarray, pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Pixel counts ``hist[g, p]`` of ground-truth label g predicted as p.

    Parameters
    ----------
    gt : integer array, any shape (one H x W mask or a batch N x H x W)
        Ground-truth labels. Pixels whose label is outside [0, n_classes) (e.g. 255, "ignore")
        are not counted.
    pred : integer array, same shape as `gt`
        Predicted labels, all in [0, n_classes).
    n_classes : int
        C, the number of classes.

    Returns
    -------
    hist : (C, C) int64 array, rows ground truth, columns prediction.
    """
    gt, pred = np.asarray(gt), np.asarray(pred)
    if gt.shape != pred.shape:
        raise ValueError(f"gt has shape {gt.shape} but pred has shape {pred.shape}; expected the same")
    if not (np.issubdtype(gt.dtype, np.integer) and np.issubdtype(pred.dtype, np.integer)):
        raise ValueError(f"labels must be integer arrays, got gt {gt.dtype} and pred {pred.dtype}")
    n_bins = n_classes * n_classes
    if gt.size == 0:
        return np.zeros((n_classes, n_classes), np.int64)
    # an out-of-range prediction would land in another class's row: a bug upstream, never "ignore"
    if pred.min() < 0 or pred.max() >= n_classes:
        raise ValueError(f"pred holds labels outside [0, {n_classes}): "
                         f"min {pred.min()}, max {pred.max()}")
    if np.issubdtype(gt.dtype, np.signedinteger) and gt.min() < 0:
        keep = gt >= 0
        gt, pred = gt[keep], pred[keep]
    # With 0 <= p < C, the code g·C + p is >= C² exactly when g >= C, so gt labels past the last
    # class fall beyond the first C² bins and are cut off below without a masking pass.
    # 8-bit masks fit the code in uint16 (255·256 + 255 < 2¹⁶), which is the fastest path.
    code_dtype = np.uint16 if gt.dtype.itemsize == 1 and n_classes <= 256 else np.int64
    code = gt.astype(code_dtype).ravel()
    code *= n_classes
    code += pred.astype(code_dtype, copy=False).ravel()
    return _count(code, n_bins).reshape(n_classes, n_classes)


def _count(code: np.ndarray, n_bins: int) -> np.ndarray:
    """int64 counts of the values < n_bins in a 1-D code array."""
    # Masks are mostly long runs of one (gt, pred) pair: counting each run once is ~3x faster than
    # a bincount over every pixel. Noisy masks (many short runs) take the plain bincount instead.
    run_start = code[1:] != code[:-1]
    if np.count_nonzero(run_start) > code.size // 4:
        return np.bincount(code, minlength=n_bins)[:n_bins].astype(np.int64, copy=False)
    starts = np.concatenate(([0], np.flatnonzero(run_start) + 1))
    lengths = np.diff(starts, append=code.size)
    # float64 weights sum integers exactly far beyond any pixel count (< 2**53)
    counts = np.bincount(code[starts], weights=lengths, minlength=n_bins)[:n_bins]
    return counts.astype(np.int64)


class ConfusionMatrix:
    """Accumulating parsing state: ``update`` per mask, ``merge`` (or ``+``, ``sum``) across processes.

    The state is the int64 ``hist``, so states reduce exactly by summing, in any order.
    """

    def __init__(self, n_classes: int, hist: np.ndarray | None = None) -> None:
        self.n_classes = n_classes
        self.hist = np.zeros((n_classes, n_classes), np.int64) if hist is None else np.asarray(hist, np.int64)
        if self.hist.shape != (n_classes, n_classes):
            raise ValueError(f"hist has shape {self.hist.shape}; expected ({n_classes}, {n_classes})")

    def update(self, gt: np.ndarray, pred: np.ndarray) -> None:
        """Add the pixels of one mask (or a batch of masks); see `confusion_matrix`."""
        self.hist += confusion_matrix(gt, pred, self.n_classes)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """A new state holding the pixels of both."""
        if other.n_classes != self.n_classes:
            raise ValueError(f"cannot merge confusion matrices of {self.n_classes} and {other.n_classes} classes")
        return ConfusionMatrix(self.n_classes, self.hist + other.hist)

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def __radd__(self, other: int) -> ConfusionMatrix:
        # lets sum(states) start from its integer 0
        if other == 0:
            return self
        return NotImplemented

    def scores(self, label_names: Sequence[str]) -> dict[str, Metric]:
        """`parsing_scores` of the accumulated pixels."""
        return parsing_scores(self.hist, label_names)


def f1_per_class(hist: np.ndarray) -> np.ndarray:
    """F1 of each class in percent, from a (C, C) ``hist[gt, pred]``.

    Returns
    -------
    f1 : (C,) float array, 2·hist[c, c] / (Σ_pred=c + Σ_gt=c) × 100. A class absent from both
        ground truth and prediction has no F1 (0/0): NaN. A class only predicted, or only in the
        ground truth, scores 0.
    """
    hist = np.asarray(hist)
    denominator = hist.sum(axis=0) + hist.sum(axis=1)
    f1 = np.full(hist.shape[0], np.nan)
    present = denominator > 0
    f1[present] = 200.0 * np.diagonal(hist)[present] / denominator[present]
    return f1


def parsing_scores(hist: np.ndarray, label_names: Sequence[str]) -> dict[str, Metric]:
    """Parsing metrics from a (C, C) ``hist[gt, pred]``, all F1 in percent.

    Returns
    -------
    ``f1_mean``: unweighted mean of the F1 of every class except background (id 0), leaving out
    classes absent from both ground truth and prediction (NaN if all are); ``f1/<name>`` for each
    non-background class (NaN when absent from both); ``f1_background``.
    """
    hist = np.asarray(hist)
    if len(label_names) != hist.shape[0]:
        raise ValueError(f"{len(label_names)} label names for a {hist.shape[0]}-class confusion matrix")
    f1 = f1_per_class(hist)
    foreground = np.delete(f1, BACKGROUND)
    defined = foreground[~np.isnan(foreground)]
    metrics = {"f1_mean": Metric(float(defined.mean()) if defined.size else float("nan"), "%", True)}
    for class_id, name in enumerate(label_names):
        if class_id != BACKGROUND:
            metrics[f"f1/{name}"] = Metric(float(f1[class_id]), "%", True)
    metrics["f1_background"] = Metric(float(f1[BACKGROUND]), "%", True)
    return metrics
