"""`py:package.module:factory?key=value&weights=PATH&allow_partial=1`: a backbone made by your own function.

The factory is imported (the module must be importable: installed, or on PYTHONPATH) and called
with the options as keyword arguments, each value read as a Python literal where it is one
(``width=32`` is 32, ``name=vit`` is 'vit'), plus ``input_size`` if it takes a parameter of that name.
`weights` and `allow_partial` are ours: the file is loaded into what the factory returns, like `ckpt`.
It runs under torch seed 0, so a random init is repeatable.

Its fingerprint covers the code: every .py file of the top-level package that holds the factory
(see `source.package_digest`), the options, and the weights (the file's sha256, else the tensors of
the random init), so editing the factory's package is a new backbone, never a stale record or cache.

It may return a `Backbone` (used as it is, its own fingerprint joined with the code's), or any
`nn.Module`, which `adapt` wraps.
"""
from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from farl_bench.backbones.base import Backbone, Features, FeatureSpec, Preprocess, sha256_tensors, sha256_text
from farl_bench.backbones.source import package_digest
from farl_bench.backbones.spec import BackboneSpec
from farl_bench.backbones.timm_backbone import load_weights
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

OURS = {"weights", "allow_partial"}
IMAGENET = Preprocess((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 224)


class ModuleBackbone(Backbone):
    """A plain `nn.Module` seen as a Backbone. What is adapted, exactly:

    - features come from ``module.forward_features(x)`` if it has that method, else ``module(x)``;
    - that output may be an N x C x H x W map (levels = [it], pooled = its mean over H, W),
      a list or tuple of such maps (levels = all of them, pooled = the mean over H, W of the last),
      or an N x C vector (pooled = it, no levels). Anything else is refused when built;
    - ``module.preprocess``, if set, is a `Preprocess` or a mapping with mean, std, input_size
      (default: ImageNet mean/std at 224 px); the task's input size, when given, wins;
    - ``module.feature_spec``, if set, is a `FeatureSpec` or a mapping with channels, strides,
      pooled_dim; it is checked against one forward when built, and a mismatch is refused.
    """

    def __init__(self, module: nn.Module, preprocess: Preprocess, fingerprint: str):
        super().__init__()
        self.module = module
        self.preprocess = preprocess
        self.fingerprint = fingerprint

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        forward = getattr(self.module, "forward_features", self.module)
        out = forward(x)
        maps = list(out) if isinstance(out, (list, tuple)) else [out]
        tensors = all(isinstance(m, torch.Tensor) for m in maps)
        if not tensors or not (all(m.ndim == 4 for m in maps) or (len(maps) == 1 and maps[0].ndim == 2)):
            shapes = [tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__ for m in maps]
            raise UserError(f"{type(self.module).__name__} returned {shapes}; a backbone module must return an "
                            "N x C x H x W map, a list of such maps, or an N x C vector")
        if maps[-1].ndim == 2:
            return Features([], maps[-1])
        return Features(maps if levels else [], maps[-1].mean(dim=(2, 3)))


def _from(value: Any, kind: type, fields: tuple[str, ...], what: str) -> Any:
    if isinstance(value, kind):
        return value
    if isinstance(value, Mapping) and set(fields) <= set(value):
        return kind(*(tuple(value[f]) if isinstance(value[f], (list, tuple)) else value[f] for f in fields))
    raise UserError(f"{what} must be a {kind.__name__} or a mapping with {', '.join(fields)}; got {value!r}")


def adapt(module: nn.Module, input_size: int | None, fingerprint: str) -> ModuleBackbone:
    """Wrap a plain module (see `ModuleBackbone` for what it may be); checks one forward at the input size."""
    name = type(module).__name__
    pre = _from(getattr(module, "preprocess", IMAGENET), Preprocess, ("mean", "std", "input_size"),
                f"{name}.preprocess")
    if input_size:
        pre = Preprocess(pre.mean, pre.std, input_size)
    backbone = ModuleBackbone(module, pre, fingerprint).eval()
    measured = backbone.feature_spec  # also proves the output is one we adapt
    declared = getattr(module, "feature_spec", None)
    if declared is not None:
        declared = _from(declared, FeatureSpec, ("channels", "strides", "pooled_dim"), f"{name}.feature_spec")
        if declared != measured:
            raise UserError(f"{name}.feature_spec says {declared} but a {pre.input_size} px forward gives {measured}")
    return backbone


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _factory(spec: BackboneSpec) -> tuple[Any, Any]:
    """(the module named by the spec, its factory)."""
    module_name, _, attr = spec.target.partition(":")
    if not module_name or not attr:
        raise UserError(f"backbone {spec}: write py:package.module:factory (e.g. py:mynets.faces:build_encoder)")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):  # the module itself, not one of its imports
            raise UserError(f"backbone {spec}: cannot import {module_name!r}; install it or put its folder on "
                            "PYTHONPATH") from None
        raise
    factory = getattr(module, attr, None)
    if not callable(factory):
        names = [n for n in dir(module) if callable(getattr(module, n)) and not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"backbone {spec}: {module_name} has no callable {attr!r}.{hint}")
    return module, factory


@BACKBONES.register("py")
def build_py(spec: BackboneSpec, input_size: int | None) -> Backbone:
    module, factory = _factory(spec)
    kwargs = {k: _literal(v) for k, v in spec.options.items() if k not in OURS}
    signature = inspect.signature(factory)
    if input_size and "input_size" in signature.parameters:
        kwargs["input_size"] = input_size
    try:
        signature.bind(**kwargs)
    except TypeError as err:
        raise UserError(f"backbone {spec}: {spec.target} cannot take {sorted(kwargs)} ({err}); "
                        f"its parameters: {', '.join(signature.parameters) or 'none'}") from None
    with torch.random.fork_rng():
        torch.manual_seed(0)
        made = factory(**kwargs)
    if not isinstance(made, nn.Module):
        raise UserError(f"backbone {spec}: {spec.target} returned a {type(made).__name__}; it must return an "
                        "nn.Module (or a farl_bench Backbone)")
    if "weights" in spec.options:
        weights = "file " + load_weights(made, spec, Path(spec.options["weights"]).expanduser(), spec.target)
    elif getattr(made, "fingerprint", ""):  # a Backbone that names its own weights
        weights = "own " + made.fingerprint
    else:
        weights = "init " + sha256_tensors(made.state_dict())
    fingerprint = sha256_text(json.dumps({
        "target": spec.target, "options": {k: v for k, v in spec.options.items() if k != "weights"},
        "code": package_digest(module, factory), "weights": weights}, sort_keys=True))
    if isinstance(made, Backbone):
        made.fingerprint = fingerprint
    else:
        made = adapt(made, input_size, fingerprint)
    # the factory may have drawn or loaded its weights: only a file we loaded is known for sure
    made.weights = weights if weights.startswith("file ") else "factory " + fingerprint
    return made
