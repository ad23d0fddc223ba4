"""What every benchmark shares: the synthetic data, timing that brackets ours between baseline runs,
and the result line `<id> <ratio> <goal> PASS|FAIL  # details`."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parents[1]
#: The synthetic datasets `make bench` writes (generated here when missing).
DATA = Path(os.environ.get("FARL_BENCH_PERF_DATA", ROOT / "datasets" / "synthetic"))


def synthetic_celeba() -> Path:
    """The data root holding the medium synthetic CelebA (4,000 faces, 40 attributes)."""
    from farl_bench.data.synthetic import generate, is_complete

    if not is_complete(DATA, "medium", 0, ["celeba"]):
        generate(DATA, "medium", 0, ["celeba"])
    return DATA


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bracketed(ours: Callable[[], object], baseline: Callable[[], object], rounds: int = 1) -> tuple[float, float]:
    """(ours, baseline) seconds, each the fastest of `rounds`, with baseline runs before and after
    each of ours: on a shared machine the load drifts, and bracketing pays it to both sides alike."""
    ours_s, base_s = [], [seconds(baseline)]
    for _ in range(rounds):
        ours_s.append(seconds(ours))
        base_s.append(seconds(baseline))
    return min(ours_s), min(base_s)


def native_bf16_cpu() -> bool:
    """Whether this CPU runs bf16 in hardware (AVX512-BF16 or AMX); elsewhere torch emulates it."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def skip(bench_id: str, reason: str) -> None:
    """Print `<id> SKIP  # reason`: a benchmark whose goal this machine cannot judge."""
    print(f"{bench_id} SKIP  # {reason}", flush=True)


def report(bench_id: str, ratio: float, goal: float, higher_is_better: bool, details: str = "") -> None:
    """Print `<id> <ratio> <goal> PASS|FAIL  # details`."""
    passed = ratio >= goal if higher_is_better else ratio <= goal
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{bench_id} {ratio:.5g} {'>=' if higher_is_better else '<='}{goal:g} {'PASS' if passed else 'FAIL'}"
          f"  # {details}{'; ' if details else ''}load {load}", flush=True)


class RawImages(Dataset):
    """The raw baseline's input pipeline: PIL decode, resize, normalise (no crops, no targets)."""

    def __init__(self, paths: list[Path], size: int, mean: tuple, std: tuple):
        self.paths, self.size = paths, size
        self.mean, self.std = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        with Image.open(self.paths[i]) as img:
            pixels = img.convert("RGB").resize((self.size, self.size), Image.BILINEAR)
        x = torch.from_numpy(np.array(pixels)).permute(2, 0, 1).float() / 255
        return (x - self.mean) / self.std


@torch.inference_mode()
def raw_forward(model: torch.nn.Module, loader: DataLoader, dtype: torch.dtype) -> None:
    """What a user would write: every batch through the timm model, in `dtype`."""
    for x in loader:
        model(x.to(dtype))
