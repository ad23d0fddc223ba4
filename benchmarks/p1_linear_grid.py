"""P1: the linear protocol over 3 fractions x 3 seeds of one task (features computed once, cold
cache) in wall time / one raw timm forward over the same images, both at the default precision.
Goal: <= 1.3."""
from __future__ import annotations

import tempfile
from pathlib import Path

import timm
import torch
from torch.utils.data import DataLoader

from _common import RawImages, raw_forward, report, seconds, synthetic_celeba
from farl_bench.data.readers.celeba import CelebAReader
from farl_bench.engine.precision import DTYPES, resolve_precision
from farl_bench.engine.runner import RunOptions, run_cells
from farl_bench.plan import expand

MODEL, SIZE, BATCH, WORKERS = "vit_small_patch16_224", 160, 64, 0


def main() -> None:
    root = synthetic_celeba()
    precision = resolve_precision("auto", "cpu")
    data = CelebAReader().read(root / "CelebA")
    paths = [r.image for split in ("train", "val", "test") for r in data.split(split)]
    cells = expand([f"timm:{MODEL}"], ["celeba"], ["linear"], [0.1, 0.5, 1.0], [0, 1, 2])

    def ours() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            options = RunOptions(root, Path(tmp) / "results", {"input_size": SIZE}, batch_size=BATCH,
                                 workers=WORKERS, precision=precision, cache_dir=Path(tmp) / "cache")
            assert len(run_cells(cells, options, lambda d, n: (lambda k: None))) == len(cells)

    def baseline(part: list) -> None:
        model = timm.create_model(MODEL, img_size=SIZE, num_classes=0).eval().to(DTYPES[precision])
        config = timm.data.resolve_data_config({}, model=model)
        loader = DataLoader(RawImages(part, SIZE, config["mean"], config["std"]), batch_size=BATCH,
                            num_workers=WORKERS)
        raw_forward(model, loader, DTYPES[precision])

    # one raw forward over all faces, half before ours and half after: a drifting load reaches both
    half = len(paths) // 2
    base_s = seconds(lambda: baseline(paths[:half]))
    ours_s = seconds(ours)
    base_s += seconds(lambda: baseline(paths[half:]))
    report("P1", ours_s / base_s, 1.3, False, f"{len(cells)} cells over {len(paths)} faces, {MODEL} at {SIZE} px "
           f"{precision}: ours {ours_s:.1f} s, raw timm forward {base_s:.1f} s")


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
