"""Age estimation: MAE, cumulative score CS@k and the ε-error of apparent-age datasets.

Follows PROTOCOLS.md "Age": MAE; CS@k = share with |error| <= k (k = 5);
ε-error = mean(1 − exp(−(p − μ)² / (2σ²))) where the apparent-age std σ is given.
"""
from __future__ import annotations

import numpy as np

from farl_bench.families.base import Metric


def _as_vectors(*arrays: np.ndarray) -> list[np.ndarray]:
    vectors = [np.asarray(a, np.float64) for a in arrays]
    shapes = {v.shape for v in vectors}
    if len(shapes) != 1 or vectors[0].ndim != 1 or vectors[0].size == 0:
        raise ValueError(f"expected (N,) arrays of one length, N > 0; got shapes {[v.shape for v in vectors]}")
    return vectors


def mae(pred: np.ndarray, age: np.ndarray) -> float:
    """Mean absolute error in years. pred, age: (N,) years."""
    pred, age = _as_vectors(pred, age)
    return float(np.abs(pred - age).mean())


def cs_at_k(pred: np.ndarray, age: np.ndarray, k: float = 5) -> float:
    """Cumulative score: percent of faces with |pred − age| <= k years. pred, age: (N,) years."""
    pred, age = _as_vectors(pred, age)
    return float(np.mean(np.abs(pred - age) <= k) * 100.0)


def eps_error(pred: np.ndarray, age_mean: np.ndarray, age_std: np.ndarray) -> float:
    """ε-error, a fraction in [0, 1): mean over faces of 1 − exp(−(p − μ)² / (2σ²)).

    Parameters
    ----------
    pred : (N,) years.
    age_mean : (N,) years, μ, the apparent-age mean of each face.
    age_std : (N,) years, σ, the apparent-age standard deviation of each face, all > 0.
    """
    pred, age_mean, age_std = _as_vectors(pred, age_mean, age_std)
    if not np.all(age_std > 0):
        raise ValueError(f"{np.count_nonzero(~(age_std > 0))} face(s) have an age std <= 0; "
                         "the ε-error needs σ > 0")
    return float(np.mean(1.0 - np.exp(-((pred - age_mean) ** 2) / (2.0 * age_std**2))))


def age_scores(pred: np.ndarray, age: np.ndarray, age_std: np.ndarray | None = None,
               k: float = 5) -> dict[str, Metric]:
    """``mae`` (years), ``cs@<k>`` (%) and, when `age_std` is given, ``eps_error`` (fraction).

    `age` is the target: the apparent-age mean μ where the dataset gives one. All arrays (N,).
    """
    metrics = {"mae": Metric(mae(pred, age), "years", False),
               f"cs@{k:g}": Metric(cs_at_k(pred, age, k), "%", True)}
    if age_std is not None:
        metrics["eps_error"] = Metric(eps_error(pred, age, age_std), "fraction", False)
    return metrics
