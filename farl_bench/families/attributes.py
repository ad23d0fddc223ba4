"""Binary face attributes (CelebA, LFWA): a multi-label head, BCE, accuracy per attribute."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from farl_bench.data.records import FaceRecord
from farl_bench.families.base import Family, Metric
from farl_bench.registry import FAMILIES


def attribute_accuracy(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-attribute accuracy in percent. pred, target: N x A bool."""
    return (pred == target).mean(axis=0) * 100.0


def balanced_accuracy(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-attribute mean of the recalls of the classes present (as scikit-learn), in percent."""
    out = np.empty(target.shape[1])
    for a in range(target.shape[1]):
        recalls = [(pred[target[:, a] == c, a] == c).mean() for c in (False, True) if (target[:, a] == c).any()]
        out[a] = np.mean(recalls) * 100.0
    return out


@FAMILIES.register("attributes")
class Attributes(Family):
    name = "attributes"
    selection_metric = "acc_mean"

    def targets(self, records: list[FaceRecord], meta: dict[str, Any]) -> np.ndarray:
        return np.stack([r.attributes for r in records]).astype(bool)

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return len(meta["attribute_names"])

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, targets.float())

    def predict(self, logits: torch.Tensor) -> np.ndarray:
        return (logits > 0).cpu().numpy()

    def score(self, predictions: np.ndarray, targets: np.ndarray, meta: dict[str, Any]) -> dict[str, Metric]:
        acc = attribute_accuracy(predictions, targets)
        bacc = balanced_accuracy(predictions, targets)
        metrics = {"acc_mean": Metric(float(acc.mean()), "%", True),
                   "bacc_mean": Metric(float(bacc.mean()), "%", True)}
        for name, value in zip(meta["attribute_names"], acc):
            metrics[f"acc/{name}"] = Metric(float(value), "%", True)
        return metrics
