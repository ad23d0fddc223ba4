"""Face alignment: NME under a named normaliser; CED, AUC and failure rate at a threshold.

Follows PROTOCOLS.md "Alignment metrics". Normalisers are data, named in the dataset meta
(e.g. ``{"io": {"type": "points", "a": [36], "b": [45]}}``), never indices chosen by dataset name.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.integrate import simpson

from farl_bench.families.base import Metric

DEFAULT_STEP = 1e-4


def nme_per_image(pred: np.ndarray, gt: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Normalised mean error of each image: mean over points of ||pred_k − gt_k|| / norm.

    Parameters
    ----------
    pred, gt : (N, K, 2) arrays, pixels.
    norm : (N,) array, pixels, all > 0 (see `normaliser`).

    Returns
    -------
    nme : (N,) float array, a fraction of the normalising distance (not ×100).
    """
    pred, gt, norm = (np.asarray(a, np.float64) for a in (pred, gt, norm))
    if pred.shape != gt.shape or gt.ndim != 3 or gt.shape[2] != 2:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must both be N x K x 2")
    if norm.shape != (gt.shape[0],):
        raise ValueError(f"norm has shape {norm.shape}; expected ({gt.shape[0]},), one per image")
    if not np.all(norm > 0):
        raise ValueError(f"{np.count_nonzero(~(norm > 0))} image(s) have a normalising distance <= 0 "
                         "(coincident reference points or an empty box)")
    # x and y apart, in place: 2-3x faster than np.linalg.norm over a length-2 axis
    dx, dy = pred[..., 0] - gt[..., 0], pred[..., 1] - gt[..., 1]
    dx *= dx
    dy *= dy
    dx += dy
    return np.sqrt(dx, out=dx).mean(axis=1) / norm


def _between_points(gt: np.ndarray, boxes: np.ndarray | None, definition: Mapping[str, Any]) -> np.ndarray:
    try:
        a, b = np.atleast_1d(definition["a"]), np.atleast_1d(definition["b"])
    except KeyError as missing:
        raise ValueError(f"normaliser {dict(definition)} has no key {missing}; "
                         "a 'points' normaliser needs point index lists 'a' and 'b'") from None
    n_points = gt.shape[1]
    if min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_points:
        raise ValueError(f"normaliser {dict(definition)} names points outside 0..{n_points - 1}")
    return np.linalg.norm(gt[:, a].mean(axis=1) - gt[:, b].mean(axis=1), axis=-1)


def _box_sides(boxes: np.ndarray | None, n_images: int) -> tuple[np.ndarray, np.ndarray]:
    if boxes is None:
        raise ValueError("a box normaliser needs boxes (N x 4: x_min, y_min, x_max, y_max)")
    boxes = np.asarray(boxes, np.float64)
    if boxes.shape != (n_images, 4):
        raise ValueError(f"boxes have shape {boxes.shape}; expected ({n_images}, 4): x_min, y_min, x_max, y_max")
    return boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]


def _box_sqrt_area(gt: np.ndarray, boxes: np.ndarray | None, definition: Mapping[str, Any]) -> np.ndarray:
    w, h = _box_sides(boxes, gt.shape[0])
    return np.sqrt(w * h)


def _box_diagonal(gt: np.ndarray, boxes: np.ndarray | None, definition: Mapping[str, Any]) -> np.ndarray:
    w, h = _box_sides(boxes, gt.shape[0])
    return np.sqrt(w * w + h * h)


_NORMALISERS: dict[str, Callable[[np.ndarray, np.ndarray | None, Mapping[str, Any]], np.ndarray]] = {
    "points": _between_points,
    "bbox_sqrt_area": _box_sqrt_area,
    "bbox_diag": _box_diagonal,
}


