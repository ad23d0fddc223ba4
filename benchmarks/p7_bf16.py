"""P7: ViT-B/16 frozen forward (the suite's FrozenForward) at 224 px in bf16 / in fp32, throughput
ratio on this CPU, with the bf16 pooled features at cosine >= 0.999 to fp32. Goal: >= 2.5
(raw timm with bf16 weights reaches ~3x here; autocast alone ~1.8x)."""
from __future__ import annotations

import torch

from _common import native_bf16_cpu, report, seconds, skip
from farl_bench.backbones import build
from farl_bench.engine.precision import FrozenForward

BATCH, ROUNDS = 16, 4


def main() -> None:
    if not native_bf16_cpu():
        skip("P7", "this CPU has no native bf16 (AVX512-BF16 or AMX): torch emulates it, slower than fp32, "
             "and --precision auto picks fp32 here")
        return
    backbone = build("timm:vit_base_patch16_224", 224)
    images = torch.randn(BATCH, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    forwards = {p: FrozenForward(backbone, "cpu", p) for p in ("fp32", "bf16")}
    for forward in forwards.values():
        forward(images[:2], levels=False)  # warm-up: the bf16 copy is made here
    times, pooled = {p: [] for p in forwards}, {}
    for r in range(ROUNDS):  # alternated, in either order: a drifting load reaches both alike
        for p, forward in list(forwards.items())[::1 if r % 2 else -1]:
            times[p].append(seconds(lambda: pooled.__setitem__(p, forward(images, levels=False).pooled.float())))
    cosine = torch.nn.functional.cosine_similarity(pooled["fp32"], pooled["bf16"]).min().item()
    ratio = min(times["fp32"]) / min(times["bf16"])
    report("P7", ratio, 2.5, True, f"fp32 {BATCH / min(times['fp32']):.1f} img/s, bf16 "
           f"{BATCH / min(times['bf16']):.1f} img/s (ViT-B/16, 224 px, batches of {BATCH})")
    report("P7-cosine", cosine, 0.999, True, "min cosine of bf16 to fp32 pooled features")


if __name__ == "__main__":
    main()
