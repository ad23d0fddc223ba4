"""`farl-bench splits export`: the manifests of a grid of draws, written without running anything, with an
index (task, budget, seed, sizes, sha256, rule) for publication beside results."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from farl_bench.data import DatasetSplits
from farl_bench.data.dataset import read_dataset
from farl_bench.engine.draws import draw_train, write_manifest
from farl_bench.plan import draws
from farl_bench.results.store import SPLITS_DIR, write_atomic
from farl_bench.tasks import load_task

INDEX = "index.csv"


def export_splits(tasks: list[str], fractions: list[float], seeds: list[int] | None, shots: list[int] | None,
                  results: Path, data_root: Path, dataset_roots: dict[str, Path] | None = None,
                  overrides: dict[str, Any] | None = None) -> pd.DataFrame:
    """Write `<results>/splits/<task>/<budget>-<seed>.txt` for every draw of the grid (the files
    `farl-bench run` writes for the same draws) and `<results>/splits/index.csv`; returns the index."""
    grid = draws(fractions, seeds, shots)
    datasets: dict[str, DatasetSplits] = {}
    rows = []
    for task in dict.fromkeys(tasks):
        spec = load_task(task, overrides)
        if spec.dataset not in datasets:
            datasets[spec.dataset] = read_dataset(spec, data_root, dataset_roots)[0]
        train = datasets[spec.dataset].split("train")
        for cell in grid:
            draw = draw_train(train, cell["seed"], cell["fraction"], cell["shots"])
            path = write_manifest(results, spec.name, cell["seed"], draw)
            rows.append({"task": spec.name, "dataset": spec.dataset, "budget": draw.budget, "seed": cell["seed"],
                         "n_train": len(draw.records), "n_train_pool": len(train), "sha256": draw.fingerprint,
                         "file": path.relative_to(results).as_posix(), "rule": draw.rule})
    index = pd.DataFrame(rows)
    write_atomic(results / SPLITS_DIR / INDEX, index.to_csv(index=False))
    return index
