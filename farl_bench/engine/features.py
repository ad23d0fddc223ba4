"""Frozen features of whole splits, computed once per backbone and task, with the train targets."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.data import DataLoader

from farl_bench.backbones import Backbone
from farl_bench.data.records import FaceRecord
from farl_bench.data.samples import FaceSamples


@torch.inference_mode()
def extract(backbone: Backbone, samples: FaceSamples, dense: bool, batch_size: int = 64, workers: int = 0,
            device: str = "cpu", on_batch: Callable[[int], None] | None = None) -> tuple[torch.Tensor, Any]:
    """(features, targets) in sample order: pooled N x D, or the last level N x C x h x w when dense.

    targets is the batched train targets, or None when the samples carry no family.
    """
    loader = DataLoader(samples, batch_size=batch_size, num_workers=workers, shuffle=False)
    backbone.to(device).eval()
    feats, targets = [], []
    for batch in loader:
        out = backbone(batch["image"].to(device), levels=dense)
        feats.append((out.levels[-1] if dense else out.pooled).float().cpu())
        if "target" in batch:
            targets.append(batch["target"])
        if on_batch:
            on_batch(len(batch["index"]))
    return torch.cat(feats), (torch.cat(targets) if targets else None)


class FeatureCache:
    """Per split: features and targets of every record, computed on first use; subsets are row lookups."""

    def __init__(self, make_samples: Callable[[list[FaceRecord]], FaceSamples], backbone: Backbone, dense: bool,
                 splits: dict[str, list[FaceRecord]], batch_size: int, workers: int, device: str,
                 progress: Callable[[str, int], Callable[[int], None]], label: str):
        self.make_samples, self.backbone, self.dense, self.splits = make_samples, backbone, dense, splits
        self.batch_size, self.workers, self.device, self.progress, self.label = (batch_size, workers, device,
                                                                                 progress, label)
        self._cache: dict[str, tuple[torch.Tensor, Any, dict[str, int]]] = {}

    def get(self, split: str, records: list[FaceRecord]) -> tuple[torch.Tensor, Any]:
        if split not in self._cache:
            full = self.splits[split]
            advance = self.progress(f"features {self.label}/{split}", len(full))
            feats, targets = extract(self.backbone, self.make_samples(full), self.dense, self.batch_size,
                                     self.workers, self.device, advance)
            self._cache[split] = (feats, targets, {r.id: i for i, r in enumerate(full)})
        feats, targets, row = self._cache[split]
        rows = torch.tensor([row[r.id] for r in records], dtype=torch.long)
        return feats[rows], (targets[rows] if targets is not None else None)
