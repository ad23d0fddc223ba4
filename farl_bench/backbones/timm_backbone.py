"""`timm:<model>?weights=PATH&img_size=N&layers=i,j,k`: any timm model, random init unless weights are named."""
from __future__ import annotations

import difflib
from pathlib import Path

import timm
import torch
from timm.data import resolve_data_config

from farl_bench.backbones.base import Backbone, Features, Preprocess, sha256_file, sha256_text
from farl_bench.backbones.checkpoint import load_state_dict
from farl_bench.backbones.spec import BackboneSpec
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

OPTIONS = {"weights", "img_size", "layers"}


class TimmBackbone(Backbone):
    def __init__(self, model: torch.nn.Module, preprocess: Preprocess, fingerprint: str, layers: list[int] | int):
        super().__init__()
        self.model = model
        self.preprocess = preprocess
        self.fingerprint = fingerprint
        self.layers = layers

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        if not levels:
            return Features([], self.model.forward_head(self.model.forward_features(x), pre_logits=True))
        final, maps = self.model.forward_intermediates(x, indices=self.layers, intermediates_only=False)
        return Features(list(maps), self.model.forward_head(final, pre_logits=True))


def _create(name: str, size: int | None) -> torch.nn.Module:
    kwargs = {"pretrained": False, "num_classes": 0}
    with torch.random.fork_rng():
        torch.manual_seed(0)  # random init is part of the backbone's identity: make it repeatable
        if size is None:
            return timm.create_model(name, **kwargs)
        try:
            return timm.create_model(name, img_size=size, **kwargs)
        except TypeError:  # CNNs take any input size and have no img_size argument
            return timm.create_model(name, **kwargs)


def _int_option(spec: BackboneSpec, key: str) -> int | None:
    if key not in spec.options:
        return None
    try:
        return int(spec.options[key])
    except ValueError:
        raise UserError(f"backbone {spec}: option {key}={spec.options[key]!r} is not an integer") from None


@BACKBONES.register("timm")
def build_timm(spec: BackboneSpec, input_size: int | None) -> Backbone:
    unknown = set(spec.options) - OPTIONS
    if unknown:
        raise UserError(f"backbone {spec}: unknown option(s) {', '.join(sorted(unknown))}; "
                        f"timm takes {', '.join(sorted(OPTIONS))}")
    if spec.target not in timm.list_models():
        close = difflib.get_close_matches(spec.target, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"backbone {spec}: timm has no model {spec.target!r}.{hint} See timm.list_models().")
    size = input_size or _int_option(spec, "img_size")
    model = _create(spec.target, size)
    if "weights" in spec.options:
        path = Path(spec.options["weights"]).expanduser()
        state = load_state_dict(path)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise UserError(f"{path} does not fit timm:{spec.target}: missing keys {missing[:5]}, "
                            f"unexpected keys {unexpected[:5]} (of {len(missing)}, {len(unexpected)})")
        fingerprint = sha256_file(path)
    else:
        fingerprint = sha256_text(f"random-init seed 0|{spec.kind}:{spec.target}|size={size}|timm {timm.__version__}")
    config = resolve_data_config({}, model=model)
    preprocess = Preprocess(tuple(config["mean"]), tuple(config["std"]), size or config["input_size"][-1])
    layers_text = spec.options.get("layers")
    try:
        layers: list[int] | int = [int(i) for i in layers_text.split(",")] if layers_text else 4
    except ValueError:
        raise UserError(f"backbone {spec}: layers={layers_text!r} must be comma-separated integers") from None
    return TimmBackbone(model, preprocess, fingerprint, layers)
