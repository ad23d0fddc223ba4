"""Backbones: one `build(spec)` for every kind; every backbone returns `Features`.

Spec strings: ``kind:target?option=value&...`` or a bare kind. Built-in kinds, one module each:
``timm:resnet18``, ``ckpt:best.pth?arch=resnet50``, ``clip:ViT-B-16.pth``, ``farl:FaRL-Base.pth``,
``py:mynets.faces:build_encoder``, ``pixels``, ``hog``. Builders are registered in
`farl_bench.registry.BACKBONES` by kind; plug-ins add kinds through the ``farl_bench.backbones``
entry-point group.
"""
from farl_bench.backbones import ckpt, clip, farl, hog, pixels, python_factory, timm_backbone  # noqa: F401  (registers)
from farl_bench.backbones.base import Backbone, Features, FeatureSpec, Preprocess
from farl_bench.backbones.spec import BackboneSpec, build, parse_spec

__all__ = ["Backbone", "BackboneSpec", "FeatureSpec", "Features", "Preprocess", "build", "parse_spec"]
