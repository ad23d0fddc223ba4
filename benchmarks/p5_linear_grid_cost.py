"""P5: what the linear protocol's grid costs a user: training the 8 settings (2 lrs x 4 weight
decays) x 40 attributes over the pooled features of N faces, as the protocol does (one pass, one
thread, the run's autocast, its default 30 epochs), / the backbone forward that made those features
(vit_small_patch16_224 at 224 px through the suite's FrozenForward, default precision). Goal: <= 0.1.

The forward is timed over a few batches and scaled to N faces (it is linear in N; running it over
all N would take minutes for the same figure); the grid runs over all N."""
from __future__ import annotations

import itertools

import torch

from _common import report, seconds
from farl_bench.backbones import build
from farl_bench.engine.linear import LinearHparams, _standardiser, _threads, train_grid
from farl_bench.engine.precision import FrozenForward, autocast, resolve_precision
from farl_bench.families import get

N, ATTRIBUTES, SIZE, BATCH, TIMED_BATCHES = 20_000, 40, 224, 32, 3


def main() -> None:
    precision = resolve_precision("auto", "cpu")
    backbone = build("timm:vit_small_patch16_224", SIZE)
    forward = FrozenForward(backbone, "cpu", precision)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(BATCH, 3, SIZE, SIZE, generator=generator)
    forward(images[:2], levels=False)  # warm-up: the low-precision copy is made once
    per_face = min(seconds(lambda: forward(images, levels=False)) for _ in range(TIMED_BATCHES)) / BATCH
    forward_s = per_face * N

    dim = backbone.feature_spec.pooled_dim
    x = torch.randn(N, dim, generator=generator).half()  # the cache stores pooled features in fp16
    y = torch.rand(N, ATTRIBUTES, generator=generator) < 0.3
    hp = LinearHparams()
    settings = [{"lr": lr, "weight_decay": wd} for lr, wd in itertools.product(hp.lrs, hp.weight_decays)]
    family = get("attributes")
    standardise = _standardiser(x)

    def grid() -> None:
        with _threads(1), autocast("cpu", precision):
            train_grid(family, x, y, settings, hp, ATTRIBUTES, seed=0, standardise=standardise)

    grid_s = min(seconds(grid) for _ in range(2))
    report("P5", grid_s / forward_s, 0.1, False, f"{len(settings)} settings x {ATTRIBUTES} attributes over {N} x "
           f"{dim} features, {hp.epochs} epochs, {precision}: grid {grid_s:.2f} s; ViT-S/16 forward at {SIZE} px "
           f"{per_face * 1e3:.1f} ms a face = {forward_s:.0f} s for {N} faces")


if __name__ == "__main__":
    main()
