"""P9 (GPU): frozen feature extraction through the suite (FrozenForward in bf16, pooled features into
a cache entry) / the raw timm forward in bf16 over the same batches of 256 (ViT-B/16, 224 px),
median of interleaved rounds. Goal: >= 0.95. Needs CUDA; elsewhere it prints SKIP (P2 is the
CPU's version of the same comparison)."""
from __future__ import annotations

import torch

from _common import report, skip
from p2_forward import forward_ratio


def main() -> None:
    if not torch.cuda.is_available():
        skip("P9", "no CUDA device (P2 measures the same comparison on the CPU)")
        return
    ratio, ours_rate, raw_rate = forward_ratio("vit_base_patch16_224", 224, 256, 4, 7, "cuda")
    report("P9", ratio, 0.95, True, f"ViT-B/16, 224 px, batches of 256, bf16 on {torch.cuda.get_device_name()}, "
           f"median of 7 interleaved rounds: ours {ours_rate:.0f} img/s, raw timm {raw_rate:.0f} img/s")


if __name__ == "__main__":
    main()
