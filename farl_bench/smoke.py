"""The smoke suite: `pixels` and a tiny random-init timm ViT, linear probes on two small synthetic tasks
(LaPa parsing, RAF-DB expression), at fractions 0.5 (three draws) and 1. About a minute on two CPU
cores. Its results.csv, committed as results/baselines/synthetic-smoke.csv, is the baseline of the
regression gate: the suite's own changes must reproduce it, and `--backbone` runs any checkpoint
through the same cells.

Random networks on synthetic faces learn little; parsing is where they still beat a blind model
(pixel colours find skin and hair), so a broken backbone shows there first.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from farl_bench.data import synthetic
from farl_bench.engine.runner import ProgressFactory, RunOptions, run_cells
from farl_bench.packaged import packaged
from farl_bench.plan import expand
from farl_bench.results.leaderboard import write_tables
from farl_bench.tasks import load_task

BACKBONES = ["pixels", "timm:test_vit"]
TASKS = ["lapa", "rafdb"]
PROTOCOL = "linear"
FRACTIONS = [0.5, 1.0]
#: Small inputs and few epochs keep it fast; they are part of the task versions, so these numbers
#: never mix with full-size ones.
OVERRIDES = {"input_size": 32, "protocols.linear.epochs": 5, "protocols.linear.lrs": [0.01],
             "protocols.linear.weight_decays": [0.0, 0.001]}
BOOTSTRAP = 200
SCALE, DATA_SEED = "small", 0
BASELINE = packaged("baselines", "results/baselines") / "synthetic-smoke.csv"


def run_smoke(results: Path, data: Path, backbones: list[str] | None = None, force: bool = False,
              progress: ProgressFactory = lambda description, total: (lambda n: None)) -> pd.DataFrame:
    """Generate the small synthetic datasets under `data` if they are not there, run the suite's
    cells (for `backbones`, default BACKBONES) into `results`, write its tables; the wide table."""
    datasets = [load_task(task).dataset for task in TASKS]
    if not synthetic.is_complete(data, SCALE, DATA_SEED, datasets):
        synthetic.generate(data, SCALE, DATA_SEED, datasets)
    cells = expand(backbones or BACKBONES, TASKS, [PROTOCOL], FRACTIONS)
    run_cells(cells, RunOptions(data, results, dict(OVERRIDES), force=force, bootstrap=BOOTSTRAP), progress)
    return write_tables(results)
