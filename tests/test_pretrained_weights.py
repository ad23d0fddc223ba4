"""Published weights, offline and real: a Hugging Face cache laid out in the test (HF_HUB_OFFLINE), a
loopback HTTP server for the FaRL release, open_clip with a small config; and the provenance string."""
import hashlib
import http.server
import json
import threading
import warnings

import open_clip
import pytest
import timm
import torch
from huggingface_hub import constants as hub_constants
from safetensors.torch import save_file
from test_backbones_kinds import clip_tower, reference_forward, save_farl

from farl_bench.backbones import build
from farl_bench.backbones.farl import RELEASES
from farl_bench.backbones.tools import describe
from farl_bench.errors import UserError

REV = "0123456789abcdef0123456789abcdef01234567"
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty offline Hugging Face cache under tmp; `hub(repo, {name: write(path)})` adds a repo
    at revision REV (snapshots/REV/<name>, refs/main) and returns its snapshot folder."""
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads both once, at import
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)

    def add(repo: str, files: dict):
        folder = cache / f"models--{repo.replace('/', '--')}"
        snapshot = folder / "snapshots" / REV
        snapshot.mkdir(parents=True)
        (folder / "refs").mkdir()
        (folder / "refs" / "main").write_text(REV)
        for name, write in files.items():
            write(snapshot / name)
        return snapshot

    add.cache = cache
    return add


def safetensors_of(model: torch.nn.Module):
    return lambda path: save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


@pytest.mark.parametrize("spec", ["timm:resnet10t.c3_in1k", "timm:resnet10t?pretrained=1"])
def test_timm_tag_loads_offline_from_the_hub_cache_and_names_repo_revision_and_sha(hub, spec):
    # the repo as timm publishes it (model.safetensors, classifier included), with random weights
    torch.manual_seed(1)
    model = timm.create_model("resnet10t", num_classes=1000)
    snapshot = hub("timm/resnet10t.c3_in1k", {"model.safetensors": safetensors_of(model)})
    backbone = build(spec, input_size=64)
    file_sha = sha256(snapshot / "model.safetensors")
    assert backbone.weights == f"hub timm/resnet10t.c3_in1k@{REV} {file_sha}"
    assert backbone.fingerprint == file_sha
    torch.testing.assert_close(backbone.model.layer4[0].conv2.weight, model.layer4[0].conv2.weight)
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        torch.testing.assert_close(backbone(x).pooled, model.eval().forward_head(model.forward_features(x),
                                                                                 pre_logits=True))
    assert (backbone.preprocess.mean, backbone.preprocess.std) == IMAGENET
    assert "state_dict" not in backbone.model.pretrained_cfg  # no second copy of the tensors kept


def test_hf_hub_name_takes_architecture_mean_std_and_size_from_the_repo_config(hub):
    torch.manual_seed(2)
    model = timm.create_model("resnet10t", num_classes=7)
    config = {"architecture": "resnet10t", "num_classes": 7,
              "pretrained_cfg": {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.2, 0.2], "input_size": [3, 96, 96],
                                 "classifier": "fc"}}
    hub("org/tiny-resnet", {"model.safetensors": safetensors_of(model),
                            "config.json": lambda p: p.write_text(json.dumps(config))})
    backbone = build("timm:hf-hub:org/tiny-resnet")
    assert backbone.preprocess.mean == (0.5, 0.4, 0.3) and backbone.preprocess.input_size == 96
    torch.testing.assert_close(backbone.model.conv1[0].weight, model.conv1[0].weight)
    assert backbone.weights.startswith(f"hub org/tiny-resnet@{REV} ")
    # mean= / std= override what the weights' config says, on this kind as on any other
    override = build("timm:hf-hub:org/tiny-resnet?mean=0.1&std=0.3,0.2,0.1")
    assert (override.preprocess.mean, override.preprocess.std) == ((0.1, 0.1, 0.1), (0.3, 0.2, 0.1))
    assert build("pixels?grid=2&mean=0.5", input_size=8).preprocess.mean == (0.5, 0.5, 0.5)


def test_an_empty_offline_cache_is_one_line_naming_the_file_the_cache_and_the_ways_out(hub, cli):
    with pytest.raises(UserError) as refused:
        build("timm:resnet18.a1_in1k")
    message = str(refused.value)
    folder = hub.cache / "models--timm--resnet18.a1_in1k"
    for part in ("needs model.safetensors", "timm/resnet18.a1_in1k", str(folder), "HF_HUB_OFFLINE",
                 "?weights=PATH", "fill the cache"):
        assert part in message
    assert "\n" not in message
    code, out, err = cli("backbone-info", "timm:resnet18.a1_in1k")
    assert code == 2 and "Traceback" not in out + err and "needs model.safetensors" in err
    with pytest.raises(UserError, match="needs config.json of Hugging Face repo org/none"):
        build("timm:hf-hub:org/none")


def test_a_tag_with_a_local_file_takes_the_tags_config_and_the_files_weights(hub, tmp_path):
    torch.manual_seed(3)
    model = timm.create_model("vit_tiny_patch16_224", num_classes=0)
    path = tmp_path / "clip_tiny.safetensors"
    safetensors_of(model)(path)
    # the tag's normalisation (augreg: 0.5), the file's tensors, and nothing fetched
    backbone = build(f"timm:vit_tiny_patch16_224.augreg_in21k?weights={path}", input_size=32)
    assert backbone.weights == f"file {sha256(path)}"
    assert backbone.preprocess.mean == (0.5, 0.5, 0.5)  # augreg's, not ImageNet's
    torch.testing.assert_close(backbone.model.blocks[0].attn.qkv.weight, model.blocks[0].attn.qkv.weight)


@pytest.mark.parametrize("spec, message", [
    ("timm:resnet18.nope", "timm has no pretrained weights 'resnet18.nope'; known for resnet18: resnet18.a1_in1k"),
    ("timm:resnet18.a1_in1k?pretrained=0", "a tag means pretrained weights"),
    ("timm:resnet18?mean=1,2", "mean='1,2' must be three comma-separated numbers"),
    ("timm:resnet18?std=0", "all positive"),
    ("openclip:ViT-B-16/nope", "open_clip has no weights 'nope' for ViT-B-16; known: openai"),
    ("openclip:ViT-Q-99", "open_clip has no model 'ViT-Q-99'"),
])
def test_wrong_pretrained_names_are_one_clear_error(spec, message):
    with pytest.raises(UserError, match=message.replace("?", r"\?")):
        build(spec)


def test_random_init_says_so_and_files_give_their_sha(tmp_path):
    assert describe(build("timm:resnet10t", 32))["weights"] == "random-init"
    path = tmp_path / "w.pth"
    torch.save(timm.create_model("resnet10t", num_classes=0).state_dict(), path)
    assert describe(build(f"ckpt:{path}?arch=resnet10t", 32))["weights"] == f"file {sha256(path)}"


TINY_CLIP = {"embed_dim": 32, "vision_cfg": {"image_size": 32, "layers": 4, "width": 64, "patch_size": 8},
             "text_cfg": {"context_length": 8, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}}


def tiny_clip_repo(hub, tower: dict) -> None:
    """An open_clip hub repo (open_clip_config.json + open_clip_model.safetensors) whose image tower is `tower`."""
    state = open_clip.CLIP(**TINY_CLIP, quick_gelu=True).state_dict()
    state.update({f"visual.{k}": v for k, v in tower.items()})
    config = {"model_cfg": {**TINY_CLIP, "quick_gelu": True},
              "preprocess_cfg": {"mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]}}
    hub("org/tiny-clip", {"open_clip_config.json": lambda p: p.write_text(json.dumps(config)),
                          "open_clip_model.safetensors": lambda p: save_file(state, str(p))})


def test_openclip_hub_tower_equals_a_plain_clip_forward_with_open_clips_preprocessing(hub):
    tower = clip_tower(width=64, depth=4, patch=8, grid=4)
    tiny_clip_repo(hub, tower)
    backbone = build("openclip:hf-hub:org/tiny-clip?layers=1,3")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():
        ours = backbone(x)
    maps, pooled = reference_forward(tower, x)
    torch.testing.assert_close(ours.pooled, pooled, atol=1e-4, rtol=1e-4)  # before the text projection
    torch.testing.assert_close(ours.levels[1], maps[3], atol=1e-4, rtol=1e-4)
    assert backbone.preprocess.mean == (0.5, 0.4, 0.3) and backbone.preprocess.input_size == 32
    assert backbone.weights.startswith(f"hub org/tiny-clip@{REV} ")


def test_openclip_tag_brings_its_quick_gelu_and_normalisation(hub, monkeypatch):
    tower = clip_tower(width=64, depth=4, patch=8, grid=4)
    tiny_clip_repo(hub, tower)
    # a model config without quick_gelu, and a tag trained with it (as OpenAI's): the tag must win
    monkeypatch.setitem(open_clip.factory._MODEL_CONFIGS, "Tiny-CLIP", TINY_CLIP)
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, "Tiny-CLIP", {"test": {
        "hf_hub": "org/tiny-clip/", "quick_gelu": True, "mean": (0.1, 0.2, 0.3), "std": (0.3, 0.3, 0.3)}})
    backbone = build("openclip:Tiny-CLIP/test")
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        torch.testing.assert_close(backbone(x).pooled, reference_forward(tower, x)[1], atol=1e-4, rtol=1e-4)
    assert backbone.preprocess.mean == (0.1, 0.2, 0.3)


class Release(http.server.BaseHTTPRequestHandler):
    """Serves `files` (path -> bytes); `claim` (path -> Content-Length) may promise more than is sent."""

    files: dict[str, bytes] = {}
    claim: dict[str, int] = {}
    hits: list[str] = []

    def do_GET(self):
        self.hits.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(self.claim.get(self.path, len(body))))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def release(tmp_path, monkeypatch):
    """A loopback server (127.0.0.1 only) standing in for FaRL's release; torch's hub cache under tmp."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Release,),
                                                                    {"files": {}, "claim": {}, "hits": []}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/rel"
    monkeypatch.setenv("FARL_BENCH_FARL_URL", base)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    yield server.RequestHandlerClass, tmp_path / "torch" / "hub" / "checkpoints", base
    server.shutdown()
    server.server_close()


