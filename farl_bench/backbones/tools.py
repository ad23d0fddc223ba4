"""What the `backbone-info` and `embed` commands call: a backbone's description, and features of image files."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from torch.utils.data import DataLoader

from farl_bench.backbones.base import Backbone
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.samples import FaceSamples
from farl_bench.tasks import CropSpec


def describe(backbone: Backbone) -> dict[str, Any]:
    """Plain JSON-ready facts: spec, class, fingerprint, weights source, parameter count, preprocessing, and per level
    the layer it comes from, channels and stride (input px per map cell); measured by one forward."""
    feature_spec = backbone.feature_spec
    layers = backbone.layers
    return {
        "spec": backbone.spec,
        "class": type(backbone).__name__,
        "fingerprint": backbone.fingerprint,
        "weights": backbone.weights,  # where they came from; random-init is a floor, not a trained network
        "params": backbone.num_params,
        "preprocess": {"mean": list(backbone.preprocess.mean), "std": list(backbone.preprocess.std),
                       "input_size": backbone.preprocess.input_size},
        "layers": f"last {layers}" if isinstance(layers, int) else layers,
        "channels": list(feature_spec.channels),
        "strides": list(feature_spec.strides),
        "pooled_dim": feature_spec.pooled_dim,
    }


@overload
def embed(backbone: Backbone, image_paths: list[Path], layers: Literal[False] = ..., batch_size: int = ...,
          device: str = ...) -> np.ndarray: ...


@overload
def embed(backbone: Backbone, image_paths: list[Path], layers: Literal[True], batch_size: int = ...,
          device: str = ...) -> tuple[np.ndarray, list[np.ndarray]]: ...


@torch.inference_mode()
def embed(backbone: Backbone, image_paths: list[Path], layers: bool = False, batch_size: int = 32,
          device: str = "cpu") -> np.ndarray | tuple[np.ndarray, list[np.ndarray]]:
    """Pooled features, N x D float32, in path order; with `layers`, also each level as N x C x H x W.

    Each whole image is resized to the backbone's input size and normalised (the `resize` crop),
    through the same input pipeline as the benchmark.
    """
    records = [FaceRecord(id=str(i), image=Path(p)) for i, p in enumerate(image_paths)]
    samples = FaceSamples(records, DatasetSplits({}), CropSpec(kind="resize"), backbone.preprocess)
    from farl_bench.engine.precision import FrozenForward  # engine builds on backbones, not the reverse

    # our own fp32 copy on the device: the caller's backbone is neither moved nor re-flagged
    forward = FrozenForward(backbone, device, "fp32")
    pooled: list[np.ndarray] = []
    levels: list[list[np.ndarray]] = []
    for batch in DataLoader(samples, batch_size=batch_size, shuffle=False):
        out = forward(batch["image"], levels=layers)
        pooled.append(out.pooled.float().cpu().numpy())
        levels.append([f.float().cpu().numpy() for f in out.levels])
    features = np.concatenate(pooled) if pooled else np.zeros((0, backbone.feature_spec.pooled_dim), np.float32)
    if not layers:
        return features
    return features, [np.concatenate(per_level) for per_level in zip(*levels)]
