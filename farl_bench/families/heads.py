"""Task heads shared by the families: a feature pyramid neck, an UPerNet-style fuse, and small heads."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from farl_bench.backbones import FeatureSpec

#: Strides a plain ViT's four levels are turned into (FaRL: two 2x deconvs; one; identity; 2x max-pool).
VIT_PYRAMID = (4, 8, 16, 32)


def _resample(in_ch: int, factor: float) -> nn.Module:
    """Change a map's resolution by `factor` (4, 2, 1 or 0.5) with FaRL's layers."""
    if factor == 4:
        return nn.Sequential(nn.ConvTranspose2d(in_ch, in_ch, 2, 2), nn.BatchNorm2d(in_ch), nn.GELU(),
                             nn.ConvTranspose2d(in_ch, in_ch, 2, 2))
    if factor == 2:
        return nn.ConvTranspose2d(in_ch, in_ch, 2, 2)
    if factor == 1:
        return nn.Identity()
    if factor == 0.5:
        return nn.MaxPool2d(2)
    raise ValueError(f"cannot resample a feature map by {factor}")


def target_strides(spec: FeatureSpec) -> tuple[int, ...]:
    """A plain ViT (four levels, one stride) becomes a 4/8/16/32 pyramid; a CNN keeps its own."""
    if len(spec.strides) == 4 and len(set(spec.strides)) == 1:
        return VIT_PYRAMID
    return spec.strides


class PyramidFuse(nn.Module):
    """Levels -> one map at the finest stride with `channels` channels (FPN top-down + UPerNet fuse)."""

    def __init__(self, spec: FeatureSpec, channels: int):
        super().__init__()
        strides = target_strides(spec)
        self.stride = min(strides)
        self.resample = nn.ModuleList(_resample(c, s / t) for c, s, t in zip(spec.channels, spec.strides, strides))
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in spec.channels)
        self.smooth = nn.ModuleList(_conv_bn(channels, channels) for _ in spec.channels)
        self.fuse = _conv_bn(channels * len(spec.channels), channels)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        maps = [lat(res(x)) for x, res, lat in zip(levels, self.resample, self.lateral)]
        for i in range(len(maps) - 2, -1, -1):  # top-down: coarse context into finer maps
            maps[i] = maps[i] + F.interpolate(maps[i + 1], size=maps[i].shape[-2:], mode="bilinear",
                                              align_corners=False)
        size = maps[0].shape[-2:]
        maps = [F.interpolate(s(m), size=size, mode="bilinear", align_corners=False) if i else s(m)
                for i, (m, s) in enumerate(zip(maps, self.smooth))]
        return self.fuse(torch.cat(maps, dim=1))


def _conv_bn(in_ch: int, out_ch: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False), nn.BatchNorm2d(out_ch), nn.ReLU(True))


class DenseHead(nn.Module):
    """Multi-level features -> `n_out` maps at the finest pyramid stride."""

    needs_levels = True

    def __init__(self, spec: FeatureSpec, n_out: int, channels: int = 128):
        super().__init__()
        self.fuse = PyramidFuse(spec, channels)
        self.classifier = nn.Conv2d(channels, n_out, 1)

    def forward(self, levels: list[torch.Tensor], pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fuse(levels))


class LinearDenseHead(nn.Module):
    """The DINOv2-style linear dense probe: a 1x1 convolution on the last feature map."""

    needs_levels = True

    def __init__(self, spec: FeatureSpec, n_out: int):
        super().__init__()
        self.classifier = nn.Conv2d(spec.channels[-1], n_out, 1)

    def forward(self, levels: list[torch.Tensor], pooled: torch.Tensor) -> torch.Tensor:
        return self.classifier(levels[-1])


class PooledHead(nn.Module):
    """Pooled features -> outputs: linear, or one hidden layer for the `frozen` protocol."""

    needs_levels = False

    def __init__(self, dim: int, n_out: int, hidden: int = 0):
        super().__init__()
        if hidden:
            self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, n_out))
        else:
            self.net = nn.Linear(dim, n_out)

    @torch.no_grad()
    def set_output_bias(self, bias: torch.Tensor) -> None:
        """Start the outputs at `bias` (n_out,): see Family.output_bias."""
        last = self.net[-1] if isinstance(self.net, nn.Sequential) else self.net
        last.bias.copy_(bias)

    def forward(self, levels: list[torch.Tensor], pooled: torch.Tensor) -> torch.Tensor:
        return self.net(pooled)
