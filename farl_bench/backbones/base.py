"""What every backbone gives: pooled features, multi-level maps, preprocessing and an identity."""
from __future__ import annotations

import copy
import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass
class Features:
    """levels: N x C_i x H_i x W_i maps from the chosen layers (empty when not asked for); pooled: N x C."""

    levels: list[torch.Tensor]
    pooled: torch.Tensor


@dataclass(frozen=True)
class FeatureSpec:
    channels: tuple[int, ...]  # per level
    strides: tuple[int, ...]   # per level, input pixels per feature-map cell
    pooled_dim: int


@dataclass(frozen=True)
class Preprocess:
    """Inputs are RGB in [0, 1] resized to input_size x input_size, then (x - mean) / std."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    input_size: int


class Backbone(nn.Module):
    """Subclasses implement `_forward(x, levels)` and set `preprocess` and `fingerprint`.

    `spec` is the canonical spec string `build` made it from; `layers` says which blocks or stages
    the levels come from: their indices, an int N for the last N, or None where that means nothing.
    `weights` says where the weights came from (farl_bench.backbones.weights): ``random-init``,
    ``file <sha256>``, ``hub <repo>@<revision> <sha256>`` or ``url <url> <sha256>``.
    """

    preprocess: Preprocess
    fingerprint: str
    spec: str = ""
    layers: list[int] | int | None = None
    weights: str = "random-init"

    def forward(self, x: torch.Tensor, levels: bool = True) -> Features:
        return self._forward(x, levels)

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        raise NotImplementedError

    @property
    def feature_spec(self) -> FeatureSpec:
        """Measured once (`build` asks for it) from one eval-mode forward of a zero image on the
        module's own device and dtype, so it is right for any architecture; kept (copies keep it too),
        so no later forward runs wherever the module or its copies live by then."""
        if "_feature_spec" not in self.__dict__:
            self._feature_spec = self._measure_feature_spec()
        return self._feature_spec

    def _measure_feature_spec(self) -> FeatureSpec:
        if any(m.training for m in self.modules()):
            # batch-norm statistics must not learn from the zero image, and the flags of a module
            # others may be using are not ours to flip: measure an eval-mode copy (build() measures
            # before this can happen, in eval mode)
            return copy.deepcopy(self).eval().feature_spec
        size = self.preprocess.input_size
        weight = next((t for t in itertools.chain(self.parameters(), self.buffers()) if t.is_floating_point()), None)
        device, dtype = (weight.device, weight.dtype) if weight is not None else ("cpu", torch.float32)
        with torch.inference_mode():
            feats = self(torch.zeros(1, 3, size, size, device=device, dtype=dtype), levels=True)
        return FeatureSpec(
            channels=tuple(f.shape[1] for f in feats.levels),
            strides=tuple(round(size / f.shape[-1]) for f in feats.levels),
            pooled_dim=feats.pooled.shape[1],
        )

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_tensors(state: dict[str, torch.Tensor], salt: str = "") -> str:
    """Hash of names, dtypes, shapes and bytes of the tensors (for weights that live in no file)."""
    digest = hashlib.sha256(salt.encode())
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
