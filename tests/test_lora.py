"""The `lora` protocol: peft adapters on a copy of the backbone (attention projections, else dense
convolutions), only adapters and head trained, rank/alpha/lr chosen on validation, recorded."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from helpers import write_celeba, write_lapa

from farl_bench.backbones import build
from farl_bench.data.dataset import read_dataset
from farl_bench.engine import trainer
from farl_bench.engine.lora import add_adapters, adapter_targets
from farl_bench.engine.runner import RunOptions, run_cells
from farl_bench.errors import UserError
from farl_bench.plan import expand
from farl_bench.tasks import load_task, make_family

VIT = "timm:test_vit"
TINY = {"input_size": 32, "protocols.lora.epochs": 2, "protocols.lora.batch_size": 30,
        "protocols.lora.ranks": [4, 8], "protocols.lora.lrs": [3e-3]}


def lora_params(module: torch.nn.Module, rank: int) -> int:
    """LoRA's parameter count by hand: A (rank x in) and B (out x rank) per Linear; a conv's A is a
    conv from `in` to rank channels with the layer's kernel, its B a 1 x 1 conv to `out`."""
    if isinstance(module, torch.nn.Linear):
        return rank * (module.in_features + module.out_features)
    return rank * module.in_channels * module.kernel_size[0] * module.kernel_size[1] + module.out_channels * rank


def test_a_vit_gets_adapters_on_every_attention_projection_and_only_they_train():
    original = build(VIT, 32)
    adapted = copy.deepcopy(original)

    settings = add_adapters(adapted, rank=4, alpha=8)

    expected = [n for n, m in original.named_modules() if n.endswith(("attn.qkv", "attn.proj"))]
    assert len(expected) == 12 and settings["target_modules"] == expected and settings["layers"] == "attention"
    assert (settings["r"], settings["lora_alpha"], settings["lora_dropout"]) == (4, 8, 0.0)
    trainable = {n: p for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_A." in n or ".lora_B." in n for n in trainable)
    modules = dict(original.named_modules())
    assert sum(p.numel() for p in trainable.values()) == sum(lora_params(modules[n], 4) for n in expected)
    # the original has no adapters; the adapted copy starts as the same function (B starts at zero)
    assert not any("lora_" in n for n, _ in original.named_parameters())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(adapted.eval()(x).pooled, original.eval()(x).pooled, atol=1e-6)


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3)
        self.depthwise = torch.nn.Conv2d(8, 8, 3, groups=8)  # peft's conv LoRA is for dense convolutions
        self.fc = torch.nn.Linear(8, 2)                        # not an attention projection


