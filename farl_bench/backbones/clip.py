"""`clip[:PATH]?img_size=N&layers=i,j&act=quick_gelu|gelu&heads=N&text_heads=N&allow_partial=1`: the ViT
image tower of an OpenAI-layout CLIP state dict (visual.conv1.weight,
visual.transformer.resblocks.N.attn.in_proj_weight, ...; the text tower is read only for zero-shot, see
backbones.text), built as a timm VisionTransformer. Without PATH: a random-init ViT-B/16 (no text tower).

Width, depth, patch and native grid are read from the tensors. The head count cannot be: it is
width / 64 (OpenAI's rule) unless `heads` (image) or `text_heads` says otherwise. OpenCLIP's ViT-H,
ViT-g and ViT-bigG image towers have 16 wider heads; their widths are refused without `heads`.
Pooled features are ln_post of the class token (before CLIP's projection to the text space); levels
are the patch tokens of the chosen blocks, before any final norm, as width-channel maps.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import timm
import torch
from timm.data import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD
from timm.models.vision_transformer import _convert_openai_clip  # timm's OpenAI CLIP key mapping

from farl_bench.backbones.base import Backbone, Preprocess, sha256_text
from farl_bench.backbones.checkpoint import load_state_dict
from farl_bench.backbones.spec import BackboneSpec, bool_option, check_options, int_option, layers_option
from farl_bench.backbones.text import clip_text_tower
from farl_bench.backbones.timm_backbone import TimmBackbone, create_model, load_weights
from farl_bench.backbones.weights import RANDOM_INIT, file_weights
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

#: timm CLIP architectures by activation; their size arguments are overridden from the checkpoint.
TIMM_NAMES = {"quick_gelu": "vit_base_patch16_clip_quickgelu_224", "gelu": "vit_base_patch16_clip_224"}


@dataclass(frozen=True)
class ClipShape:
    """width: channels; depth: blocks; patch: px per patch side; grid: patches per side at native size."""

    width: int
    depth: int
    patch: int
    grid: int

    @property
    def heads(self) -> int:
        return max(1, self.width // 64)


VIT_B16 = ClipShape(width=768, depth=12, patch=16, grid=14)
#: Image-tower widths of OpenCLIP models whose heads are not 64 wide (80, 88, 104: 16 heads each).
OPEN_CLIP_WIDTHS = {1280: "ViT-H-14", 1408: "ViT-g-14", 1664: "ViT-bigG-14"}


def heads_option(spec: BackboneSpec, key: str, width: int, what: str) -> int | None:
    """The head count `key` gives (None: not given), checked to divide `width`."""
    heads = int_option(spec, key)
    if heads is not None and (heads <= 0 or width % heads):
        raise UserError(f"backbone {spec}: {key}={heads} must be a positive divisor of the {what}'s width {width}")
    return heads


def quarter_layers(depth: int) -> list[int]:
    """The last block of each quarter of the network: [2, 5, 8, 11] for 12 blocks."""
    return sorted({max(0, depth * q // 4 - 1) for q in (1, 2, 3, 4)})


def visual_tower(state: dict[str, torch.Tensor], source: str) -> tuple[dict[str, torch.Tensor], str]:
    """The image-tower tensors and their prefix ('visual.', 'module.visual.', or '' for a bare tower)."""
    prefix = next((k[: -len("class_embedding")] for k in state if k.endswith("class_embedding")
                   and k[: -len("class_embedding")] + "conv1.weight" in state), None)
    if prefix is None:
        raise UserError(f"{source} holds no CLIP ViT image tower (no class_embedding beside conv1.weight, "
                        "e.g. visual.class_embedding). For a timm-layout checkpoint use ckpt:PATH?arch=NAME.")
    return {k: v for k, v in state.items() if k.startswith(prefix)}, prefix


def clip_shape(tower: dict[str, torch.Tensor], prefix: str, source: str) -> ClipShape:
    conv = tower[prefix + "conv1.weight"]
    pos = tower.get(prefix + "positional_embedding")
    block = re.compile(re.escape(prefix) + r"transformer\.resblocks\.(\d+)\.")
    depth = len({m.group(1) for k in tower if (m := block.match(k))})
    grid = math.isqrt(pos.shape[0] - 1) if pos is not None else 0
    if pos is None or grid * grid + 1 != pos.shape[0] or depth == 0:
        raise UserError(f"{source}: the CLIP image tower needs {prefix}positional_embedding ((grid^2 + 1) x width) "
                        f"and {prefix}transformer.resblocks.N.*")
    return ClipShape(width=conv.shape[0], depth=depth, patch=conv.shape[-1], grid=grid)


def build_clip_vit(spec: BackboneSpec, input_size: int | None, act: str,
                   default_layers: Callable[[int], list[int]], ignore: tuple[str, ...] = (),
                   path: Path | None = None, weights: str | None = None) -> Backbone:
    """The shared body of `clip` and `farl`; `ignore` lists tower-relative key prefixes to drop. The
    weights are read from `path` (with provenance `weights`) if given, else from the file the target names."""
    if act not in TIMM_NAMES:
        raise UserError(f"backbone {spec}: act={act!r}; choose {' or '.join(TIMM_NAMES)}")
    if path is None and spec.target:
        path = Path(spec.target).expanduser()
    if path is not None:
        tower, prefix = visual_tower(load_state_dict(path), str(path))
        tower = {k: v for k, v in tower.items() if not k[len(prefix):].startswith(ignore)}
        shape = clip_shape(tower, prefix, str(path))
    else:
        shape = VIT_B16
    heads = heads_option(spec, "heads", shape.width, "image tower")
    int_option(spec, "text_heads")  # a malformed value stops here, not only when zero-shot reads the text tower
    if heads is None and shape.width in OPEN_CLIP_WIDTHS and path is not None:
        name = OPEN_CLIP_WIDTHS[shape.width]
        raise UserError(f"backbone {spec}: an image tower {shape.width} wide is OpenCLIP's {name} (16 heads of "
                        f"{shape.width // 16}), not OpenAI's 64-wide heads, and the file cannot tell which: pass "
                        f"?heads=16 (or the count it was trained with), or load it as openclip:{name}?weights={path}")
    size = input_size or int_option(spec, "img_size") or shape.patch * shape.grid
    if size % shape.patch:
        raise UserError(f"backbone {spec}: input size {size} is not a multiple of the patch size {shape.patch}")
    layers = layers_option(spec) or default_layers(shape.depth)
    if not all(0 <= i < shape.depth for i in layers):
        raise UserError(f"backbone {spec}: layers {layers} must lie in 0..{shape.depth - 1} (the model has "
                        f"{shape.depth} blocks)")
    # a full load overwrites every tensor, so timm's (slow, seconds for ViT-B) init is skipped
    full_load = path is not None and not bool_option(spec, "allow_partial")
    model = create_model(TIMM_NAMES[act], size, embed_dim=shape.width, depth=shape.depth,
                         num_heads=heads or shape.heads, patch_size=shape.patch,
                         weight_init="skip" if full_load else "")
    if path is not None:
        # visual.proj (to the text space) becomes head.*, the classifier load_weights leaves out
        state = _convert_openai_clip(tower, model, prefix=prefix)
        target = f"{spec.kind} ViT (width {shape.width}, {shape.depth} blocks, patch {shape.patch})"
        fingerprint = load_weights(model, spec, path, target, state)
        weights = weights or file_weights(fingerprint)
    else:
        given = f"|heads={heads}" if heads else ""  # absent: the fingerprints made before the option
        fingerprint = sha256_text(f"random-init seed 0|{spec.kind}|{shape}{given}|act={act}|size={size}|"
                                  f"timm {timm.__version__}")
        weights = RANDOM_INIT
    backbone = TimmBackbone(model, Preprocess(OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, size), fingerprint, layers, weights)
    if path is not None:  # loaded from the file again only when zero-shot asks (backbones.text)
        backbone.text_tower = partial(clip_text_tower, path, act, partial(heads_option, spec, "text_heads"))
    return backbone


@BACKBONES.register("clip")
def build_clip(spec: BackboneSpec, input_size: int | None) -> Backbone:
    check_options(spec, {"img_size", "layers", "act", "heads", "text_heads", "allow_partial"},
                  "clip:ViT-B-16.pth?act=quick_gelu")
    return build_clip_vit(spec, input_size, spec.options.get("act", "quick_gelu"), quarter_layers)
