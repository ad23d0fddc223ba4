"""Where a number came from: package, library and git versions, machine."""
from __future__ import annotations

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
