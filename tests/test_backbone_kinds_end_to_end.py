"""Every backbone kind goes through `farl-bench run` and comes out with its identity recorded."""
import json
import textwrap

import pytest
import timm
import torch


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    (tmp_path / "my_faces_net.py").write_text(textwrap.dedent("""
        import torch

        def build(width=8):
            return torch.nn.Sequential(torch.nn.Conv2d(3, width, 3, stride=2, padding=1), torch.nn.ReLU())
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "py:my_faces_net:build?width=4"


@pytest.fixture
def ckpt_spec(tmp_path):
    model = timm.create_model("resnet18", pretrained=False, num_classes=0)
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": {f"module.backbone.{k}": v for k, v in model.state_dict().items()}}, path)
    return f"ckpt:{path}?arch=resnet18"


def test_each_backbone_kind_runs_end_to_end(cli, celeba_root, tmp_path, factory_module, ckpt_spec):
    # `clip` shares farl's ViT code path (tests/test_backbones_kinds.py covers its loading); one ViT-B here.
    specs = ["pixels", "timm:resnet18", ckpt_spec, factory_module, "farl"]
    results = tmp_path / "results"
    code, _, err = cli("run", "--tasks", "celeba", "--data-root", celeba_root, "--results", results,
                       "--set", "input_size=32", "--set", "protocols.linear.epochs=2",
                       *[arg for spec in specs for arg in ("--backbone", spec)])
    assert code == 0, err
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert [r["backbone"] for r in records] == specs
    assert len({r["backbone_fingerprint"] for r in records}) == len(specs)
    for r in records:
        assert 0 <= r["metrics"]["test"]["acc_mean"]["value"] <= 100