NAME = "FaRL-Base-Patch16-LAIONFace20M-ep16"


def test_farl_release_is_fetched_once_validated_and_recorded_by_url_and_sha(release, tmp_path):
    handler, cache, base = release
    tower = clip_tower(width=64, depth=4)
    save_farl(tmp_path / "served.pth", tower)
    handler.files[f"/rel/{NAME}.pth"] = (tmp_path / "served.pth").read_bytes()
    backbone = build("farl:ep16")
    assert (cache / f"{NAME}.pth").read_bytes() == (tmp_path / "served.pth").read_bytes()
    assert backbone.weights == f"url {base}/{NAME}.pth {sha256(tmp_path / 'served.pth')}"
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(6))
    with torch.inference_mode():
        torch.testing.assert_close(backbone(x).pooled, reference_forward(tower, x)[1], atol=1e-4, rtol=1e-4)
    assert build(f"farl:{NAME}.pth").weights == backbone.weights and handler.hits == [f"/rel/{NAME}.pth"]
    assert sorted(p.name for p in cache.iterdir()) == [f"{NAME}.pth"]
    assert set(RELEASES) == {NAME, "FaRL-Base-Patch16-LAIONFace20M-ep64"}


@pytest.mark.parametrize("served, claimed, message", [
    ("half", None, "not a FaRL checkpoint"),        # a complete response of a cut file
    ("whole", 10 ** 7, "could not fetch"),          # the connection ends before Content-Length
    ("tensors without visual.*", None, "not a FaRL checkpoint"),
])
def test_a_truncated_or_foreign_farl_download_is_refused_and_not_cached(release, tmp_path, served, claimed,
                                                                        message):
    handler, cache, _ = release
    save_farl(tmp_path / "served.pth", clip_tower(width=64, depth=4))
    body = (tmp_path / "served.pth").read_bytes()
    if served == "half":
        body = body[: len(body) // 2]
    elif served != "whole":
        torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pth")
        body = (tmp_path / "other.pth").read_bytes()
    handler.files[f"/rel/{NAME}.pth"] = body
    if claimed:
        handler.claim[f"/rel/{NAME}.pth"] = claimed
    with pytest.raises(UserError, match=message) as refused:
        build("farl:ep16")
    assert "nothing was cached" in str(refused.value)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_farl_release_offline_names_the_file_the_cache_and_a_local_path(release, monkeypatch):
    handler, cache, _ = release
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError) as refused:
        build("farl:ep64")
    message = str(refused.value)
    assert f"needs FaRL-Base-Patch16-LAIONFace20M-ep64.pth, which is not in the cache {cache}" in message
    assert "farl:PATH" in message and "fill the cache" in message and handler.hits == []


def test_a_refused_pickle_prints_no_torch_warning_before_our_line(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UserError, match="refused"):
            build(f"timm:resnet18?weights={path}")
    assert [str(w.message) for w in caught] == []
