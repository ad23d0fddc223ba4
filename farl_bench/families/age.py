"""Age (UTKFace, APPA-REAL, FG-NET, MORPH): label-distribution learning over one-year bins (default)
or plain regression. The label-distribution head predicts the expectation over its bins."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.families.base import ArrayScorer, Family, Scorer, numbers
from farl_bench.families.metrics.age import age_scores
from farl_bench.registry import FAMILIES

#: Regression outputs are in units of this many years, so a zero-initialised head starts sensibly.
AGE_SCALE = 50.0


@FAMILIES.register("age")
class Age(Family):
    """Options: head = "ldl" (label distribution, Gaussian targets of width `sigma` years, loss KL +
    L1 of the expectation) or "regression" (L1); `max_age` (years, the last bin)."""

    name = "age"
    selection_metric = "mae"
    prediction_field = "age"  # years

    def __init__(self, head: str = "ldl", max_age: int = 100, sigma: float = 2.0):
        if head not in ("ldl", "regression"):
            raise UserError(f"age head {head!r}: choose ldl or regression")
        self.head, self.max_age, self.sigma = head, max_age, sigma
        self.bins = torch.arange(max_age + 1, dtype=torch.float32)

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return self.max_age + 1 if self.head == "ldl" else 1

    def parse_prediction(self, value: Any, base_dir: Any, meta: dict[str, Any]) -> np.ndarray:
        age = numbers(value, "an age in years")
        if age.ndim != 0:
            raise ValueError(f"expected one age in years, got {age.size} numbers")
        return age

    def target(self, record: FaceRecord, data: DatasetSplits) -> np.ndarray:
        """(age, age_std) in years; age_std is NaN where the dataset gives none."""
        std = record.age_std if record.age_std is not None else np.nan
        return np.array([record.age, std], np.float64)  # exact: outside predictions are scored against it

    def _expectation(self, outputs: torch.Tensor) -> torch.Tensor:
        if self.head == "regression":
            return outputs[:, 0] * AGE_SCALE
        return outputs.softmax(dim=1) @ self.bins.to(outputs.device)

    def _distributions(self, age: torch.Tensor) -> torch.Tensor:
        """(N,) years -> N x bins: the Gaussian label distributions the ldl head learns."""
        bins = self.bins.to(age.device)
        dist = torch.exp(-0.5 * ((bins[None] - age[:, None]) / self.sigma) ** 2)
        return dist / dist.sum(dim=1, keepdim=True)

    def output_bias(self, records: list[FaceRecord], data: DatasetSplits) -> torch.Tensor:
        """ldl: log of the mean training label distribution (the KL's best constant); regression:
        the median training age (the L1's), in AGE_SCALE units."""
        age = torch.tensor([r.age for r in records], dtype=torch.float32)
        if self.head == "regression":
            return age.median().reshape(1) / AGE_SCALE
        return torch.log(self._distributions(age).mean(dim=0) + 1e-8)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        age = targets[:, 0].float()
        l1 = F.l1_loss(self._expectation(outputs), age)
        if self.head == "regression":
            return l1 / AGE_SCALE
        kl = F.kl_div(outputs.log_softmax(dim=1), self._distributions(age), reduction="batchmean")
        return kl + l1 / AGE_SCALE

    def decode(self, outputs: torch.Tensor, crops: list[Any], shapes: list[tuple[int, int]]) -> list[Any]:
        return list(self._expectation(outputs.float()).cpu().numpy())

    def scorer(self, meta: dict[str, Any]) -> Scorer:
        def score(pred: np.ndarray, target: np.ndarray):
            std = target[:, 1]
            return age_scores(pred.astype(float), target[:, 0].astype(float),
                              None if np.isnan(std).any() else std.astype(float))

        return ArrayScorer(score)

    def metric_names(self, meta: dict[str, Any] | None) -> list[str]:
        return ["mae", "cs@5", "eps_error"]  # eps_error where the faces have an age std
