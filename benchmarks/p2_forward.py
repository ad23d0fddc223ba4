"""P2: the suite's frozen forward (FrozenForward in the default precision, pooled features written
into an fp16 cache entry) throughput / the raw timm model's forward in the same dtype over the same
batches (vit_small_patch16_224 at 224, on the CPU). Goal: >= 0.97.

The ratio is the median over rounds, each round timing every batch through both sides in turn
(the order alternating between rounds): one noisy round on a shared machine does not decide it."""
from __future__ import annotations

import copy
import statistics
import tempfile
from pathlib import Path

import torch

from _common import report, seconds
from farl_bench.backbones import build
from farl_bench.engine.cache import FeatureStore
from farl_bench.engine.features import _put_features
from farl_bench.engine.precision import DTYPES, FrozenForward, resolve_precision


def forward_ratio(arch: str, size: int, batch: int, batches: int, rounds: int, device: str) -> tuple[float, float, float]:
    """(median ratio raw time / ours, ours img/s, raw img/s) over `rounds` interleaved rounds."""
    precision = resolve_precision("auto", device)
    backbone = build(f"timm:{arch}", size)
    raw = copy.deepcopy(backbone.model).to(device, DTYPES[precision]).eval()
    generator = torch.Generator().manual_seed(0)
    images = [torch.randn(batch, 3, size, size, generator=generator).to(device) for _ in range(batches)]
    forward = FrozenForward(backbone, device, precision)
    forward(images[0][:2], levels=False)  # the low-precision copy is made once, before timing

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    ratios, ours_total, raw_total = [], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp, \
            FeatureStore(Path(tmp)).write("p2" * 32, batch * batches, {}) as writer:
        def ours() -> None:  # what the feature pass does after loading a batch
            for i, x in enumerate(images):
                _put_features(writer, "pooled", i * batch, forward(x, levels=False).pooled.float().cpu().numpy())
            sync()

        @torch.inference_mode()
        def baseline() -> None:
            for x in images:
                raw(x.to(DTYPES[precision]))
            sync()

        ours(), baseline()  # warm-up: kernels chosen
        for r in range(rounds):
            times = {}
            for name, run in (("ours", ours), ("raw", baseline))[::1 if r % 2 else -1]:
                times[name] = seconds(run)
            ratios.append(times["raw"] / times["ours"])
            ours_total += times["ours"]
            raw_total += times["raw"]
    n = batch * batches * rounds
    return statistics.median(ratios), n / ours_total, n / raw_total


def main() -> None:
    ratio, ours_rate, raw_rate = forward_ratio("vit_small_patch16_224", 224, 16, 2, 9, "cpu")
    report("P2", ratio, 0.97, True, f"{resolve_precision('auto', 'cpu')}, median of 9 interleaved rounds: "
           f"ours {ours_rate:.1f} img/s, raw timm {raw_rate:.1f} img/s")


if __name__ == "__main__":
    main()
