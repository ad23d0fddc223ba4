"""Binary face attributes (CelebA, LFWA): a multi-label head, BCE, accuracy per attribute."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.families.base import ArrayScorer, Family, Metric, Scorer, numbers
from farl_bench.registry import FAMILIES


class _BCEWithLogits(torch.autograd.Function):
    """Mean binary cross-entropy of logits, as F.binary_cross_entropy_with_logits (within 1e-7 an
    element), ~5x faster on CPU: torch's log1p (in its log-sigmoid) is not vectorised on CPU (measured
    11x slower than log), and a linear grid's loss runs over 8 x 40 outputs a face. Backward is the
    exact gradient, sigmoid(x) - y."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        x, y = logits.float(), targets.float()
        ctx.save_for_backward(x, y)
        ctx.dtype = logits.dtype
        # log(1 + e^-|x|) loses only values below fp32's step at 1 (< 6e-8) against log1p
        return (x.clamp_min(0) - x * y + x.abs().neg_().exp_().add_(1).log_()).mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        x, y = ctx.saved_tensors
        return ((x.sigmoid() - y) * (grad / x.numel())).to(ctx.dtype), None


def attribute_accuracy(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-attribute accuracy in percent. pred, target: N x A bool."""
    return (pred == target).mean(axis=0) * 100.0


def balanced_accuracy(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-attribute mean of the recalls of the classes present (as scikit-learn), in percent."""
    pred, target = np.asarray(pred, bool), np.asarray(target, bool)
    positives = target.sum(axis=0)
    hits = np.stack([(~pred & ~target).sum(axis=0), (pred & target).sum(axis=0)])
    present = np.stack([len(target) - positives, positives])
    # a class absent from an attribute's targets has no recall and is left out of its mean
    recalls = np.divide(hits, present, out=np.zeros(hits.shape), where=present > 0)
    classes = (present > 0).sum(axis=0)
    return np.where(classes > 0, recalls.sum(axis=0) / np.maximum(classes, 1) * 100.0, np.nan)


def attribute_scores(pred: np.ndarray, target: np.ndarray, names: list[str]) -> dict[str, Metric]:
    """acc_mean, bacc_mean and acc/<name>, in percent. pred, target: N x A bool (or probabilities >= 0.5)."""
    pred = pred >= 0.5 if pred.dtype != bool else pred
    acc = attribute_accuracy(pred, target)
    metrics = {"acc_mean": Metric(float(acc.mean()), "%", True),
               "bacc_mean": Metric(float(balanced_accuracy(pred, target).mean()), "%", True)}
    for name, value in zip(names, acc):
        metrics[f"acc/{name}"] = Metric(float(value), "%", True)
    return metrics


@FAMILIES.register("attributes")
class Attributes(Family):
    name = "attributes"
    selection_metric = "acc_mean"
    prediction_field = "attributes"  # probabilities (or 0/1) per attribute

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return len(meta["attribute_names"])

    def parse_prediction(self, value: Any, base_dir: Any, meta: dict[str, Any]) -> np.ndarray:
        n = self.num_outputs(meta)
        wanted = f"{n} probabilities (0..1), one per attribute in the dataset's order"
        probabilities = numbers(value, wanted)
        if probabilities.shape != (n,) or (probabilities < 0).any() or (probabilities > 1).any():
            raise ValueError(f"expected {wanted}, got {value!r:.60}")
        return probabilities

    def format_prediction(self, prediction: Any, target: Any) -> list[int]:
        return np.asarray(prediction, np.uint8).tolist()  # 0/1 per attribute

    def target(self, record: FaceRecord, data: DatasetSplits) -> np.ndarray:
        return np.asarray(record.attributes, bool)

    def output_bias(self, records: list[FaceRecord], data: DatasetSplits) -> torch.Tensor:
        """Log-odds of each attribute's training rate (smoothed by half a face, so never infinite)."""
        rate = (np.stack([self.target(r, data) for r in records]).sum(axis=0) + 0.5) / (len(records) + 1.0)
        return torch.as_tensor(np.log(rate / (1.0 - rate)), dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return _BCEWithLogits.apply(outputs, targets)

    def decode(self, outputs: torch.Tensor, crops: list[Any], shapes: list[tuple[int, int]]) -> list[Any]:
        return list((outputs > 0).cpu().numpy())

    def scorer(self, meta: dict[str, Any]) -> Scorer:
        return ArrayScorer(lambda p, t: attribute_scores(p, t.astype(bool), meta["attribute_names"]))

    def metric_names(self, meta: dict[str, Any] | None) -> list[str]:
        return ["acc_mean", "bacc_mean", *(f"acc/{name}" for name in (meta["attribute_names"] if meta else ["*"]))]
