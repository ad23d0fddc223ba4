"""`farl[:NAME|PATH]?img_size=N&layers=i,j&allow_partial=1`: a FaRL checkpoint's image tower. NAME is a
published release (FaRL-Base-Patch16-LAIONFace20M-ep16 or -ep64, or just ep16 / ep64), fetched once
into torch's hub cache; PATH a local file; neither, a random-init ViT-B/16 of the same shape.

The file is read as `torch.load(f, weights_only=True)["state_dict"]`: CLIP-layout keys under
`visual.*` (QuickGELU, LayerNorm eps 1e-5, CLIP mean/std), plus a text tower and the
masked-image-modelling extras (visual.lm_transformer, ln_lm, lm_head, mask_token), ignored (the
text tower is loaded for zero-shot only, see backbones.text).
Another input size resizes the position grid bicubic, class row kept (FaRL fine-tunes at 448).
Levels default to FaRL's own blocks, e.g. [3, 5, 7, 11] for ViT-B: 768-channel patch maps at stride 16.
"""
from __future__ import annotations

import os
from pathlib import Path

from farl_bench.backbones.base import Backbone
from farl_bench.backbones.checkpoint import load_state_dict
from farl_bench.backbones.clip import build_clip_vit, quarter_layers
from farl_bench.backbones.spec import BackboneSpec, check_options
from farl_bench.backbones.weights import url_file
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

#: FaRL's dense-feature blocks for its ViT-B, ViT-L and ViT-H (by depth).
FARL_LAYERS = {12: [3, 5, 7, 11], 24: [7, 11, 15, 23], 32: [8, 14, 20, 31]}
MIM_EXTRAS = ("lm_transformer.", "ln_lm.", "lm_head.", "mask_token")
#: The `pretrained_weights` release named in FaRL's README; FARL_BENCH_FARL_URL points elsewhere (a mirror).
RELEASE_URL = "https://github.com/FacePerceiver/FaRL/releases/download/pretrained_weights"
RELEASES = {f"FaRL-Base-Patch16-LAIONFace20M-{epochs}": epochs for epochs in ("ep16", "ep64")}


def farl_layers(depth: int) -> list[int]:
    return FARL_LAYERS.get(depth) or quarter_layers(depth)


def release_name(target: str) -> str | None:
    """The release a target names (full name, with or without .pth, or ep16 / ep64), unless it is a file."""
    if not target or Path(target).expanduser().exists():
        return None
    name = target.removesuffix(".pth")
    return next((full for full, short in RELEASES.items() if name in (full, short)), None)


def check_is_farl(path: Path) -> None:
    """A download is kept only if it is a FaRL checkpoint: tensors (weights_only) with a visual tower."""
    try:
        state = load_state_dict(path)
    except UserError:
        state = {}
    if not any(k.startswith("visual.") for k in state):
        raise UserError("it is not a FaRL checkpoint (no tensors named visual.* under state_dict)")


@BACKBONES.register("farl")
def build_farl(spec: BackboneSpec, input_size: int | None) -> Backbone:
    check_options(spec, {"img_size", "layers", "allow_partial"}, "farl:FaRL-Base-Patch16-LAIONFace20M-ep16")
    release = release_name(spec.target)
    if release is None:
        return build_clip_vit(spec, input_size, "quick_gelu", farl_layers, ignore=MIM_EXTRAS)
    base = os.environ.get("FARL_BENCH_FARL_URL", RELEASE_URL).rstrip("/")
    path, weights = url_file(spec, f"{base}/{release}.pth", check_is_farl, local=f"farl:PATH (a copy of {release}.pth)")
    return build_clip_vit(spec, input_size, "quick_gelu", farl_layers, ignore=MIM_EXTRAS, path=path, weights=weights)
