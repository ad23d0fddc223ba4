"""`timm:<model>?weights=PATH&img_size=N&layers=i,j,k&allow_partial=1`: any timm model, random init unless
weights are named. Also the model wrapper and constructor the `ckpt`, `clip` and `farl` kinds build on."""
from __future__ import annotations

import difflib
from pathlib import Path

import timm
import torch
from timm.data import resolve_data_config

from farl_bench.backbones.base import Backbone, Features, Preprocess, sha256_file, sha256_text
from farl_bench.backbones.checkpoint import fit_state_dict, load_state_dict
from farl_bench.backbones.spec import BackboneSpec, bool_option, check_options, int_option, layers_option
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

OPTIONS = {"weights", "img_size", "layers", "allow_partial"}


class TimmBackbone(Backbone):
    """A timm model: pooled = its pre-logits features; levels = `forward_intermediates` at `layers`
    (indices, or an int N for the last N), un-normalised, NCHW."""

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


def create_model(name: str, size: int | None, **kwargs) -> torch.nn.Module:
    """A headless timm model at `size` px (its default when None), random init seeded with 0."""
    kwargs = {"pretrained": False, "num_classes": 0, **kwargs}
    with torch.random.fork_rng():
        torch.manual_seed(0)  # random init is part of the backbone's identity: make it repeatable
        if size is None:
            return timm.create_model(name, **kwargs)
        try:
            return timm.create_model(name, img_size=size, **kwargs)
        except TypeError:  # CNNs take any input size and have no img_size argument
            return timm.create_model(name, **kwargs)


def load_weights(model: torch.nn.Module, spec: BackboneSpec, path: Path, target: str,
                 state: dict[str, torch.Tensor] | None = None) -> str:
    """Fit the file's tensors (or `state`, already read from it and converted) into `model`;
    returns the fingerprint, the file's sha256."""
    state = load_state_dict(path) if state is None else state
    # the classifier of a model trained for classification: headless here, so not a mismatch
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier") or ()
    ignore = tuple(f"{name}." for name in ([classifier] if isinstance(classifier, str) else classifier))
    fit_state_dict(model, state, str(path), target, bool_option(spec, "allow_partial"), ignore)
    return sha256_file(path)


@BACKBONES.register("timm")
def build_timm(spec: BackboneSpec, input_size: int | None) -> Backbone:
    check_options(spec, OPTIONS, "timm:resnet18?img_size=112&layers=1,2,3,4")
    if spec.target not in timm.list_models():
        close = difflib.get_close_matches(spec.target, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"backbone {spec}: timm has no model {spec.target!r}.{hint} See timm.list_models().")
    size = input_size or int_option(spec, "img_size")
    model = create_model(spec.target, size)
    if "weights" in spec.options:
        fingerprint = load_weights(model, spec, Path(spec.options["weights"]).expanduser(), f"timm:{spec.target}")
    else:
        fingerprint = sha256_text(f"random-init seed 0|{spec.kind}:{spec.target}|size={size}|timm {timm.__version__}")
    config = resolve_data_config({}, model=model)
    preprocess = Preprocess(tuple(config["mean"]), tuple(config["std"]), size or config["input_size"][-1])
    return TimmBackbone(model, preprocess, fingerprint, layers_option(spec) or 4)
