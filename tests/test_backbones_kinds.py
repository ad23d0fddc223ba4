"""The checkpoint kinds (ckpt, clip, farl), python factories, entry-point kinds, and the describe/embed tools."""
import hashlib
import importlib
import math
import sys
import textwrap

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from farl_bench.backbones import Preprocess, build
from farl_bench.backbones.clip import VIT_B16, quarter_layers
from farl_bench.backbones.tools import describe, embed
from farl_bench.errors import UserError
from farl_bench.registry import BACKBONES

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)


def clip_tower(width: int, depth: int, patch: int = 16, grid: int = 14, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for an OpenAI-layout CLIP ViT image tower (names without the `visual.` prefix)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * std

    def norm(name: str) -> dict[str, torch.Tensor]:
        return {f"{name}.weight": 1 + rand(width, std=0.1), f"{name}.bias": rand(width, std=0.1)}

    w = width
    sd = {"conv1.weight": rand(w, 3, patch, patch, std=(3 * patch * patch) ** -0.5),
          "class_embedding": rand(w, std=w ** -0.5), "positional_embedding": rand(grid * grid + 1, w, std=w ** -0.5),
          **norm("ln_pre"), **norm("ln_post"), "proj": rand(w, 32, std=w ** -0.5)}
    for i in range(depth):
        b = f"transformer.resblocks.{i}."
        sd.update({f"{b}{k}": v for k, v in {
            **norm("ln_1"), **norm("ln_2"),
            "attn.in_proj_weight": rand(3 * w, w, std=w ** -0.5), "attn.in_proj_bias": rand(3 * w, std=0.1),
            "attn.out_proj.weight": rand(w, w, std=w ** -0.5), "attn.out_proj.bias": rand(w, std=0.1),
            "mlp.c_fc.weight": rand(4 * w, w, std=w ** -0.5), "mlp.c_fc.bias": rand(4 * w, std=0.1),
            "mlp.c_proj.weight": rand(w, 4 * w, std=(4 * w) ** -0.5), "mlp.c_proj.bias": rand(w, std=0.1),
        }.items()})
    return sd


def text_tower_and_extras(width: int) -> dict[str, torch.Tensor]:
    """A (small) text tower in CLIP's layout and FaRL's masked-image-modelling extras: all to be ignored."""
    t = 32
    return {"token_embedding.weight": torch.randn(100, t), "positional_embedding": torch.randn(8, t),
            "transformer.resblocks.0.attn.in_proj_weight": torch.randn(3 * t, t), "ln_final.weight": torch.ones(t),
            "ln_final.bias": torch.zeros(t), "text_projection": torch.randn(t, 32), "logit_scale": torch.tensor(4.6),
            "visual.mask_token": torch.randn(width), "visual.ln_lm.weight": torch.ones(width),
            "visual.lm_transformer.resblocks.0.attn.in_proj_weight": torch.randn(3 * width, width),
            "visual.lm_head.weight": torch.randn(16, width), "visual.lm_head.bias": torch.zeros(16)}


def reference_forward(sd: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A plain CLIP ViT forward: (patch-token maps after every block, ln_post of the final class token)."""
    conv = sd["conv1.weight"]
    width, patch = conv.shape[0], conv.shape[-1]
    heads, depth = max(1, width // 64), sum(k.endswith("ln_1.weight") for k in sd)

    def ln(t: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(t, (width,), sd[f"{name}.weight"], sd[f"{name}.bias"], eps=1e-5)

    x = F.conv2d(x, conv, stride=patch)
    n, _, gh, gw = x.shape
    x = torch.cat([sd["class_embedding"].expand(n, 1, width), x.flatten(2).transpose(1, 2)], dim=1)
    x = ln(x + sd["positional_embedding"], "ln_pre")
    maps = []
    for i in range(depth):
        b = f"transformer.resblocks.{i}."
        q, k, v = (ln(x, b + "ln_1") @ sd[b + "attn.in_proj_weight"].T + sd[b + "attn.in_proj_bias"]).chunk(3, -1)
        q, k, v = (t.reshape(n, -1, heads, width // heads).transpose(1, 2) for t in (q, k, v))
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(width // heads), dim=-1) @ v
        attn = attn.transpose(1, 2).reshape(n, -1, width)
        x = x + attn @ sd[b + "attn.out_proj.weight"].T + sd[b + "attn.out_proj.bias"]
        h = ln(x, b + "ln_2") @ sd[b + "mlp.c_fc.weight"].T + sd[b + "mlp.c_fc.bias"]
        x = x + (h * torch.sigmoid(1.702 * h)) @ sd[b + "mlp.c_proj.weight"].T + sd[b + "mlp.c_proj.bias"]
        maps.append(x[:, 1:].transpose(1, 2).reshape(n, width, gh, gw))
    return maps, ln(x[:, 0], "ln_post")


def save_farl(path, tower: dict[str, torch.Tensor]) -> None:
    """FaRL's layout: {"state_dict": {visual.* + text tower + MIM extras}, ...}."""
    width = tower["conv1.weight"].shape[0]
    state = {**{f"visual.{k}": v for k, v in tower.items()}, **text_tower_and_extras(width)}
    torch.save({"state_dict": state, "epoch": 16}, path)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_farl_vit_b16_levels_equal_a_plain_clip_forward(tmp_path):
    tower = clip_tower(width=768, depth=12)
    path = tmp_path / "FaRL-Base-Patch16.pth"
    save_farl(path, tower)
    backbone = build(f"farl:{path}")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ours = backbone(x)
        maps, pooled = reference_forward(tower, x)
    assert [tuple(f.shape) for f in ours.levels] == [(1, 768, 14, 14)] * 4
    for got, want in zip(ours.levels, [maps[i] for i in (3, 5, 7, 11)]):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.pooled, pooled, atol=1e-4, rtol=1e-4)
    assert backbone.preprocess == Preprocess(CLIP_MEAN, (0.26862954, 0.26130258, 0.27577711), 224)
    assert backbone.fingerprint == sha256(path)


def test_farl_at_448_resizes_the_position_grid_bicubic_and_keeps_the_class_row(tmp_path):
    tower = clip_tower(width=64, depth=4)
    path = tmp_path / "farl_tiny.pth"
    save_farl(path, tower)
    backbone = build(f"farl:{path}", input_size=448)
    pe = tower["positional_embedding"]
    grid = F.interpolate(pe[1:].reshape(1, 14, 14, 64).permute(0, 3, 1, 2), size=(28, 28), mode="bicubic",
                         align_corners=False)
    want = torch.cat([pe[:1], grid.permute(0, 2, 3, 1).reshape(28 * 28, 64)])
    torch.testing.assert_close(backbone.model.pos_embed[0], want)
    x = torch.randn(1, 3, 448, 448, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        ours = backbone(x)
        maps, _ = reference_forward({**tower, "positional_embedding": want}, x)
    assert backbone.layers == [0, 1, 2, 3] and backbone.preprocess.input_size == 448
    for got, ref in zip(ours.levels, maps):
        torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("prefix", ["visual.", ""])
def test_clip_reads_an_openai_state_dict_whole_or_image_tower_only(tmp_path, prefix):
    tower = clip_tower(width=64, depth=4, patch=8, grid=4)
    state = {f"{prefix}{k}": v for k, v in tower.items()}
    if prefix:  # the whole model: the text tower comes along and is ignored
        state.update({k: v for k, v in text_tower_and_extras(64).items() if not k.startswith("visual.")})
    path = tmp_path / "clip.pt"
    torch.save(state, path)
    backbone = build(f"clip:{path}?layers=1,3")
    x = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        ours = backbone(x)
        maps, pooled = reference_forward(tower, x)
    torch.testing.assert_close(ours.pooled, pooled, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ours.levels[1], maps[3], atol=1e-4, rtol=1e-4)
    assert backbone.preprocess.mean == CLIP_MEAN and backbone.preprocess.input_size == 32


def test_an_open_clip_vit_h_image_tower_without_heads_is_refused_naming_both_ways_to_load_it(tmp_path):
    w = 1280  # ViT-H-14: 16 heads of 80, where OpenAI's rule would make 20 of 64 from the same tensors
    path = tmp_path / "vit_h.pt"
    torch.save({"visual.conv1.weight": torch.zeros(w, 3, 14, 14), "visual.class_embedding": torch.zeros(w),
                "visual.positional_embedding": torch.zeros(5, w),
                "visual.transformer.resblocks.0.ln_1.weight": torch.ones(w)}, path)
    with pytest.raises(UserError, match=rf"1280 wide is OpenCLIP's ViT-H-14 \(16 heads of 80\).*pass \?heads=16 .*"
                                        rf"openclip:ViT-H-14\?weights={path}"):
        build(f"clip:{path}")
    with pytest.raises(UserError, match="heads=3 must be a positive divisor of the image tower's width 1280"):
        build(f"clip:{path}?heads=3")
    with pytest.raises(UserError, match="option text_heads='x' is not an integer"):
        build(f"clip:{path}?heads=16&text_heads=x")


def test_farl_without_a_file_is_a_random_vit_b16_fingerprinted_by_its_spec():
    backbone = build("farl", input_size=32)
    assert backbone.layers == [3, 5, 7, 11] and backbone.model.embed_dim == 768 and len(backbone.model.blocks) == 12
    assert backbone.fingerprint == hashlib.sha256(
        f"random-init seed 0|farl|{VIT_B16}|act=quick_gelu|size=32|timm {timm.__version__}".encode()).hexdigest()
    assert quarter_layers(12) == [2, 5, 8, 11]  # clip's default levels


def write_resnet(tmp_path, name: str, prefix: str = "", extra: dict | None = None):
    """A test_resnet trained for 10 classes, saved with its classifier (fc.*) under `prefix`."""
    model = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    torch.nn.init.constant_(model.conv1[0].weight, 0.25)
    state = {f"{prefix}{k}": v for k, v in model.state_dict().items()} | (extra or {})
    path = tmp_path / name
    save_file(state, path) if name.endswith(".safetensors") else torch.save({"state_dict": state}, path)
    return model, path


@pytest.mark.parametrize("prefix, name", [
    ("module.", "w.pth"), ("backbone.", "w.pth"), ("model.", "w.pth"), ("encoder.", "w.pth"),
    ("visual.", "w.pth"), ("module.backbone.", "w.pth"), ("", "w.safetensors"), ("module.", "w.safetensors"),
])
def test_ckpt_strips_each_wrapper_prefix_drops_the_classifier_and_reads_safetensors(tmp_path, prefix, name):
    # a detection head beside the wrapped backbone is left out, not counted as unexpected
    model, path = write_resnet(tmp_path, name, prefix, {"head.cls.weight": torch.zeros(3, 3)} if prefix else None)
    backbone = build(f"ckpt:{path}?arch=test_resnet", input_size=64)
    assert torch.all(backbone.model.conv1[0].weight == 0.25)
    assert backbone.fingerprint == sha256(path)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(backbone(x).pooled, model.eval().forward_head(model.forward_features(x),
                                                                                pre_logits=True))


def test_partial_load_is_refused_naming_the_keys_unless_allowed(tmp_path):
    model = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("layer4.")}
    state["conv1.0.weight"] = torch.full_like(state["conv1.0.weight"], 0.5)
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    refusal = r"missing keys \['layer4\.0.*unexpected keys \['extra\.weight'\].*allow_partial=1"
    with pytest.raises(UserError, match=refusal):
        build(f"ckpt:{path}?arch=test_resnet")
    backbone = build(f"ckpt:{path}?arch=test_resnet&allow_partial=1")
    assert torch.all(backbone.model.conv1[0].weight == 0.5)
    assert build(f"timm:test_resnet?weights={path}&allow_partial=1").fingerprint == backbone.fingerprint


@pytest.mark.parametrize("name, content, message", [
    ("notes.pth", b"these are my notes", "is not a PyTorch checkpoint"),
    ("w.safetensors", b"\x00garbage", "is not a readable safetensors file"),
    ("numbers.pth", [1, 2, 3], "holds no tensors"),
    ("missing.pth", None, "does not exist"),
])
def test_a_file_that_is_not_a_checkpoint_is_one_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    for spec in (f"ckpt:{path}?arch=test_resnet", f"farl:{path}"):
        with pytest.raises(UserError, match=message):
            build(spec)


def test_wrong_checkpoints_and_options_are_one_clear_error(tmp_path):
    _, resnet = write_resnet(tmp_path, "r.pth")
    tower = tmp_path / "tower.pth"
    torch.save(clip_tower(width=64, depth=2, patch=8, grid=4), tower)
    cases = [
        (f"clip:{resnet}", "holds no CLIP ViT image tower"),
        (f"ckpt:{tower}?arch=test_resnet", "no key fits"),
        (f"ckpt:{resnet}", r"write ckpt:PATH\?arch="),
        (f"clip:{tower}?layers=0,2", r"must lie in 0\.\.1"),
        (f"clip:{tower}?img_size=36", "not a multiple of the patch size 8"),
        (f"clip:{tower}?act=relu", "choose quick_gelu or gelu"),
        (f"farl:{tower}?act=gelu", "unknown option"),
    ]
    for spec, message in cases:
        with pytest.raises(UserError, match=message):
            build(spec)


FACTORIES = '''
import torch
from torch import nn
from farl_bench.backbones import Backbone, Features, Preprocess


class Plain(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 4, stride=4)

    def forward(self, x):
        return self.conv(x)


class Declared(Plain):
    preprocess = {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25), "input_size": 32}
    feature_spec = {"channels": (8, 8), "strides": (4, 8), "pooled_dim": 8}

    def forward(self, x):
        raise AssertionError("forward_features is used when present")

    def forward_features(self, x):
        y = self.conv(x)
        return [y, torch.nn.functional.max_pool2d(y, 2)]


def plain(width=4):
    return Plain(width)


def declared(stride=8):
    model = Declared(8)
    model.feature_spec = {**Declared.feature_spec, "strides": (4, stride)}
    return model


def sized(input_size):
    model = Plain(4)
    model.preprocess = Preprocess((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 999)
    model.seen = input_size
    return model


def vector():
    return nn.Sequential(nn.Conv2d(3, 6, 4), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def tokens():
    return nn.Sequential(nn.Conv2d(3, 6, 4), nn.Flatten(2))


class Ready(Backbone):
    def __init__(self):
        super().__init__()
        self.preprocess = Preprocess((0.5,) * 3, (0.5,) * 3, 16)
        self.fingerprint = "made-by-hand"

    def _forward(self, x, levels):
        return Features([], x.mean(dim=(2, 3)))


def not_a_module():
    return 3
'''


@pytest.fixture
def factories(tmp_path, monkeypatch):
    """The module name of FACTORIES written into tmp_path and put on sys.path."""
    name = f"face_factories_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(FACTORIES))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_py_plain_module_is_wrapped_with_mean_pooling_and_literal_options(factories):
    backbone = build(f"py:{factories}:plain?width=6", input_size=16)
    x = torch.randn(2, 3, 16, 16)
    feats = backbone(x)
    maps = backbone.module(x)
    assert [tuple(f.shape) for f in feats.levels] == [(2, 6, 4, 4)]
    torch.testing.assert_close(feats.pooled, maps.mean(dim=(2, 3)))
    assert backbone.preprocess == Preprocess((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 16)
    assert backbone.fingerprint == build(f"py:{factories}:plain?width=6", input_size=16).fingerprint
    assert backbone.fingerprint != build(f"py:{factories}:plain?width=5", input_size=16).fingerprint


def test_py_adapter_honours_forward_features_preprocess_and_feature_spec(factories):
    backbone = build(f"py:{factories}:declared")
    assert backbone.preprocess == Preprocess((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 32)
    assert (backbone.feature_spec.channels, backbone.feature_spec.strides) == ((8, 8), (4, 8))
    assert build(f"py:{factories}:vector", 16).feature_spec.channels == ()
    with pytest.raises(UserError, match=r"feature_spec says .*strides=\(4, 16\).* gives .*strides=\(4, 8\)"):
        build(f"py:{factories}:declared?stride=16")
    with pytest.raises(UserError, match=r"returned \[\(1, 6, 25\)\]; a backbone module must return"):
        build(f"py:{factories}:tokens", 8)


def test_py_factory_gets_the_input_size_and_a_weights_file(factories, tmp_path):
    backbone = build(f"py:{factories}:sized", input_size=24)
    assert backbone.module.seen == 24 and backbone.preprocess.input_size == 24
    state = {k: torch.full_like(v, 0.5) for k, v in backbone.module.state_dict().items()}
    path = tmp_path / "plain.safetensors"
    save_file({f"module.{k}": v for k, v in state.items()}, path)
    loaded = build(f"py:{factories}:plain?weights={path}")
    assert torch.all(loaded.module.conv.weight == 0.5)
    assert loaded.fingerprint == build(f"py:{factories}:plain?weights={path}").fingerprint
    assert loaded.fingerprint != build(f"py:{factories}:plain").fingerprint  # the random init
    save_file({f"module.{k}": v * 2 for k, v in state.items()}, path)
    assert build(f"py:{factories}:plain?weights={path}").fingerprint != loaded.fingerprint


def test_py_backbone_is_used_as_it_is_its_own_fingerprint_joined_with_its_code(factories, tmp_path):
    backbone = build(f"py:{factories}:Ready")
    assert backbone.spec == f"py:{factories}:Ready" and len(backbone.fingerprint) == 64
    assert build(f"py:{factories}:Ready").fingerprint == backbone.fingerprint
    source = tmp_path / f"{factories}.py"
    source.write_text(source.read_text().replace('"made-by-hand"', '"made-again"'))
    assert build(f"py:{factories}:Ready").fingerprint != backbone.fingerprint


PACKAGE = {
    "__init__.py": "",
    "nets.py": textwrap.dedent("""
        import torch
        from .scale import SCALE

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 4, 4, stride=4)

            def forward(self, x):
                return self.conv(x) * SCALE

        def build():
            return Net()
    """),
    "scale.py": "SCALE = 1.0\n",
}


def write_package(folder, name, files):
    for relative, text in files.items():
        (folder / name / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / name / relative).write_text(text)


def test_py_fingerprint_covers_every_file_of_the_factory_package_wherever_it_lies(tmp_path, monkeypatch):
    name = f"face_pkg_{tmp_path.name.replace('-', '_')}"
    spec = f"py:{name}.nets:build"
    monkeypatch.syspath_prepend(str(tmp_path / "a"))
    write_package(tmp_path / "a", name, PACKAGE)

    def fresh_build():
        for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[module]  # import the code as it is now on disk
        return build(spec, input_size=8)

    first = fresh_build()
    assert fresh_build().fingerprint == first.fingerprint
    # a constant of the forward only, in a file beside the factory's: same weights, other features
    write_package(tmp_path / "a", name, {"scale.py": "SCALE = 2.0\n"})
    doubled = fresh_build()
    assert doubled.fingerprint != first.fingerprint
    torch.testing.assert_close(doubled.module.conv.weight, first.module.conv.weight)
    write_package(tmp_path / "a", name, {"scale.py": "SCALE = 1.0\n", "more/helpers.py": "X = 1\n"})
    grown = fresh_build()  # a file the factory does not even import
    assert grown.fingerprint not in (first.fingerprint, doubled.fingerprint)
    write_package(tmp_path / "b", name, {**PACKAGE, "more/helpers.py": "X = 1\n"})  # the same code elsewhere
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    moved = fresh_build()
    assert str(tmp_path / "b") in sys.modules[name].__file__ and moved.fingerprint == grown.fingerprint
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[module]


@pytest.mark.parametrize("target, message", [
    ("nowhere_module_xyz:make", "cannot import 'nowhere_module_xyz'"),
    ("{m}:plian", "has no callable 'plian'. Did you mean plain"),
    ("{m}:plain?depth=3", r"cannot take \['depth'\].*its parameters: width"),
    ("{m}:not_a_module", "returned a int; it must return an nn.Module"),
    ("{m}", "write py:package.module:factory"),
])
def test_py_mistakes_are_one_clear_error(factories, target, message):
    with pytest.raises(UserError, match=message):
        build("py:" + target.format(m=factories))


PLUGIN = """
import torch
from farl_bench.backbones.python_factory import adapt

def build_myface(spec, input_size):
    return adapt(torch.nn.Conv2d(3, 5, 2, stride=2), input_size, f"mine:{spec.target}")
"""


def test_entry_point_plugins_add_backbone_kinds_fingerprinted_with_their_code(monkeypatch, tmp_path):
    plugin = f"face_plugin_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{plugin}.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))

    class FakeEntryPoint:
        name = "myface"

        def load(self):
            sys.modules.pop(plugin, None)
            return importlib.import_module(plugin).build_myface

    def fresh_registry():
        monkeypatch.setattr(BACKBONES, "_items", {k: v for k, v in BACKBONES._items.items() if k != "myface"})
        monkeypatch.setattr(BACKBONES, "_loaded", False)

    monkeypatch.setattr("farl_bench.registry.entry_points",
                        lambda group: [FakeEntryPoint()] if group == "farl_bench.backbones" else [])
    fresh_registry()
    backbone = build("myface:v2", input_size=8)
    assert backbone.feature_spec.channels == (5,) and backbone.module.stride == (2, 2)
    assert backbone.fingerprint not in ("", "mine:v2") and build("myface:v2", 8).fingerprint == backbone.fingerprint
    assert build("myface:v3", 8).fingerprint != backbone.fingerprint  # the plug-in's own part still counts
    assert {"ckpt", "clip", "farl", "myface", "pixels", "py", "timm"} <= set(BACKBONES.names())
    (tmp_path / f"{plugin}.py").write_text(PLUGIN.replace("stride=2", "stride=1"))  # same weights, new code
    fresh_registry()
    changed = build("myface:v2", input_size=8)
    assert changed.module.stride == (1, 1) and changed.fingerprint != backbone.fingerprint
    sys.modules.pop(plugin, None)


def test_describe_states_levels_preprocessing_size_and_identity():
    info = describe(build("timm:test_vit?layers=0,2", input_size=32))
    assert info["spec"] == "timm:test_vit?layers=0,2" and info["layers"] == [0, 2]
    assert info["channels"] == [64, 64] and info["strides"] == [16, 16] and info["pooled_dim"] == 64
    assert info["params"] > 0 and len(info["fingerprint"]) == 64 and info["preprocess"]["input_size"] == 32
    assert describe(build("pixels?grid=2", 8))["layers"] is None
    assert describe(build("timm:test_resnet", 32))["layers"] == "last 4"


def test_embed_gives_pooled_features_and_levels_in_path_order(tmp_path):
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        paths.append(tmp_path / f"{i}.png")
        Image.new("RGB", (20, 12), colour).save(paths[-1])
    backbone = build("pixels?grid=1", input_size=8)
    pooled = embed(backbone, paths, batch_size=2)
    want = (np.eye(3, dtype=np.float32) - 0.5) / 0.5
    np.testing.assert_allclose(pooled, want, atol=1e-6)
    pooled_too, levels = embed(backbone, paths, layers=True, batch_size=2)
    np.testing.assert_array_equal(pooled_too, pooled)
    assert [a.shape for a in levels] == [(3, 3, 2, 2)]
    assert embed(backbone, []).shape == (0, 3)
