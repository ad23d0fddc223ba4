"""`farl-bench splits export`: the manifests of a grid of draws, written without running anything, with an
index (task, budget, seed, sizes, sha256, rule) for publication beside results."""
from __future__ import annotations

import pandas as pd

from farl_bench.data import DatasetSplits
from farl_bench.engine.draws import SPLITS_DIR, draw_train, write_manifest
from farl_bench.engine.runner import RunOptions, read_dataset
from farl_bench.plan import draws
from farl_bench.results.store import write_atomic
from farl_bench.tasks import load_task

INDEX = "index.csv"


def export_splits(tasks: list[str], fractions: list[float], seeds: list[int] | None, shots: list[int] | None,
                  options: RunOptions) -> pd.DataFrame:
    """Write `<results>/splits/<task>/<budget>-<seed>.txt` for every draw of the grid (the files
    `farl-bench run` writes for the same draws) and `<results>/splits/index.csv`; returns the index."""
    grid = draws(fractions, seeds, shots)
    datasets: dict[str, DatasetSplits] = {}
    rows = []
    for task in dict.fromkeys(tasks):
        spec = load_task(task, options.overrides)
        if spec.dataset not in datasets:
            datasets[spec.dataset] = read_dataset(spec, options)[0]
        train = datasets[spec.dataset].split("train")
        for cell in grid:
            draw = draw_train(train, cell["seed"], cell["fraction"], cell["shots"])
            path = write_manifest(options.results, spec.name, cell["seed"], draw)
            rows.append({"task": spec.name, "dataset": spec.dataset, "budget": draw.budget, "seed": cell["seed"],
                         "n_train": len(draw.records), "n_train_pool": len(train), "sha256": draw.fingerprint,
                         "file": path.relative_to(options.results).as_posix(), "rule": draw.rule})
    index = pd.DataFrame(rows)
    write_atomic(options.results / SPLITS_DIR / INDEX, index.to_csv(index=False))
    return index
