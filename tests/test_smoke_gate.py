"""The regression gate end to end: the smoke suite against its committed baseline."""
import torch
from safetensors.torch import save_file

from farl_bench.backbones.timm_backbone import create_model
from farl_bench.smoke import BASELINE, OVERRIDES, run_smoke


def test_the_smoke_suite_passes_the_gate_against_its_committed_baseline(cli, synthetic_root, tmp_path):
    code, _, err = cli("smoke", "--data-root", synthetic_root, "--results", tmp_path / "r")
    assert code == 0, err
    code, out, _ = cli("compare", "--baseline", BASELINE, "--candidate", tmp_path / "r")
    assert code == 0, f"{out}\nIf the change is meant to move the smoke numbers: make smoke-baseline"
    assert "PASS" in out


def test_a_degraded_backbone_fails_the_gate(cli, synthetic_root, tmp_path):
    """The suite's ViT with every weight zeroed: its features no longer depend on the image."""
    model = create_model("test_vit", OVERRIDES["input_size"])
    save_file({k: torch.zeros_like(v) for k, v in model.state_dict().items()}, tmp_path / "zeros.safetensors")
    degraded = f"timm:test_vit?weights={tmp_path / 'zeros.safetensors'}"
    run_smoke(tmp_path / "r", synthetic_root, [degraded])
    code, out, _ = cli("compare", "--baseline", BASELINE, "--candidate", tmp_path / "r",
                       "--pair", f"timm:test_vit => {degraded}", "--junit", tmp_path / "gate.xml")
    assert code == 1 and "FAIL" in out
    assert 'failures="0"' not in (tmp_path / "gate.xml").read_text()
    assert "missing" not in out and "incomparable" not in out  # it failed on numbers, not on bookkeeping
