"""`ckpt:PATH?arch=<timm model>&img_size=N&layers=i,j&allow_partial=1`: any checkpoint file for a timm
architecture, whatever wrapper prefix its training code left on the names (module., backbone., ...)."""
from __future__ import annotations

from farl_bench.backbones.base import Backbone
from farl_bench.backbones.spec import BackboneSpec, check_options
from farl_bench.backbones.timm_backbone import build_timm
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

OPTIONS = {"arch", "img_size", "layers", "allow_partial"}
EXAMPLE = "ckpt:runs/best.pth?arch=resnet50"


@BACKBONES.register("ckpt")
def build_ckpt(spec: BackboneSpec, input_size: int | None) -> Backbone:
    check_options(spec, OPTIONS, EXAMPLE)
    if not spec.target or "arch" not in spec.options:
        raise UserError(f"backbone {spec}: write ckpt:PATH?arch=<timm model the weights are for>, e.g. {EXAMPLE}")
    options = {k: v for k, v in spec.options.items() if k != "arch"}
    return build_timm(BackboneSpec("timm", spec.options["arch"], {**options, "weights": spec.target}), input_size)
