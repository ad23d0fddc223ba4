"""The family interface: targets from records, a loss on logits, decoding, and scoring."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from farl_bench.data.records import FaceRecord


@dataclass(frozen=True)
class Metric:
    value: float
    unit: str              # "%", "years", "fraction"
    higher_is_better: bool


class Family:
    """Subclasses define what a task of this kind predicts and how it is scored."""

    name: str
    selection_metric: str  # the metric that picks hyper-parameters on the validation split

    def targets(self, records: list[FaceRecord], meta: dict[str, Any]) -> np.ndarray:
        raise NotImplementedError

    def num_outputs(self, meta: dict[str, Any]) -> int:
        raise NotImplementedError

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch; logits N x num_outputs, targets as `targets()` gives them."""
        raise NotImplementedError

    def predict(self, logits: torch.Tensor) -> np.ndarray:
        raise NotImplementedError

    def score(self, predictions: np.ndarray, targets: np.ndarray, meta: dict[str, Any]) -> dict[str, Metric]:
        raise NotImplementedError
