"""Demographic slices: every metric of a run per group of test faces (FaceRecord.groups), the worst
group, and the largest gap between groups with a 95% bootstrap interval over test faces.

A group is a subset of test faces, so it is scored by the family's own scorer like any test subset
(the runner hands `group_subsets` to `fill_scorers`). The bootstrap resamples faces within each
group: per attribute one generator, `default_rng([BOOTSTRAP_SEED, *group sizes])`, draws for each
replicate the rows of every group in turn (`rng.integers(0, n_g, n_g)`), so each replicate keeps
every group's size. A gap replicate is the max minus the min over the groups' replicates. Groups
with fewer than MIN_FACES faces are reported with their size and flagged `small`, but take no part
in the worst group or the gap: their values are too noisy to name a winner.

The summary metrics' replicates go into the run's bootstrap file as subsets `<attribute>=<value>`
and `gap/<attribute>`, so the tables' intervals of means over draws come out as for test subsets.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from farl_bench.data.records import FaceRecord
from farl_bench.families.base import Metric, Scorer
from farl_bench.results.record import RunRecord
from farl_bench.results.stats import BOOTSTRAP_SEED, CI_LEVEL, DRAW_COLUMNS, latest_draws

#: Groups with fewer test faces are reported and flagged, but left out of the worst group and the gap.
MIN_FACES = 30

#: {attribute: {group value: row indices into the test split}}
Groups = dict[str, dict[str, list[int]]]


def subset_name(attribute: str, value: str) -> str:
    """A group as a subset name (also the `subset` of its rows in the long table)."""
    return f"{attribute}={value}"


def gap_name(attribute: str) -> str:
    """The `subset` of an attribute's gap rows in the long table."""
    return f"gap/{attribute}"


def group_rows(test: Sequence[FaceRecord], meta: Mapping[str, Any]) -> Groups:
    """The test faces' groups: attributes and values in the order of the dataset's meta["groups"]
    ({attribute: [values]}), then any others sorted; values no test face has are left out."""
    order: Mapping[str, list[str]] = meta.get("groups") or {}
    found: dict[str, dict[str, list[int]]] = {}
    for i, record in enumerate(test):
        for attribute, value in record.groups.items():
            found.setdefault(attribute, {}).setdefault(str(value), []).append(i)
    out: Groups = {}
    for attribute in [*(a for a in order if a in found), *sorted(found.keys() - order.keys())]:
        members = found[attribute]
        known = [str(v) for v in order.get(attribute, []) if str(v) in members]
        out[attribute] = {v: members[v] for v in [*known, *sorted(members.keys() - set(known))]}
    return out


def group_subsets(groups: Groups) -> dict[str, list[int]]:
    """Every group as a named subset of test rows, for `fill_scorers`."""
    return {subset_name(a, v): rows for a, members in groups.items() for v, rows in members.items()}


def _percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def _replicates(scorers: list[Scorer], sizes: list[int], replicates: int) -> list[dict[str, np.ndarray]] | None:
    """Per group, {metric: (replicates,)} over resamples within each group; None when a scorer
    cannot resample or replicates is 0."""
    if replicates <= 0:
        return None
    rng = np.random.default_rng([BOOTSTRAP_SEED, *sizes])
    values: list[dict[str, list[float]]] = [{} for _ in scorers]
    try:
        for _ in range(replicates):
            for scorer, n, out in zip(scorers, sizes, values):
                for name, metric in scorer.resample(rng.integers(0, n, n)).items():
                    out.setdefault(name, []).append(metric.value)
    except NotImplementedError:
        return None
    return [{name: np.asarray(v, np.float64) for name, v in out.items()} for out in values]


