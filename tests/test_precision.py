"""Precision of backbone forwards: bf16 features close to fp32, the backbone itself untouched, the
choice validated and recorded."""
from __future__ import annotations

import json

import pytest
import torch

from farl_bench.backbones import build
from farl_bench.engine.precision import FrozenForward, resolve_precision, wants_channels_last
from farl_bench.errors import UserError


@pytest.mark.parametrize("spec", ["timm:vit_tiny_patch16_224", "timm:resnet18"])
def test_bf16_features_are_close_to_fp32(spec):
    backbone = build(spec, 64)
    x = torch.randn(6, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    fp32 = FrozenForward(backbone, "cpu", "fp32")(x, levels=True)
    bf16 = FrozenForward(backbone, "cpu", "bf16")(x, levels=True)
    assert bf16.pooled.dtype == torch.bfloat16
    cosine = torch.nn.functional.cosine_similarity(fp32.pooled, bf16.pooled.float())
    assert cosine.min() >= 0.999
    for a, b in zip(fp32.levels, bf16.levels):
        assert torch.nn.functional.cosine_similarity(a.flatten(1), b.float().flatten(1)).min() >= 0.999


def test_a_low_precision_forward_leaves_the_backbone_in_fp32():
    backbone = build("timm:resnet18", 64)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    FrozenForward(backbone, "cpu", "bf16")(torch.zeros(1, 3, 64, 64), levels=False)
    after = backbone.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())
    assert all(p.is_contiguous() for p in backbone.parameters())  # channels_last went to the copy only


def test_channels_last_is_chosen_for_cnns_only():
    assert wants_channels_last(build("timm:resnet18", 64))
    assert not wants_channels_last(build("timm:vit_tiny_patch16_224", 64))


def test_auto_precision_resolves_to_a_named_one_and_unknown_names_are_refused():
    assert resolve_precision("auto", "cpu") in ("fp32", "bf16")
    assert resolve_precision("fp16", "cpu") == "fp16"
    with pytest.raises(UserError, match="--precision 'fp64'"):
        resolve_precision("fp64", "cpu")


def test_every_record_names_its_precision_and_precisions_are_separate_cells(celeba_root, tmp_path, cli):
    args = ["run", "-b", "pixels?grid=4", "-t", "celeba", "--data-root", celeba_root, "--results", tmp_path / "r",
            "--set", "input_size=32", "--set", "protocols.linear.epochs=2", "--bootstrap", "10"]
    for precision in ("fp32", "bf16", "bf16"):
        code, _, err = cli(*args, "--precision", precision)
        assert code == 0, err
    records = [json.loads(line) for line in (tmp_path / "r" / "runs.jsonl").read_text().splitlines()]
    assert [r["precision"] for r in records] == ["fp32", "bf16"]  # the second bf16 run was a recorded cell
    assert records[0]["key"] != records[1]["key"]
    code, _, err = cli(*args, "--precision", "fp64")
    assert code == 2 and "--precision 'fp64'" in err
