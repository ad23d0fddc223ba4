"""`pixels?grid=N`: the raw image averaged to an N x N grid. The floor any real backbone must beat."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from farl_bench.backbones.base import Backbone, Features, Preprocess, sha256_text
from farl_bench.backbones.spec import BackboneSpec
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES


class PixelsBackbone(Backbone):
    weights = "none"  # no parameters: nothing drawn, nothing loaded

    def __init__(self, grid: int, input_size: int, fingerprint: str):
        super().__init__()
        self.grid = grid
        self.preprocess = Preprocess((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), input_size)
        self.fingerprint = fingerprint

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        pooled = F.adaptive_avg_pool2d(x, self.grid).flatten(1)
        return Features([F.avg_pool2d(x, 4)] if levels else [], pooled)


@BACKBONES.register("pixels")
def build_pixels(spec: BackboneSpec, input_size: int | None) -> Backbone:
    unknown = set(spec.options) - {"grid"}
    if unknown or spec.target:
        raise UserError(f"backbone {spec}: pixels takes only ?grid=N (e.g. pixels?grid=8)")
    try:
        grid = int(spec.options.get("grid", 8))
    except ValueError:
        raise UserError(f"backbone {spec}: grid must be an integer") from None
    size = input_size or 64
    return PixelsBackbone(grid, size, sha256_text(f"pixels|grid={grid}|size={size}"))
