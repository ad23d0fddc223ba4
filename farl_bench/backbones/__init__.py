"""Backbones: one `build(spec)` for every kind; every backbone returns `Features`.

Spec strings: ``kind:target?option=value&...`` or a bare kind. Built-in kinds, one module each:
``timm:resnet18.a1_in1k``, ``ckpt:best.pth?arch=resnet50``, ``clip:ViT-B-16.pth``, ``farl:ep64``,
``openclip:ViT-B-16/laion2b_s34b_b88k``, ``py:mynets.faces:build_encoder``, ``pixels``, ``hog``;
``mean=`` and ``std=`` options override any kind's normalisation. Published weights are fetched
through `farl_bench.backbones.weights`. Builders are registered in
`farl_bench.registry.BACKBONES` by kind; plug-ins add kinds through the ``farl_bench.backbones``
entry-point group.
"""
from farl_bench.backbones import (  # noqa: F401  (registers)
    ckpt, clip, farl, hog, openclip, pixels, python_factory, timm_backbone)
from farl_bench.backbones.base import Backbone, Features, FeatureSpec, Preprocess
from farl_bench.backbones.spec import BackboneSpec, build, parse_spec

__all__ = ["Backbone", "BackboneSpec", "FeatureSpec", "Features", "Preprocess", "build", "parse_spec"]
