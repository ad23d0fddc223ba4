"""Demographic classification (FairFace; any dataset with group labels): one softmax head per group
attribute (race, gender, age group, ...), trained together on the concatenated outputs.

The targets are the faces' `groups`, as class ids in the order of the dataset meta's `groups`; a
face without a value for an attribute (e.g. gender "unsure") is left out of that head's loss and
scores. Metrics per head: `acc/<head>` and `mean_class_acc/<head>`; `acc_mean` and
`mean_class_acc_mean` average them over the heads.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.families.base import ArrayScorer, Family, Metric, Scorer
from farl_bench.families.metrics.expression import accuracy, mean_class_accuracy
from farl_bench.registry import FAMILIES

#: Target id of a face without a value for one head: no loss, no score.
MISSING = -1


def demographic_scores(pred: np.ndarray, target: np.ndarray, heads: dict[str, list[str]]) -> dict[str, Metric]:
    """acc/<head>, mean_class_acc/<head> (%, faces with a target for that head) and their means over
    the heads. pred, target: N x H class ids (target MISSING where unknown); NaN for a head no face has."""
    metrics: dict[str, Metric] = {}
    for h, (head, classes) in enumerate(heads.items()):
        known = target[:, h] != MISSING
        p, t = pred[known, h].astype(np.int64), target[known, h].astype(np.int64)
        empty = not known.any()
        metrics[f"acc/{head}"] = Metric(np.nan if empty else accuracy(p, t), "%", True)
        metrics[f"mean_class_acc/{head}"] = Metric(np.nan if empty else mean_class_accuracy(p, t, len(classes)),
                                                   "%", True)
    for kind in ("acc", "mean_class_acc"):
        values = [metrics[f"{kind}/{head}"].value for head in heads]
        mean = float(np.nanmean(values)) if not np.isnan(values).all() else float("nan")
        metrics[f"{kind}_mean"] = Metric(mean, "%", True)
    return metrics


@FAMILIES.register("demographics")
class Demographics(Family):
    name = "demographics"
    selection_metric = "acc_mean"
    prediction_field = "groups"  # {head: class name or class id}

    def __init__(self, heads: Sequence[str] | None = None):
        """heads: the group attributes to predict, in order (default: every one of the dataset's)."""
        if heads is not None and (isinstance(heads, str) or not all(isinstance(h, str) for h in heads)):
            raise TypeError(f"heads must be a list of group names such as [race, gender], got {heads!r}")
        self.heads = list(heads) if heads is not None else None
        self._head_sizes: list[int] | None = None

    def classes(self, meta: dict[str, Any]) -> dict[str, list[str]]:
        """head -> its class names, from meta["groups"]. The first meta seen fixes the head sizes that
        `loss` and `decode` split the outputs by (they see no meta): one instance serves one dataset."""
        groups = meta.get("groups") or {}
        heads = self.heads if self.heads is not None else list(groups)
        unknown = [h for h in heads if h not in groups]
        if unknown or not heads:
            missing = f" {', '.join(unknown)}" if unknown else ""
            raise UserError(f"family demographics: the dataset has no group labels{missing} (its groups: "
                            f"{', '.join(groups) or 'none'}); set family_options.heads to some of them")
        classes = {h: list(groups[h]) for h in heads}
        sizes = [len(c) for c in classes.values()]
        if self._head_sizes is not None and sizes != self._head_sizes:
            raise ValueError(f"demographics heads of sizes {sizes}, but this family was set up for {self._head_sizes}")
        self._head_sizes = sizes
        return classes

    def _sizes(self) -> list[int]:
        if self._head_sizes is None:
            raise RuntimeError("demographics: num_outputs(meta) or scorer(meta) must come before loss or decode")
        return self._head_sizes

    def num_outputs(self, meta: dict[str, Any]) -> int:
        return sum(len(c) for c in self.classes(meta).values())

    def target(self, record: FaceRecord, data: DatasetSplits) -> np.ndarray:
        return np.array([classes.index(record.groups[h]) if h in record.groups else MISSING
                         for h, classes in self.classes(data.meta).items()], dtype=np.int64)

    def output_bias(self, records: list[FaceRecord], data: DatasetSplits) -> torch.Tensor:
        """Per head, the log training frequency of each class (smoothed by half a face)."""
        targets = np.stack([self.target(r, data) for r in records])
        parts = []
        for h, classes in enumerate(self.classes(data.meta).values()):
            counts = np.bincount(targets[targets[:, h] != MISSING, h], minlength=len(classes)) + 0.5
            parts.append(np.log(counts / counts.sum()))
        return torch.as_tensor(np.concatenate(parts), dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean over the heads of each head's cross-entropy over its faces with a target."""
        losses = []
        for h, logits in enumerate(outputs.split(self._sizes(), dim=1)):
            known = targets[:, h] != MISSING
            total = F.cross_entropy(logits.float(), targets[:, h].long().clamp_min(0), reduction="none")
            losses.append((total * known).sum() / known.sum().clamp_min(1))
        return torch.stack(losses).mean()

    def decode(self, outputs: torch.Tensor, crops: list[Any], shapes: list[tuple[int, int]]) -> list[Any]:
        ids = torch.stack([logits.argmax(dim=1) for logits in outputs.split(self._sizes(), dim=1)], dim=1)
        return list(ids.cpu().numpy())

    def scorer(self, meta: dict[str, Any]) -> Scorer:
        heads = self.classes(meta)
        return ArrayScorer(lambda p, t: demographic_scores(np.asarray(p).reshape(len(t), -1), t, heads))

    def parse_prediction(self, value: Any, base_dir: Any, meta: dict[str, Any]) -> np.ndarray:
        heads = self.classes(meta)
        wanted = "{" + ", ".join(f'"{h}": one of {"/".join(c)} (or its index)' for h, c in heads.items()) + "}"
        if not isinstance(value, dict) or set(value) != set(heads):
            raise ValueError(f"expected {wanted}, got {value!r:.80}")
        ids = []
        for head, classes in heads.items():
            v = value[head]
            if isinstance(v, str) and v in classes:
                ids.append(classes.index(v))
            elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(classes):
                ids.append(v)
            else:
                raise ValueError(f"expected {head} one of {', '.join(classes)} (or an index 0..{len(classes) - 1}), "
                                 f"got {v!r:.40}")
        return np.array(ids, dtype=np.int64)

    def metric_names(self, meta: dict[str, Any] | None) -> list[str]:
        heads = list(self.classes(meta)) if meta else (self.heads or ["*"])
        per_head = (f"{kind}/{h}" for kind in ("acc", "mean_class_acc") for h in heads)
        return ["acc_mean", "mean_class_acc_mean", *per_head]
