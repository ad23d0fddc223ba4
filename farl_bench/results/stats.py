"""Uncertainty: bootstrap replicates over test samples (made at run time, kept in a side file per run)
and the aggregate over draws (mean, std, n_draws, bootstrap 95% interval) that every table reads.

The bootstrap resamples the faces of a test subset with rows from `default_rng([BOOTSTRAP_SEED, n])`:
every run on the same n-face subset sees the same resamples, so draws (and backbones) are paired.
The interval of a mean over draws is the percentile interval of the per-replicate means.
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from farl_bench.families.base import Scorer
from farl_bench.results.record import RunRecord

log = logging.getLogger(__name__)

BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95

#: Columns that name one aggregated number; records equal in all of them (metric aside) are draws
#: of one experiment. Task version and data fingerprint keep different settings and data apart.
GROUP = ["backbone", "protocol", "task", "task_version", "data_fingerprint", "selection_split", "budget",
         "subset", "metric"]
DRAW_COLUMNS = [*GROUP, "fraction", "shots", "seed", "split_fingerprint", "value", "unit", "higher_is_better",
                "headline", "n_train", "n_test", "key"]
LONG_COLUMNS = ["backbone", "protocol", "task", "budget", "fraction", "shots", "subset", "metric", "mean", "std",
                "ci_low", "ci_high", "n_draws", "unit", "higher_is_better", "headline", "selection_split",
                "n_train", "n_test", "seeds", "task_version", "data_fingerprint"]


def bootstrap(scorer: Scorer, n: int, replicates: int) -> dict[str, np.ndarray]:
    """(replicates,) values of each summary metric (names without '/') over resamples of the n faces
    the scorer holds; {} when the scorer cannot resample or replicates is 0."""
    rng = np.random.default_rng([BOOTSTRAP_SEED, n])
    values: dict[str, list[float]] = {}
    try:
        for _ in range(replicates):
            for name, metric in scorer.resample(rng.integers(0, n, n)).items():
                if "/" not in name:  # per-class numbers get mean and std over draws only
                    values.setdefault(name, []).append(metric.value)
    except NotImplementedError:
        return {}
    return {name: np.asarray(v, np.float32) for name, v in values.items()}


def encode_replicates(replicates: Mapping[str, Mapping[str, np.ndarray]]) -> bytes | None:
    """{subset: {metric: (B,)}} as the bytes of a run's side file (store.bootstrap_file); None when empty."""
    names = [f"{subset}|{metric}" for subset, metrics in replicates.items() for metric in metrics]
    if not names:
        return None
    buffer = io.BytesIO()
    np.savez_compressed(buffer, names=np.asarray(names),
                        values=np.stack([v for metrics in replicates.values() for v in metrics.values()]))
    return buffer.getvalue()


def load_replicates(path: Path) -> dict[str, np.ndarray]:
    """{'<subset>|<metric>': (B,)} from a side file; {} when it is missing (an interval is then NaN)."""
    if not path.is_file():
        log.warning("bootstrap file %s is missing: its intervals are left empty", path)
        return {}
    with np.load(path) as npz:
        return dict(zip(npz["names"].tolist(), npz["values"]))


def as_records(records: Iterable[RunRecord | Mapping[str, Any]]) -> list[RunRecord]:
    """Records as RunRecords (plain dicts, as in runs.jsonl, are validated)."""
    return [RunRecord.model_validate(r) for r in records]


def latest_draws(records: Iterable[RunRecord | Mapping[str, Any]]) -> list[RunRecord]:
    """One record per draw: where several share (backbone, protocol, task, version, data, selection,
    budget, seed) — a re-run, or a run under other defaults — the last one written wins."""
    latest: dict[tuple, RunRecord] = {}
    for r in as_records(records):
        draw = (r.backbone, r.protocol, r.task, r.task_version, r.data_fingerprint, r.selection_split, r.budget,
                r.seed)
        latest.pop(draw, None)  # re-insert so the dict keeps write order
        latest[draw] = r
    return list(latest.values())


def draws_table(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """One row per (draw, subset, metric): the per-run values behind every aggregate."""
    rows = []
    for r in latest_draws(records):
        for subset, metrics in r.metrics.items():
            for metric, m in metrics.items():
                rows.append({"backbone": r.backbone, "protocol": r.protocol, "task": r.task,
                             "task_version": r.task_version, "data_fingerprint": r.data_fingerprint,
                             "selection_split": r.selection_split, "budget": r.budget, "fraction": r.fraction,
                             "shots": r.shots, "seed": r.seed, "split_fingerprint": r.split_fingerprint,
                             "subset": subset, "metric": metric, "value": m.value, "unit": m.unit,
                             "higher_is_better": m.higher_is_better, "headline": metric in r.headline_metrics,
                             "n_train": r.n_train, "n_test": r.subset_sizes.get(subset), "key": r.key})
    return pd.DataFrame(rows, columns=DRAW_COLUMNS)


def interval(replicates: list[np.ndarray | None], level: float = CI_LEVEL) -> tuple[float, float]:
    """Percentile interval of the mean over draws, replicate by replicate; NaN when any draw has
    no replicates or their counts differ."""
    if not replicates or any(r is None for r in replicates) or len({len(r) for r in replicates}) != 1:
        return float("nan"), float("nan")
    means = np.stack(replicates).astype(np.float64).mean(axis=0)
    if np.isnan(means).all():
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(means, [tail, 100 - tail])
    return float(low), float(high)


def aggregate(draws: pd.DataFrame, replicates_of: Callable[[str], Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """The long table: one row per GROUP with mean, std (over draws, NaN for one), n_draws, the
    bootstrap interval (summary metrics) and the seeds. `replicates_of(key)` gives a run's replicates."""
    if draws.empty:
        return pd.DataFrame(columns=LONG_COLUMNS)
    table = (draws.groupby(GROUP, sort=False, dropna=False)
             .agg(mean=("value", "mean"), std=("value", "std"), n_draws=("value", "size"),
                  fraction=("fraction", "first"), shots=("shots", "first"), unit=("unit", "first"),
                  higher_is_better=("higher_is_better", "first"), headline=("headline", "first"),
                  n_train=("n_train", "mean"), n_test=("n_test", "first"),
                  seeds=("seed", lambda s: ",".join(map(str, sorted(s)))), run_keys=("key", list))
             .reset_index())
    bounds = [interval([replicates_of(k).get(f"{row.subset}|{row.metric}") for k in row.run_keys])
              if "/" not in row.metric else (float("nan"), float("nan")) for row in table.itertuples()]
    table["ci_low"], table["ci_high"] = ([b[0] for b in bounds], [b[1] for b in bounds]) if bounds else ([], [])
    return table[LONG_COLUMNS]


def replicates_loader(results: Path, records: Iterable[RunRecord | Mapping[str, Any]]
                      ) -> Callable[[str], Mapping[str, np.ndarray]]:
    """replicates_of(key) for `aggregate`, reading each run's side file once."""
    files = {r.key: r.bootstrap.file if r.bootstrap else None for r in as_records(records)}
    cache: dict[str, Mapping[str, np.ndarray]] = {}

    def replicates_of(key: str) -> Mapping[str, np.ndarray]:
        if key not in cache:
            cache[key] = load_replicates(results / files[key]) if files.get(key) else {}
        return cache[key]

    return replicates_of
