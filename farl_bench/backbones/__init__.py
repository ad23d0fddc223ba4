"""Backbones: one `build(spec)` for every kind; every backbone returns `Features`.

Spec strings: ``kind:target?option=value&...`` (``timm:resnet18``, ``timm:vit_small_patch16_224?img_size=112``)
or a bare kind (``pixels``). Builders are registered in `farl_bench.registry.BACKBONES` by kind.
"""
from farl_bench.backbones import pixels, timm_backbone  # noqa: F401  (registers)
from farl_bench.backbones.base import Backbone, Features, FeatureSpec, Preprocess
from farl_bench.backbones.spec import BackboneSpec, build, parse_spec

__all__ = ["Backbone", "BackboneSpec", "FeatureSpec", "Features", "Preprocess", "build", "parse_spec"]