def _metric_slice(name: str, computed: dict[str, dict[str, Metric]], draws: list[dict[str, np.ndarray]] | None,
                  eligible: list[str]) -> tuple[dict[str, Any], np.ndarray | None]:
    """One metric across the groups of one attribute: values (with intervals), worst group, gap;
    and the gap's replicates (None without)."""
    values = list(computed)
    first = next(m[name] for m in computed.values() if name in m)
    nan = float("nan")
    groups = {}
    for k, value in enumerate(values):
        low, high = _percentiles(draws[k][name]) if draws and name in draws[k] else (None, None)
        groups[value] = {"value": computed[value][name].value if name in computed[value] else nan,
                         "ci_low": low, "ci_high": high}
    ranked = [v for v in eligible if np.isfinite(groups[v]["value"])]
    out: dict[str, Any] = {"unit": first.unit, "higher_is_better": first.higher_is_better, "groups": groups,
                           "worst": None, "gap": None, "gap_ci_low": None, "gap_ci_high": None}
    if not ranked:
        return out, None
    by_value = sorted(ranked, key=lambda v: groups[v]["value"], reverse=first.higher_is_better)
    out["worst"] = by_value[-1]
    gaps = None
    if len(ranked) >= 2:
        out["gap"] = abs(groups[by_value[0]]["value"] - groups[by_value[-1]]["value"])  # max - min
        if draws and all(name in draws[values.index(v)] for v in ranked):
            stacked = np.stack([draws[values.index(v)][name] for v in ranked])
            gaps = stacked.max(axis=0) - stacked.min(axis=0)
            out["gap_ci_low"], out["gap_ci_high"] = _percentiles(gaps)
    return out, gaps


def slice_scores(scorers: Mapping[str, Scorer], groups: Groups, replicates: int
                 ) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """What a record's `slices` holds, and the replicates of its summary metrics for the bootstrap
    file ({subset_name or gap_name: {metric: (replicates,) float32}}). `slices`, per attribute:
    {"sizes": {value: faces}, "small": [values under MIN_FACES], "min_faces": MIN_FACES,
     "metrics": {metric: {"unit", "higher_is_better", "groups": {value: {"value", "ci_low", "ci_high"}},
                          "worst": value, "gap": max - min, "gap_ci_low", "gap_ci_high"}}}
    `scorers` are filled per `subset_name`; worst and gap are None without two groups of MIN_FACES
    faces (worst: with none), intervals None without replicates."""
    out: dict[str, Any] = {}
    kept: dict[str, dict[str, np.ndarray]] = {}
    for attribute, members in groups.items():
        values = list(members)
        group_scorers = [scorers[subset_name(attribute, v)] for v in values]
        sizes = [len(members[v]) for v in values]
        computed = {v: scorer.compute() for v, scorer in zip(values, group_scorers)}
        draws = _replicates(group_scorers, sizes, replicates)
        eligible = [v for v, n in zip(values, sizes) if n >= MIN_FACES]
        names = list(dict.fromkeys(name for metrics in computed.values() for name in metrics))
        metrics = {}
        for name in names:
            metrics[name], gaps = _metric_slice(name, computed, draws, eligible)
            if "/" in name:  # per-class numbers: intervals in the record only, as for test subsets
                continue
            if gaps is not None:
                kept.setdefault(gap_name(attribute), {})[name] = gaps.astype(np.float32)
            for k, value in enumerate(values):
                if draws and name in draws[k]:
                    kept.setdefault(subset_name(attribute, value), {})[name] = draws[k][name].astype(np.float32)
        out[attribute] = {"sizes": dict(zip(values, sizes)), "small": [v for v in values if v not in eligible],
                          "min_faces": MIN_FACES, "metrics": metrics}
    return out, kept


def slice_draws(records: Iterable[RunRecord]) -> pd.DataFrame:
    """The slices of the latest draws as rows of `stats.draws_table` (never headline): per group
    `subset=<attribute>=<value>` with `n_test` its size, per attribute `subset=gap/<attribute>` (the
    gap is lower-is-better whatever the metric) with `n_test` the faces of the groups it spans."""
    rows = []
    for r in latest_draws(records):
        common = {"backbone": r.backbone, "protocol": r.protocol, "task": r.task, "task_version": r.task_version,
                  "data_fingerprint": r.data_fingerprint, "selection_split": r.selection_split, "budget": r.budget,
                  "fraction": r.fraction, "shots": r.shots, "seed": r.seed, "split_fingerprint": r.split_fingerprint,
                  "headline": False, "n_train": r.n_train, "key": r.key}
        for attribute, part in (r.slices or {}).items():
            spanned = sum(n for v, n in part["sizes"].items() if v not in part["small"])
            for metric, entry in part["metrics"].items():
                for value, group in entry["groups"].items():
                    rows.append({**common, "subset": subset_name(attribute, value), "metric": metric,
                                 "value": group["value"], "unit": entry["unit"],
                                 "higher_is_better": entry["higher_is_better"], "n_test": part["sizes"][value]})
                if entry["gap"] is not None:
                    rows.append({**common, "subset": gap_name(attribute), "metric": metric, "value": entry["gap"],
                                 "unit": entry["unit"], "higher_is_better": False, "n_test": spanned})
    return pd.DataFrame(rows, columns=DRAW_COLUMNS)
