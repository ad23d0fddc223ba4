"""`openclip:<model>/<tag>` (e.g. ViT-B-16/laion2b_s34b_b88k), `openclip:hf-hub:<org>/<repo>`,
`openclip:<model>[/<tag>]?weights=PATH` (a local copy), or `openclip:<model>` (a seeded random init):
an open_clip model's image tower, built and loaded by open_clip itself (``pip install farl-bench[clip]``),
with `img_size` and `layers`.

Weights come from the Hugging Face cache or Hub as for `timm` (open_clip_model.safetensors first, then
open_clip_pytorch_model.bin), or the tag's URL into torch's hub cache. Preprocessing is open_clip's for
those weights (mean, std, size). Pooled features are the tower's pooled output before the projection
to the text space where it is a separate matrix (ViTs, as in the `clip` kind), else its embedding;
levels are `forward_intermediates` maps at `layers` (a ViT's quarter points by default).
Zero-shot builds the model again for its text tower and projection (backbones.text).
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import torch

from farl_bench.backbones.base import Backbone, Features, Preprocess, sha256_file, sha256_text
from farl_bench.backbones.checkpoint import load_state_dict
from farl_bench.backbones.clip import quarter_layers
from farl_bench.backbones.spec import BackboneSpec, check_options, int_option, layers_option
from farl_bench.backbones.text import TextTower, open_clip_tower
from farl_bench.backbones.weights import RANDOM_INIT, file_weights, hub_file, url_file
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

OPTIONS = {"weights", "img_size", "layers"}
EXAMPLE = "openclip:ViT-B-16/laion2b_s34b_b88k"
HUB = "hf-hub:"
HUB_WEIGHTS = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]


class OpenClipBackbone(Backbone):
    def __init__(self, visual: torch.nn.Module, preprocess: Preprocess, fingerprint: str,
                 layers: list[int] | int, weights: str):
        super().__init__()
        self.visual = visual
        self.preprocess = preprocess
        self.fingerprint = fingerprint
        self.layers = layers
        self.weights = weights

    def _forward(self, x: torch.Tensor, levels: bool) -> Features:
        out = self.visual.forward_intermediates(x, indices=self.layers, output_fmt="NCHW")
        return Features(list(out["image_intermediates"]) if levels else [], out["image_features"])


def import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError:
        raise UserError("the openclip kind needs open_clip: pip install 'farl-bench[clip]'") from None
    return open_clip


def tag_config(spec: BackboneSpec, open_clip: Any, model: str, tag: str) -> dict[str, Any]:
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        known = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise UserError(f"backbone {spec}: open_clip has no weights {tag!r} for {model}; known: {known}")
    return cfg


def tag_file(spec: BackboneSpec, cfg: dict[str, Any]) -> tuple[Path, str]:
    """The file of a tag's weights (the Hub first, as open_clip does, else its URL) and its provenance."""
    if cfg.get("hf_hub"):
        parts = cfg["hf_hub"].split("/")  # org/repo/[filename]
        repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
        return hub_file(spec, repo, [filename] if filename else HUB_WEIGHTS)
    return url_file(spec, cfg["url"], load_state_dict)


def local_file(spec: BackboneSpec) -> tuple[Path, str]:
    path = Path(spec.options["weights"]).expanduser()
    if not path.is_file():
        raise UserError(f"weight file {path} does not exist")
    return path, file_weights(sha256_file(path))


@BACKBONES.register("openclip")
def build_openclip(spec: BackboneSpec, input_size: int | None) -> Backbone:
    check_options(spec, OPTIONS, EXAMPLE)
    open_clip = import_open_clip()
    size = input_size or int_option(spec, "img_size")
    options: dict[str, Any] = {"force_image_size": size} if size else {}
    if spec.target.startswith(HUB):
        repo = spec.target[len(HUB):]
        local = "openclip:<model>?weights=PATH"
        hub_file(spec, repo, ["open_clip_config.json"], local)  # both here first: one clear refusal if missing
        path, weights = hub_file(spec, repo, HUB_WEIGHTS, local)
        name, pretrained = spec.target, None
        options["require_pretrained"] = True
    else:
        name, _, tag = spec.target.partition("/")
        if name not in open_clip.list_models():
            raise UserError(f"backbone {spec}: open_clip has no model {name!r}; see open_clip.list_models(), "
                            f"e.g. {EXAMPLE}")
        if tag:  # the tag's activation and normalisation, whichever copy of its weights is read
            cfg = tag_config(spec, open_clip, name, tag)
            options.update(force_quick_gelu=bool(cfg.get("quick_gelu")),
                           force_preprocess_cfg={k: cfg[k] for k in ("mean", "std") if k in cfg})
        if "weights" in spec.options:
            path, weights = local_file(spec)
        elif tag:
            path, weights = tag_file(spec, cfg)
        else:
            path, weights = None, RANDOM_INIT
        pretrained = str(path) if path else None
    model = create(spec, name, pretrained, options)
    visual = model.visual
    if isinstance(getattr(visual, "proj", None), torch.nn.Parameter):
        visual.proj = None  # pooled features before the text-space projection, as the clip kind gives
    pre = open_clip.get_model_preprocess_cfg(model)
    side = pre["size"] if isinstance(pre["size"], int) else pre["size"][-1]
    depth = len(getattr(getattr(visual, "transformer", None), "resblocks", ()))
    layers = layers_option(spec) or (quarter_layers(depth) if depth else 4)
    fingerprint = (weights.split()[-1] if weights != RANDOM_INIT else
                   sha256_text(f"random-init seed 0|{spec}|size={size}|open_clip {open_clip.__version__}"))
    backbone = OpenClipBackbone(visual, Preprocess(tuple(pre["mean"]), tuple(pre["std"]), side), fingerprint, layers,
                                weights)
    backbone.text_tower = partial(text_tower, spec, name, pretrained, options)
    return backbone


def create(spec: BackboneSpec, name: str, pretrained: str | None, options: dict[str, Any]) -> torch.nn.Module:
    """The whole open_clip model, its random init (and any tensor the file lacks) seeded with 0."""
    open_clip = import_open_clip()
    with torch.random.fork_rng():
        torch.manual_seed(0)  # a random init is part of the identity
        try:
            return open_clip.create_model(name, pretrained=pretrained, **options)
        except (RuntimeError, ValueError, KeyError) as err:  # open_clip's refusals of a file or config
            raise UserError(f"backbone {spec}: open_clip could not build it ({str(err).splitlines()[0]})") from None


def text_tower(spec: BackboneSpec, name: str, pretrained: str | None, options: dict[str, Any]) -> TextTower:
    """The model's text side, built again as the backbone was (only zero-shot asks, so the image
    backbone never holds it), with open_clip's tokenizer for the model."""
    open_clip = import_open_clip()
    try:
        tokenizer = open_clip.get_tokenizer(name)
    except Exception as err:  # noqa: BLE001  (a tokenizer that must be fetched, offline; open_clip's many types)
        raise UserError(f"backbone {spec}: open_clip has no tokenizer for it here "
                        f"({str(err).splitlines()[0]})") from None
    return open_clip_tower(create(spec, name, pretrained, options), tokenizer)
