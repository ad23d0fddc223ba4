"""Frozen pooled features of a list of records, computed once per split."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from farl_bench.backbones import Backbone
from farl_bench.data.images import CroppedFaces
from farl_bench.data.records import FaceRecord


@torch.inference_mode()
def extract_pooled(backbone: Backbone, records: list[FaceRecord], crop: str, batch_size: int = 64,
                   workers: int = 0, device: str = "cpu",
                   on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """N x D float32 pooled features, in record order."""
    pre = backbone.preprocess
    loader = DataLoader(CroppedFaces(records, pre.input_size, pre.mean, pre.std, crop),
                        batch_size=batch_size, num_workers=workers, shuffle=False)
    backbone.to(device)
    out = []
    for images in loader:
        out.append(backbone(images.to(device), levels=False).pooled.float().cpu().numpy())
        if on_batch:
            on_batch(len(images))
    return np.concatenate(out) if out else np.zeros((0, backbone.feature_spec.pooled_dim), np.float32)
