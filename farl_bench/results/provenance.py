"""Where a number came from: package, library and git versions, machine."""
from __future__ import annotations

import os
import platform
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy
import timm
import torch

import farl_bench


@lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the farl-bench checkout (with '+dirty' for local changes), or None outside git."""
    repo = Path(farl_bench.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                                timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def versions() -> dict[str, str | None]:
    return {"farl_bench": farl_bench.__version__, "torch": torch.__version__, "timm": timm.__version__,
            "numpy": numpy.__version__, "python": platform.python_version(), "git_commit": git_commit()}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def set_deterministic() -> None:
    """Deterministic kernels only (an op without one warns), no cuDNN autotuning; cuBLAS needs a
    fixed workspace for that, which must be set before its first use."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def determinism(seed: int) -> dict[str, object]:
    """The settings a run's numbers depend on beyond its inputs: the seed, whether torch was held to
    deterministic kernels, and the CPU threads (float sums are grouped by thread)."""
    return {"seed": seed, "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_benchmark": torch.backends.cudnn.benchmark, "torch_threads": torch.get_num_threads()}
