"""`farl[:PATH]?img_size=N&layers=i,j&allow_partial=1`: a FaRL checkpoint's image tower. Without PATH:
a random-init ViT-B/16 of the same shape.

The file is read as `torch.load(f, weights_only=True)["state_dict"]`: CLIP-layout keys under
`visual.*` (QuickGELU, LayerNorm eps 1e-5, CLIP mean/std), plus a text tower and the
masked-image-modelling extras (visual.lm_transformer, ln_lm, lm_head, mask_token), both ignored.
Another input size resizes the position grid bicubic, class row kept (FaRL fine-tunes at 448).
Levels default to FaRL's own blocks, e.g. [3, 5, 7, 11] for ViT-B: 768-channel patch maps at stride 16.
"""
from __future__ import annotations

from farl_bench.backbones.base import Backbone
from farl_bench.backbones.clip import build_clip_vit, quarter_layers
from farl_bench.backbones.spec import BackboneSpec, check_options
from farl_bench.registry import BACKBONES

#: FaRL's dense-feature blocks for its ViT-B, ViT-L and ViT-H (by depth).
FARL_LAYERS = {12: [3, 5, 7, 11], 24: [7, 11, 15, 23], 32: [8, 14, 20, 31]}
MIM_EXTRAS = ("lm_transformer.", "ln_lm.", "lm_head.", "mask_token")


def farl_layers(depth: int) -> list[int]:
    return FARL_LAYERS.get(depth) or quarter_layers(depth)


@BACKBONES.register("farl")
def build_farl(spec: BackboneSpec, input_size: int | None) -> Backbone:
    check_options(spec, {"img_size", "layers", "allow_partial"}, "farl:FaRL-Base-Patch16-LAIONFace20M-ep16.pth")
    return build_clip_vit(spec, input_size, "quick_gelu", farl_layers, ignore=MIM_EXTRAS)