def normaliser(gt: np.ndarray, boxes: np.ndarray | None, definition: Mapping[str, Any]) -> np.ndarray:
    """The normalising distance of each image, in pixels.

    Parameters
    ----------
    gt : (N, K, 2) array, ground-truth landmarks in pixels.
    boxes : (N, 4) array (x_min, y_min, x_max, y_max) in pixels, or None when no box is needed.
    definition : mapping, from the dataset meta, one of
        ``{"type": "points", "a": [i, ...], "b": [j, ...]}``: distance between the mean of points
        `a` and the mean of points `b` (one index each gives a point-to-point distance);
        ``{"type": "bbox_sqrt_area"}``: sqrt(w·h) of the box;
        ``{"type": "bbox_diag"}``: sqrt(w² + h²) of the box.

    Returns
    -------
    norm : (N,) float array, pixels.
    """
    gt = np.asarray(gt, np.float64)
    if gt.ndim != 3 or gt.shape[2] != 2:
        raise ValueError(f"gt has shape {gt.shape}; expected N x K x 2")
    kind = definition.get("type")
    if kind not in _NORMALISERS:
        raise ValueError(f"normaliser type {kind!r} is unknown; expected one of {', '.join(_NORMALISERS)}")
    return _NORMALISERS[kind](gt, boxes, definition)


def _check_threshold(threshold: float, step: float) -> None:
    if not 0 < step <= threshold:
        raise ValueError(f"need 0 < step <= threshold, got step {step} and threshold {threshold}")


def exact_grid(threshold: float, step: float = DEFAULT_STEP) -> np.ndarray:
    """x = 0, step, ..., T: round(T / step) + 1 equally spaced points, the last exactly T."""
    _check_threshold(threshold, step)
    return np.linspace(0.0, threshold, round(threshold / step) + 1)


def farl_grid(threshold: float, step: float = DEFAULT_STEP) -> np.ndarray:
    """FaRL's ``np.arange(0, T + step, step)``: for T = 0.07, 702 points ending at 0.0701."""
    _check_threshold(threshold, step)
    return np.arange(0.0, threshold + step, step)


