"""`timm:<model>[.<tag>]?pretrained=1&weights=PATH&img_size=N&layers=i,j,k&allow_partial=1`, or
`timm:hf-hub:<org>/<repo>`: any timm model. A tag, `pretrained=1` (timm's default tag) or an hf-hub name
means timm's published weights, from the Hugging Face cache or Hub (or their URL); `weights=PATH` a
local file; neither, a seeded random init. Mean, std and input size come from the weights' pretrained
config. Also the model wrapper and constructor the `ckpt`, `clip` and `farl` kinds build on."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import timm
import torch
from timm.data import resolve_data_config
from timm.models import get_pretrained_cfg, load_model_config_from_hf, split_model_name_tag

from farl_bench.backbones.base import Backbone, Features, Preprocess, sha256_file, sha256_text
from farl_bench.backbones.checkpoint import fit_state_dict, load_state_dict
from farl_bench.backbones.spec import BackboneSpec, bool_option, check_options, int_option, layers_option
from farl_bench.backbones.weights import RANDOM_INIT, file_weights, hub_file, url_file
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

OPTIONS = {"weights", "pretrained", "img_size", "layers", "allow_partial"}
HUB = "hf-hub:"
#: timm (like transformers) reads the safetensors twin of a pickle file first.
SAFE_TWINS = {"pytorch_model.bin": "model.safetensors", "open_clip_pytorch_model.bin": "open_clip_model.safetensors"}


class TimmBackbone(Backbone):
    """A timm model: pooled = its pre-logits features; levels = `forward_intermediates` at `layers`
    (indices, or an int N for the last N), un-normalised, NCHW."""

    def __init__(self, model: torch.nn.Module, preprocess: Preprocess, fingerprint: str, layers: list[int] | int,
                 weights: str = RANDOM_INIT):
        super().__init__()
        self.model = model
        self.preprocess = preprocess
        self.fingerprint = fingerprint
        self.layers = layers
        self.weights = weights

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


def resolve_name(spec: BackboneSpec) -> tuple[str, dict[str, Any] | None, dict[str, Any]]:
    """The architecture, the pretrained config of the weights asked for (None for random init), and
    the model arguments a Hub config adds."""
    if spec.target.startswith(HUB):
        repo = spec.target[len(HUB):]
        hub_file(spec, repo, ["config.json"], local="timm:<architecture>?weights=PATH")  # one clear refusal
        cfg, arch, model_args = load_model_config_from_hf(repo)
        return arch, dict(cfg), {k: v for k, v in (model_args or {}).items() if k != "num_classes"}
    arch, tag = split_model_name_tag(spec.target)
    if arch not in timm.list_models():
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UserError(f"backbone {spec}: timm has no model {arch!r}.{hint} See timm.list_models().")
    if tag and "pretrained" in spec.options and not bool_option(spec, "pretrained"):
        raise UserError(f"backbone {spec}: a tag means pretrained weights; drop .{tag} for a random init")
    if not tag and not bool_option(spec, "pretrained"):
        return arch, None, {}
    try:
        cfg = get_pretrained_cfg(spec.target)
    except RuntimeError:  # timm's refusal of an unknown tag
        cfg = None
    if cfg is None:
        known = ", ".join(timm.list_pretrained(f"{arch}.*")) or "none"
        raise UserError(f"backbone {spec}: timm has no pretrained weights {spec.target!r}; known for {arch}: {known}")
    return arch, cfg.to_dict(remove_source=False, remove_null=True), {}


def pretrained_file(spec: BackboneSpec, cfg: dict[str, Any]) -> tuple[Path, str]:
    """Where the config's weights are (the Hub first, as timm does, else its URL) and their provenance."""
    if cfg.get("hf_hub_id"):
        name = cfg.get("hf_hub_filename") or "pytorch_model.bin"
        twin = SAFE_TWINS.get(name, name[:-4] + ".safetensors" if name.endswith(".bin") else None)
        return hub_file(spec, cfg["hf_hub_id"], [n for n in (twin, name) if n])
    if cfg.get("url"):
        return url_file(spec, cfg["url"], load_state_dict)
    raise UserError(f"backbone {spec}: timm names no published weights for it; give ?weights=PATH")


@BACKBONES.register("timm")
def build_timm(spec: BackboneSpec, input_size: int | None) -> Backbone:
    check_options(spec, OPTIONS, "timm:resnet18.a1_in1k?img_size=112&layers=1,2,3,4")
    arch, cfg, model_args = resolve_name(spec)
    size = input_size or int_option(spec, "img_size")
    if "weights" in spec.options or cfg is None:
        model = create_model(arch, size, pretrained_cfg=cfg, **model_args)
        if "weights" in spec.options:
            fingerprint = load_weights(model, spec, Path(spec.options["weights"]).expanduser(), f"timm:{arch}")
            weights = file_weights(fingerprint)
        else:
            fingerprint = sha256_text(f"random-init seed 0|{spec.kind}:{spec.target}|size={size}|"
                                      f"timm {timm.__version__}")
            weights = RANDOM_INIT
    else:
        path, weights = pretrained_file(spec, cfg)
        # our safe reader, then timm's own loading (its key filters, classifier dropped); source cleared
        # so that timm takes the tensors given instead of fetching again
        overlay = {"state_dict": load_state_dict(path), "source": ""}
        try:
            model = create_model(arch, size, pretrained=True, pretrained_cfg=cfg, pretrained_cfg_overlay=overlay,
                                 **model_args)
        except RuntimeError as err:
            raise UserError(f"backbone {spec}: {path} does not fit timm:{arch} ({str(err).splitlines()[0]})") from None
        model.pretrained_cfg.pop("state_dict", None)  # the tensors now live in the model; do not hold two copies
        fingerprint = weights.split()[-1]
    config = resolve_data_config({}, model=model)
    preprocess = Preprocess(tuple(config["mean"]), tuple(config["std"]), size or config["input_size"][-1])
    return TimmBackbone(model, preprocess, fingerprint, layers_option(spec) or 4, weights)
