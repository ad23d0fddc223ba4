"""P3: data loading alone (the feature pass's DataLoader over FaceSamples: decode, crop, normalise,
with the default workers) / the backbone forward over the same faces (vit_small_patch16_224 at 224,
default precision). Goal: <= 0.25."""
from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from _common import bracketed, report, synthetic_celeba
from farl_bench.backbones import build
from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.data.samples import FaceSamples
from farl_bench.engine.precision import FrozenForward, resolve_precision
from farl_bench.tasks import load_task

FACES, BATCH, WORKERS = 256, 64, 0


def main() -> None:
    data = CelebAReader().read(synthetic_celeba() / "CelebA")
    backbone = build("timm:vit_small_patch16_224", 224)
    samples = FaceSamples(data.split("train")[:FACES], data, load_task("celeba").crop, backbone.preprocess)
    loader = DataLoader(samples, batch_size=BATCH, num_workers=WORKERS)
    precision = resolve_precision("auto", "cpu")
    forward = FrozenForward(backbone, "cpu", precision)
    images = torch.stack([samples[i]["image"] for i in range(BATCH)])
    forward(images[:2], levels=False)  # the low-precision copy is made once, before timing

    def loading() -> None:
        for _ in loader:
            pass

    def forwards() -> None:
        for _ in range(FACES // BATCH):
            forward(images, levels=False)

    load_s, forward_s = bracketed(loading, forwards, rounds=2)
    report("P3", load_s / forward_s, 0.25, False, f"{FACES} faces: loading {FACES / load_s:.0f} img/s, "
           f"forward ({precision}) {FACES / forward_s:.1f} img/s")


if __name__ == "__main__":
    main()
