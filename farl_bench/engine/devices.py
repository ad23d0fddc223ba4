"""`--device auto|cpu|cuda|cuda:N|gpu|mps`: a device name checked against what this machine has."""
from __future__ import annotations

import torch

from farl_bench.errors import UserError

CHOICES = "auto, cpu, cuda, cuda:N, gpu (= cuda), mps"


def available() -> list[str]:
    """The devices torch can use here, e.g. ['cpu', 'cuda:0', 'cuda:1'] or ['cpu', 'mps']."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu", *(f"cuda:{i}" for i in range(gpus)), *(["mps"] if torch.backends.mps.is_available() else [])]


def resolve_device(name: str) -> str:
    """`auto` -> cuda if there is a GPU, else mps (Apple), else cpu; `gpu` -> cuda; `cpu:0` -> cpu.
    A name that is unknown or absent here is a UserError naming the devices this machine has."""
    here = available()
    kind, sep, index = name.strip().lower().partition(":")
    if kind == "auto" and not sep:
        return "cuda" if "cuda:0" in here else "mps" if "mps" in here else "cpu"
    kind = "cuda" if kind == "gpu" else kind
    if kind not in ("cpu", "cuda", "mps") or (sep and not index.isdigit()):
        raise UserError(f"--device {name} is not a device: choose {CHOICES} (available here: {', '.join(here)})")
    # `cuda` stays unnumbered: the current GPU, which torchrun sets per process (engine.distributed)
    device = f"cuda:{int(index)}" if kind == "cuda" and sep else kind
    absent = (sep and kind != "cuda" and int(index) != 0) or (device if device != "cuda" else "cuda:0") not in here
    if absent:
        raise UserError(f"--device {name}: no such device here; available: {', '.join(here)} (or --device auto)")
    return device
