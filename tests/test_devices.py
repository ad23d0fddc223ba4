"""`--device auto|cpu|cuda|cuda:N|gpu|mps`: resolved against what the machine has; a name that is unknown
or absent here is one line naming the devices there are."""
import pytest
import torch

from farl_bench.engine import distributed
from farl_bench.engine.devices import resolve_device
from farl_bench.errors import UserError


@pytest.fixture
def machine(monkeypatch):
    """Pretend this machine has `gpus` CUDA devices and (or not) Apple's MPS."""
    def pretend(gpus: int = 0, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    return pretend


def test_auto_prefers_cuda_then_mps_then_cpu(machine):
    machine(gpus=2, mps=False)
    assert resolve_device("auto") == "cuda"
    machine(gpus=0, mps=True)
    assert resolve_device("auto") == "mps"
    machine(gpus=0, mps=False)
    assert resolve_device("auto") == "cpu"


def test_gpu_is_cuda_and_indices_are_checked(machine):
    machine(gpus=2)
    assert [resolve_device(n) for n in ("gpu", "GPU:1", "cuda", "cuda:0", "cpu", "cpu:0")] == \
        ["cuda", "cuda:1", "cuda", "cuda:0", "cpu", "cpu"]
    with pytest.raises(UserError, match=r"^--device cuda:2: no such device here; available: cpu, cuda:0, cuda:1 "):
        resolve_device("cuda:2")


def test_an_absent_device_names_what_is_available(machine):
    machine(gpus=0)
    for name in ("cuda", "gpu", "mps", "cpu:1"):
        with pytest.raises(UserError, match=r"no such device here; available: cpu \(or --device auto\)$"):
            resolve_device(name)


def test_an_unknown_device_name_lists_the_choices(machine):
    machine(gpus=0)
    for name in ("tpu", "cuda:x", "auto:0", ""):
        with pytest.raises(UserError, match=r"is not a device: choose auto, cpu, cuda, cuda:N, gpu \(= cuda\), mps "
                                            r"\(available here: cpu\)$"):
            resolve_device(name)


def test_the_run_session_resolves_auto(machine):
    machine(gpus=0)
    with distributed.session("auto") as device:
        assert device == "cpu"


@pytest.mark.parametrize("command", ["run", "embed"])
@pytest.mark.parametrize("device", ["tpu", "cuda:7"])
def test_the_cli_refuses_a_bad_device_in_one_line_and_writes_nothing(command, device, cli, celeba_root, tmp_path):
    args = (["run", "-b", "pixels", "-t", "celeba", "--data-root", celeba_root, "--results", tmp_path / "results"]
            if command == "run" else ["embed", "-b", "pixels", "--images", celeba_root, "--out", tmp_path / "f.npy"])
    code, out, err = cli(*args, "--device", device)
    assert code == 2 and err.count("\n") == 1 and f"--device {device}" in err and "available" in err
    assert "Traceback" not in err and not (tmp_path / "results").exists() and not (tmp_path / "f.npy").exists()
