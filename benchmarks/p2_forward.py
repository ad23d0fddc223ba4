"""P2: the suite's frozen forward (FrozenForward in the default precision, pooled features written
to an fp16 cache entry) throughput / the raw timm model's forward in the same dtype over the same
batches (vit_small_patch16_224 at 224). Goal: >= 0.97."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import torch

from _common import bracketed, report
from farl_bench.backbones import build
from farl_bench.engine.cache import FeatureStore
from farl_bench.engine.features import _put_features
from farl_bench.engine.precision import DTYPES, FrozenForward, resolve_precision

BATCH, BATCHES, ROUNDS = 32, 4, 3


def main() -> None:
    precision = resolve_precision("auto", "cpu")
    backbone = build("timm:vit_small_patch16_224", 224)
    raw = copy.deepcopy(backbone.model).to(DTYPES[precision]).eval()
    batches = torch.randn(BATCHES, BATCH, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    forward = FrozenForward(backbone, "cpu", precision)
    forward(batches[0, :2], levels=False)  # the low-precision copy is made once, before timing
    with tempfile.TemporaryDirectory() as tmp:
        store = FeatureStore(Path(tmp))

        def ours() -> None:
            with store.write("p2" * 32, BATCH * BATCHES, {"kind": "features"}) as writer:
                for i, x in enumerate(batches):
                    _put_features(writer, "pooled", i * BATCH, forward(x, levels=False).pooled.float().numpy())
            store.clear()

        @torch.inference_mode()
        def baseline() -> None:
            for x in batches:
                raw(x.to(DTYPES[precision]))

        ours_s, base_s = bracketed(ours, baseline, rounds=ROUNDS)
    n = BATCH * BATCHES
    report("P2", base_s / ours_s, 0.97, True, f"{precision}: ours {n / ours_s:.1f} img/s, raw timm "
           f"{n / base_s:.1f} img/s")


if __name__ == "__main__":
    main()