class SelfAttention(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.out = torch.nn.Linear(8, 8), torch.nn.Linear(8, 8)
        self.scale = torch.nn.Parameter(torch.ones(1))


class Mixed(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.attn, self.mha = torch.nn.Conv2d(3, 8, 3), SelfAttention(), torch.nn.MultiheadAttention(8, 2)
        self.mlp = torch.nn.Linear(8, 8)


def test_targets_are_chosen_by_module_type():
    # attention first: Linear children of any *Attention module and whole nn.MultiheadAttention modules
    assert adapter_targets(Mixed()) == ("attention", ["attn.q", "attn.out", "mha"])
    # no attention: the dense convolutions
    assert adapter_targets(ConvNet()) == ("conv", ["stem"])


def test_a_cnn_gets_adapters_on_its_dense_convolutions():
    net = ConvNet()
    settings = add_adapters(net, rank=2, alpha=4)
    assert settings["layers"] == "conv" and settings["target_modules"] == ["stem"]
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    assert trainable == lora_params(ConvNet().stem, 2) == 2 * 3 * 9 + 8 * 2


def test_a_backbone_without_attention_or_convolutions_is_refused():
    with pytest.raises(UserError, match="no layer LoRA can adapt"):
        adapter_targets(torch.nn.Sequential(torch.nn.Linear(4, 4)))


def test_lora_on_a_backbone_without_adaptable_layers_is_one_line_and_exit_2(cli, celeba_root, tmp_path):
    code, _, err = cli("run", "-b", "pixels", "-t", "celeba", "-p", "lora", "--data-root", celeba_root,
                       "--results", tmp_path / "results", "--set", "input_size=32")
    lines = err.strip().splitlines()
    assert code == 2 and "pixels" in lines[-1] and "LoRA" in lines[-1], err
    assert "Traceback" not in err
    assert not (tmp_path / "results" / "runs.jsonl").exists()


def run_lora(cli, root: Path, results: Path, task: str, backbone: str = VIT, **sets) -> dict:
    args = [a for k, v in {**TINY, **sets}.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    code, _, err = cli("run", "-b", backbone, "-t", task, "-p", "lora", "--data-root", root, "--results", results,
                       "--bootstrap", "0", *args)
    assert code == 0, err
    return json.loads((results / "runs.jsonl").read_text().splitlines()[-1])


def test_lora_end_to_end_selects_rank_and_records_adapters_and_trainable_params(cli, celeba_root, tmp_path):
    record = run_lora(cli, celeba_root, tmp_path / "results", "celeba")

    assert record["protocol"] == "lora" and record["selection_split"] == "val"
    grid = {(s["rank"], s["alpha"], s["lr"], s["epoch"]) for s in record["selection_scores"]}
    assert grid == {(r, 2 * r, 3e-3, e) for r in (4, 8) for e in (1, 2)}  # alpha defaults to 2 x rank
    chosen = record["hparams"]
    best = max(record["selection_scores"], key=lambda s: s["acc_mean"])
    assert {k: chosen[k] for k in ("rank", "alpha", "epoch")} == {k: best[k] for k in ("rank", "alpha", "epoch")}
    adapter = record["adapter"]
    assert (adapter["r"], adapter["lora_alpha"], adapter["layers"]) == (chosen["rank"], chosen["alpha"], "attention")
    # trainable = the adapters of the chosen rank + the family's head
    spec = load_task("celeba", {"input_size": 32})
    data, _ = read_dataset(spec, celeba_root)
    backbone = build(VIT, 32)
    head = make_family(spec).build_head(backbone.feature_spec, data.meta, linear=False)
    modules = dict(backbone.named_modules())
    adapters = sum(lora_params(modules[n], chosen["rank"]) for n in adapter["target_modules"])
    assert record["trainable_params"] == adapters + sum(p.numel() for p in head.parameters())
    # it learned: above always answering each attribute's training majority on the test faces
    train, test = data.split("train"), data.split("test")
    majority = [sum(r.attributes[a] for r in train) * 2 > len(train) for a in range(3)]
    floor = 100 * sum(r.attributes[a] == majority[a] for r in test for a in range(3)) / (3 * len(test))
    assert record["metrics"]["test"]["acc_mean"]["value"] > floor + 20  # measured: 93.3 against 58.3


def test_lora_runs_a_dense_task_and_the_same_seed_repeats_it_exactly(cli, tmp_path):
    """Adapter init, head init, augmentation and shuffling are all seeded."""
    write_lapa(tmp_path / "data")
    sets = {"protocols.lora.epochs": 1, "protocols.lora.batch_size": 4, "protocols.lora.ranks": [4],
            "family_options.head_channels": 16}
    record = run_lora(cli, tmp_path / "data", tmp_path / "results", "lapa", **sets)
    assert record["family"] == "parsing" and record["adapter"]["layers"] == "attention"
    assert 0 <= record["metrics"]["test"]["f1_mean"]["value"] <= 100

    again = run_lora(cli, tmp_path / "data", tmp_path / "again", "lapa", **sets)
    assert again["metrics"] == record["metrics"] and again["selection_scores"] == record["selection_scores"]


def test_training_changes_the_adapters_only(tmp_path, monkeypatch):
    """A CNN (batch norm): its own weights and statistics stay as built; the adapters moved."""
    write_celeba(tmp_path / "data", n=(16, 8, 8))
    adapted: list[torch.nn.Module] = []

    def spy(backbone, rank, alpha):
        adapted.append(backbone)
        return add_adapters(backbone, rank, alpha)

    monkeypatch.setattr(trainer, "add_adapters", spy)
    overrides = {**TINY, "protocols.lora.ranks": [2], "protocols.lora.epochs": 1}
    records = run_cells(expand(["timm:test_resnet"], ["celeba"], ["lora"], [1.0]),
                        RunOptions(tmp_path / "data", tmp_path / "results", overrides, bootstrap=0),
                        lambda d, n: (lambda k: None))

    assert records[0].adapter["layers"] == "conv"
    original = build("timm:test_resnet", 32).state_dict()  # a seeded init: the same weights again
    for backbone in adapted:
        state = backbone.state_dict()
        base = {k.replace(".base_layer", ""): v for k, v in state.items() if "lora_" not in k}
        assert base.keys() == original.keys()
        assert all(torch.equal(base[k], original[k]) for k in original), "base weights or statistics moved"
        assert any(v.abs().sum() > 0 for k, v in state.items() if ".lora_B." in k)  # B starts at zero
