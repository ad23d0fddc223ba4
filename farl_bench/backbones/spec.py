"""Parsing backbone spec strings and the one front door, `build`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl

from farl_bench.backbones.base import Backbone, sha256_text
from farl_bench.backbones.source import package_digest, top_level_package
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

#: Options every kind takes: the input normalisation, overriding the backbone's own.
NORM_OPTIONS = ("mean", "std")


@dataclass(frozen=True)
class BackboneSpec:
    kind: str
    target: str = ""
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = f"{self.kind}:{self.target}" if self.target else self.kind
        if self.options:
            text += "?" + "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return text


def parse_spec(text: str) -> BackboneSpec:
    """``kind[:target][?k=v&...]`` -> BackboneSpec (options sorted, so equal specs print equal)."""
    body, _, query = text.strip().partition("?")
    kind, _, target = body.partition(":")
    if not kind:
        raise UserError(f"backbone spec {text!r} has no kind; write e.g. timm:resnet18 or pixels")
    try:
        options = dict(parse_qsl(query, strict_parsing=True)) if query else {}
    except ValueError:
        raise UserError(f"backbone spec {text!r}: options must be ?key=value&key=value") from None
    return BackboneSpec(kind, target, options)


def check_options(spec: BackboneSpec, allowed: set[str], example: str) -> None:
    """Refuse options the kind does not take, naming the ones it does."""
    unknown = set(spec.options) - allowed
    if unknown:
        raise UserError(f"backbone {spec}: unknown option(s) {', '.join(sorted(unknown))}; "
                        f"{spec.kind} takes {', '.join(sorted(allowed)) or 'none'} (e.g. {example})")


def int_option(spec: BackboneSpec, key: str) -> int | None:
    if key not in spec.options:
        return None
    try:
        return int(spec.options[key])
    except ValueError:
        raise UserError(f"backbone {spec}: option {key}={spec.options[key]!r} is not an integer") from None


def bool_option(spec: BackboneSpec, key: str) -> bool:
    value = spec.options.get(key, "0").lower()
    if value not in ("0", "1", "true", "false", "yes", "no"):
        raise UserError(f"backbone {spec}: option {key}={value!r} must be 1 or 0")
    return value in ("1", "true", "yes")


def triple_option(spec: BackboneSpec, key: str) -> tuple[float, float, float]:
    """``mean=0.5,0.5,0.5`` (or one value for all three channels); std must be positive."""
    text = spec.options[key]
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) == 1:
        values *= 3
    if len(values) != 3 or (key == "std" and min(values) <= 0):
        raise UserError(f"backbone {spec}: {key}={text!r} must be three comma-separated numbers (R,G,B) or one"
                        + (", all positive" if key == "std" else ""))
    return values


def layers_option(spec: BackboneSpec) -> list[int] | None:
    """``layers=i,j,k``: block/stage indices whose outputs become the feature levels (None if not given)."""
    text = spec.options.get("layers")
    if text is None:
        return None
    try:
        return [int(i) for i in text.split(",")]
    except ValueError:
        raise UserError(f"backbone {spec}: layers={text!r} must be comma-separated integers") from None


def build(spec: str | BackboneSpec, input_size: int | None = None) -> Backbone:
    """Build a backbone from its spec string; `input_size` overrides the backbone's default."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    builder = BACKBONES.get(parsed.kind)
    # mean= and std= apply to every kind, so they are taken here and the kind's builder never sees them
    norms = {key: triple_option(parsed, key) for key in NORM_OPTIONS if key in parsed.options}
    own = {k: v for k, v in parsed.options.items() if k not in NORM_OPTIONS}
    backbone = builder(BackboneSpec(parsed.kind, parsed.target, own), input_size)
    if top_level_package(builder) != "farl_bench":  # a plug-in kind: its code is part of its identity
        backbone.fingerprint = sha256_text(f"{backbone.fingerprint}|code {package_digest(builder)}")
    if norms:
        backbone.preprocess = replace(backbone.preprocess, **norms)
    backbone.spec = str(parsed)
    backbone.eval()
    backbone.feature_spec  # measured once, now, where the module was made (see Backbone.feature_spec)
    return backbone
