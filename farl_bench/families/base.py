"""The family interface: targets, a head, a loss, decoding to the original image, and scoring.

Pooled families (attributes, age, expression) predict one row per face from pooled features;
dense families (parsing, landmarks) predict maps, decoded back through each face's crop so that
scores are computed in the original image space.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from farl_bench.backbones import FeatureSpec
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.families.heads import PooledHead

#: Hidden width of the pooled head under the `frozen` protocol.
FROZEN_HIDDEN = 512


@dataclass(frozen=True)
class Metric:
    value: float
    unit: str              # "%", "years", "fraction"
    higher_is_better: bool


class Scorer:
    """Accumulates predictions and targets (original image space); `compute` gives named metrics.

    The state is per-sample lists (named in `state`), so the scorers of several processes merge
    exactly: their lists concatenated in rank order are what one process would hold.
    """

    #: Names of the per-sample list attributes that make up the state, in update order.
    state: tuple[str, ...] = ()

    def state_dict(self) -> dict[str, list[Any]]:
        return {name: getattr(self, name) for name in self.state}

    def merge(self, parts: list[dict[str, list[Any]]]) -> None:
        """Replace the state by the concatenation of `parts` (state_dicts, in order)."""
        for name in self.state:
            setattr(self, name, [x for part in parts for x in part[name]])
        self._stacked = None  # caches of the stacked state are stale

    def update(self, predictions: list[Any], targets: list[Any]) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, Metric]:
        raise NotImplementedError

    def resample(self, rows: np.ndarray) -> dict[str, Metric]:
        """The metrics of the samples at `rows` (indices in update order, repeats allowed): one
        bootstrap replicate. A scorer that cannot re-score samples leaves this out (no interval)."""
        raise NotImplementedError


class ArrayScorer(Scorer):
    """For pooled families: stack rows, then score the arrays in one call."""

    state = ("_pred", "_target")

    def __init__(self, score: Callable[[np.ndarray, np.ndarray], dict[str, Metric]]):
        self._score = score
        self._pred: list[Any] = []
        self._target: list[Any] = []
        self._stacked: tuple[np.ndarray, np.ndarray] | None = None

    def update(self, predictions: list[Any], targets: list[Any]) -> None:
        self._pred.extend(predictions)
        self._target.extend(targets)
        self._stacked = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._stacked is None:  # stacked once for the many resamples of a bootstrap
            self._stacked = np.asarray(self._pred), np.asarray(self._target)
        return self._stacked

    def compute(self) -> dict[str, Metric]:
        return self._score(*self._arrays())

    def resample(self, rows: np.ndarray) -> dict[str, Metric]:
        pred, target = self._arrays()
        return self._score(pred[rows], target[rows])


def numbers(value: Any, wanted: str) -> np.ndarray:
    """`value` as a float64 array; ValueError naming `wanted` when it holds anything but numbers."""
    try:
        out = np.asarray(value, np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"expected {wanted}, got {value!r:.60}") from None
    if not np.isfinite(out).all():
        raise ValueError(f"expected {wanted}, got a NaN or infinite value")
    return out


class Family:
    """Subclasses define what a task of this kind predicts and how it is scored.

    Options come from the task spec's `family_options` and are passed to the constructor.
    """

    name: str
    selection_metric: str  # picks hyper-parameters and epochs on the validation split
    dense: bool = False    # dense families train on maps and decode through the crop

    def num_outputs(self, meta: dict[str, Any]) -> int:
        raise NotImplementedError

    def target(self, record: FaceRecord, data: DatasetSplits) -> Any:
        """The ground truth of one face in the original image space, as the scorer takes it."""
        raise NotImplementedError

    def train_target(self, record: FaceRecord, crop: Any, data: DatasetSplits,
                     image_hw: tuple[int, int]) -> np.ndarray:
        """The target the loss sees, in crop space (pooled families: the same as `target`)."""
        return np.asarray(self.target(record, data))

    def selection_key(self, meta: dict[str, Any]) -> str:
        """The metric that chooses settings and epochs on the selection split."""
        return self.selection_metric

    def build_head(self, spec: FeatureSpec, meta: dict[str, Any], linear: bool) -> nn.Module:
        """A head mapping (levels, pooled) to outputs; `linear` for the linear protocol."""
        return PooledHead(spec.pooled_dim, self.num_outputs(meta), 0 if linear else FROZEN_HIDDEN)

    def output_bias(self, records: list[FaceRecord], data: DatasetSplits) -> torch.Tensor | None:
        """The head's starting output bias (n_out,): the best constant prediction for these training
        faces under the loss, so an untrained head predicts the trivial baseline and training moves
        it only where the features help. None (dense families): the head keeps its own init."""
        return None

    def augmentation(self, meta: dict[str, Any], seed: int) -> Any:
        """The training augmentation (image, target) -> (image, target), or None for none."""
        return None

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean loss over the batch; targets batched from `train_target`."""
        raise NotImplementedError

    def loss_terms(self, targets: torch.Tensor) -> int:
        """How many terms `loss` averages over for these targets (samples, unless a family leaves
        some out): a batch split into parts weights each part's loss by its share of them."""
        return len(targets)

    def decode(self, outputs: torch.Tensor, crops: list[Any], shapes: list[tuple[int, int]]) -> list[Any]:
        """Outputs of a batch -> one prediction per face in the original image (H, W) space."""
        raise NotImplementedError

    def scorer(self, meta: dict[str, Any]) -> Scorer:
        raise NotImplementedError

    def metric_names(self, meta: dict[str, Any] | None) -> list[str] | None:
        """The names `scorer(meta)` gives, as shell patterns (task specs' `metrics` are checked
        against them): with meta None (a spec loaded before its dataset is read), the parts a
        dataset decides are '*'. None where a family does not say: its specs go unchecked."""
        return None

    #: The field of an outside prediction (one JSON line per face) that this family reads.
    prediction_field: str = ""

    def parse_prediction(self, value: Any, base_dir: Any, meta: dict[str, Any]) -> Any:
        """One outside prediction (the JSON value of `prediction_field`) -> what `decode` gives;
        ValueError or TypeError, saying what is wrong, for a value the family cannot score."""
        return numbers(value, "a number or a list of numbers")

    def format_prediction(self, prediction: Any, target: Any) -> Any:
        """The inverse of `parse_prediction`: a decoded prediction (as `decode` gives it) as the JSON
        value of `prediction_field`, scored exactly as the prediction itself against `target`."""
        return np.asarray(prediction).tolist()  # floats keep every bit: json writes their shortest repr

    def check_prediction(self, prediction: Any, target: Any) -> None:
        """ValueError when a parsed outside prediction cannot be scored against its face's `target`
        as it is (a label map of another size than the ground truth's, for example)."""

    def prediction_form(self, prediction: Any) -> str:
        """The form of a parsed outside prediction, where a family accepts several (a class index or
        class probabilities): the faces of one predictions file must all take one form."""
        return "a value"

    def score(self, predictions: list[Any], targets: list[Any], meta: dict[str, Any]) -> dict[str, Metric]:
        """Score whole lists at once (selection on val, outside predictions)."""
        scorer = self.scorer(meta)
        scorer.update(list(predictions), list(targets))
        return scorer.compute()