def ced(nme: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Cumulative error distribution: the share (fraction) of images with nme <= x, for each x.

    Parameters
    ----------
    nme : (N,) array, N > 0, fractions (see `nme_per_image`). NaN never counts as <= x.
    grid : (M,) array of x values, fractions.

    Returns
    -------
    ced : (M,) float array in [0, 1].
    """
    nme = np.asarray(nme, np.float64)
    if nme.ndim != 1 or nme.size == 0:
        raise ValueError(f"nme has shape {nme.shape}; expected (N,) with N > 0")
    # np.sort puts NaN last and searchsorted orders it the same way, so NaN is never <= x
    return np.searchsorted(np.sort(nme), grid, side="right") / nme.size


def ced_auc_fr(nme: np.ndarray, threshold: float, step: float = DEFAULT_STEP) -> tuple[float, float]:
    """AUC and failure rate at `threshold` on the exact grid (`exact_grid`).

    AUC = Simpson integral (scipy.integrate.simpson) of the CED over [0, T], divided by T;
    FR = share of images with nme > T (NaN counts as a failure). Both are fractions in [0, 1].
    """
    nme = np.asarray(nme, np.float64)
    grid = exact_grid(threshold, step)
    curve = ced(nme, grid)
    failure_rate = float(np.count_nonzero(~(nme <= threshold)) / nme.size)
    return float(simpson(curve, x=grid) / threshold), failure_rate


def simps_avg(y: np.ndarray, x: np.ndarray) -> float:
    """Old ``scipy.integrate.simps(y, x=x)`` (default ``even='avg'``, scipy <= 1.10), for 1-D y, x.

    With an odd number of points this is the composite Simpson rule. With an even number it is the
    average of two results: Simpson on the first N−1 points plus the trapezoid on the last interval,
    and the trapezoid on the first interval plus Simpson on the last N−1 points. Recent scipy
    dropped `even` (1.13) and integrates even counts differently, so it is rebuilt here with
    scipy's own arithmetic, to reproduce numbers made with it.
    """
    y, x = np.asarray(y, np.float64), np.asarray(x, np.float64)
    if y.ndim != 1 or y.shape != x.shape or y.size < 3:
        raise ValueError(f"y {y.shape} and x {x.shape} must be 1-D, of one length, with >= 3 points")
    n = y.size
    if n % 2:
        return float(_simpson_panels(y, x, 0, n - 2))
    trapezoids = 0.5 * (x[-1] - x[-2]) * (y[-1] + y[-2]) + 0.5 * (x[1] - x[0]) * (y[1] + y[0])
    simpsons = _simpson_panels(y, x, 0, n - 3) + _simpson_panels(y, x, 1, n - 2)
    return float(simpsons / 2.0 + trapezoids / 2.0)


def _simpson_panels(y: np.ndarray, x: np.ndarray, start: int, stop: int) -> float:
    """Simpson's rule on the panels [x_i, x_i+2] for i = start, start+2, ... < stop, with
    possibly unequal spacings (old scipy ``_basic_simps`` with sample points)."""
    h = np.diff(x)
    h0, h1 = h[start:stop:2], h[start + 1:stop + 1:2]
    y0, y1, y2 = y[start:stop:2], y[start + 1:stop + 1:2], y[start + 2:stop + 2:2]
    hsum, hprod, h0divh1 = h0 + h1, h0 * h1, h0 / h1
    return np.sum(hsum / 6.0 * (y0 * (2.0 - 1.0 / h0divh1) + y1 * (hsum * (hsum / hprod)) + y2 * (2.0 - h0divh1)))


def ced_auc_fr_farl(nme: np.ndarray, threshold: float, step: float = DEFAULT_STEP) -> tuple[float, float]:
    """AUC and failure rate exactly as FaRL's code computes them (fractions in [0, 1]).

    The CED is taken on `farl_grid` (for T = 0.07: 702 points up to 0.0701), integrated with
    `simps_avg` and divided by T; FR = 1 − CED at the last grid point (0.0701 for T = 0.07).
    For T = 0.10 the grid is the exact one and the values agree with `ced_auc_fr`.
    """
    grid = farl_grid(threshold, step)
    curve = ced(nme, grid)
    return simps_avg(curve, grid) / threshold, float(1.0 - curve[-1])


def threshold_text(threshold: float) -> str:
    """0.1 -> '0.10', 0.07 -> '0.07', 0.075 -> '0.075'."""
    text = f"{threshold:.2f}"
    return text if float(text) == threshold else f"{threshold:g}"


def landmark_scores(pred: np.ndarray, gt: np.ndarray, boxes: np.ndarray | None,
                    normalisers: Mapping[str, Mapping[str, Any]],
                    thresholds: Mapping[str, float | Sequence[float]]) -> dict[str, Metric]:
    """Alignment metrics in percent, each named with its normaliser.

    Parameters
    ----------
    pred, gt : (N, K, 2) arrays, pixels.
    boxes : (N, 4) array (x_min, y_min, x_max, y_max) or None when no normaliser uses boxes.
    normalisers : name -> definition (see `normaliser`), e.g. ``{"io": {...}, "ip": {...}}``.
    thresholds : normaliser name -> T or a list of T, e.g. ``{"io": 0.10}``; names left out get
        NME only.

    Returns
    -------
    ``nme_<norm>`` for each normaliser; for each (norm, T): ``auc@<T>_<norm>``, ``fr@<T>_<norm>``
    on the exact grid and ``auc@<T>_<norm>_farl``, ``fr@<T>_<norm>_farl`` as FaRL computes them
    (e.g. ``auc@0.07_box_farl``). All ×100, unit "%".
    """
    unknown = set(thresholds) - set(normalisers)
    if unknown:
        raise ValueError(f"thresholds for {', '.join(sorted(unknown))}, which are not normalisers "
                         f"({', '.join(normalisers)})")
    metrics: dict[str, Metric] = {}
    for name, definition in normalisers.items():
        nme = nme_per_image(pred, gt, normaliser(gt, boxes, definition))
        if nme.size == 0:
            raise ValueError("no images to score")
        metrics[f"nme_{name}"] = Metric(100.0 * float(nme.mean()), "%", False)
        for threshold in np.atleast_1d(thresholds.get(name, [])):
            suffix = f"{threshold_text(float(threshold))}_{name}"
            for variant, compute in (("", ced_auc_fr), ("_farl", ced_auc_fr_farl)):
                auc, fr = compute(nme, float(threshold))
                metrics[f"auc@{suffix}{variant}"] = Metric(100.0 * auc, "%", True)
                metrics[f"fr@{suffix}{variant}"] = Metric(100.0 * fr, "%", False)
    return metrics
