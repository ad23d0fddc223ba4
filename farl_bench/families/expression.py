"""Facial expression (RAF-DB, AffectNet, FERPlus, FER2013): a multi-class head with cross-entropy."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.families.base import ArrayScorer, Family, Scorer, numbers
from farl_bench.families.metrics.expression import expression_scores
from farl_bench.registry import FAMILIES


@FAMILIES.register("expression")
class Expression(Family):
    name = "expression"
    selection_metric = "acc"
    prediction_field = "expression"  # a class index, or one probability per class

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return len(meta["expression_names"])

    def parse_prediction(self, value: Any, base_dir: Any, meta: dict[str, Any]) -> np.ndarray:
        n = self.num_outputs(meta)
        wanted = f"a class index 0..{n - 1} or {n} class probabilities"
        prediction = numbers(value, wanted)
        label = prediction.ndim == 0 and prediction == int(prediction) and 0 <= prediction < n
        if not (label or prediction.shape == (n,)):
            raise ValueError(f"expected {wanted}, got {value!r:.60}")
        return prediction

    def prediction_form(self, prediction: np.ndarray) -> str:
        return "a class index" if prediction.ndim == 0 else "class probabilities"

    def target(self, record: FaceRecord, data: DatasetSplits) -> int:
        return int(record.expression)

    def output_bias(self, records: list[FaceRecord], data: DatasetSplits) -> torch.Tensor:
        """Log training frequency of each class (smoothed by half a face, so never -inf)."""
        counts = np.bincount([self.target(r, data) for r in records], minlength=self.num_outputs(data.meta)) + 0.5
        return torch.as_tensor(np.log(counts / counts.sum()), dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets.long())

    def decode(self, outputs: torch.Tensor, crops: list[Any], shapes: list[tuple[int, int]]) -> list[Any]:
        return list(outputs.argmax(dim=1).cpu().numpy())

    def scorer(self, meta: dict[str, Any]) -> Scorer:
        names = meta["expression_names"]

        def score(pred: np.ndarray, target: np.ndarray):
            if pred.ndim == 2:  # class probabilities given
                pred = pred.argmax(axis=1)
            return expression_scores(pred.astype(int), target.astype(int), names)

        return ArrayScorer(score)

    def metric_names(self, meta: dict[str, Any] | None) -> list[str]:
        classes = meta["expression_names"] if meta else ["*"]
        return ["acc", "mean_class_acc", "macro_f1", *(f"acc/{name}" for name in classes)]
