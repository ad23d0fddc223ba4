"""`hog?cell=8&bins=9`: histograms of oriented gradients (Dalal & Triggs, via scikit-image) of the
grey image. The classical floor: a learned representation should beat what edges alone give."""
from __future__ import annotations

import numpy as np
import torch
from skimage.feature import hog

from farl_bench.backbones.base import Backbone, Features, Preprocess, sha256_text
from farl_bench.backbones.spec import BackboneSpec
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

GREY = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL's convert("L")


class HogBackbone(Backbone):
    weights = "none"  # no parameters: nothing drawn, nothing loaded

    def __init__(self, cell: int, bins: int, input_size: int, fingerprint: str):
        super().__init__()
        self.cell, self.bins = cell, bins
        self.preprocess = Preprocess((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), input_size)
        self.fingerprint = fingerprint

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        grey = np.tensordot(np.asarray(GREY), x.float().cpu().numpy(), axes=([0], [1]))  # numpy: no autocast
        # blocks of 2 x 2 cells, L2-Hys normalised: n_rows x n_cols x 2 x 2 x bins per image
        blocks = np.stack([hog(g, orientations=self.bins, pixels_per_cell=(self.cell, self.cell),
                               cells_per_block=(2, 2), block_norm="L2-Hys", feature_vector=False)
                           for g in grey])
        blocks = torch.from_numpy(blocks.astype(np.float32)).to(x.device, x.dtype)
        n, rows, cols = blocks.shape[:3]
        maps = blocks.reshape(n, rows, cols, -1).permute(0, 3, 1, 2).contiguous()
        return Features([maps] if levels else [], blocks.reshape(n, -1))


@BACKBONES.register("hog")
def build_hog(spec: BackboneSpec, input_size: int | None) -> Backbone:
    unknown = set(spec.options) - {"cell", "bins"}
    if unknown or spec.target:
        raise UserError(f"backbone {spec}: hog takes only ?cell=N&bins=N (e.g. hog?cell=8&bins=9)")
    try:
        cell, bins = int(spec.options.get("cell", 8)), int(spec.options.get("bins", 9))
    except ValueError:
        raise UserError(f"backbone {spec}: cell and bins must be integers") from None
    size = input_size or 64
    if cell < 2 or bins < 2 or size < 2 * cell:
        raise UserError(f"backbone {spec}: needs cell >= 2, bins >= 2 and an input of at least two cells "
                        f"(input {size} px, cell {cell} px)")
    return HogBackbone(cell, bins, size, sha256_text(f"hog|cell={cell}|bins={bins}|size={size}"))
