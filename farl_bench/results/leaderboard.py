"""The long table (one row per measured number) and the wide leaderboard pivoted from it."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from farl_bench.errors import UserError
from farl_bench.results.store import iter_records, runs_path

LONG_CSV = "results.csv"
WIDE_CSV = "leaderboard.csv"
LONG_COLUMNS = ["backbone", "protocol", "task", "task_version", "fraction", "seed", "subset", "metric", "value",
                "unit", "higher_is_better", "headline", "selection_split", "n_train", "key"]


def long_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in records:
        for subset, metrics in r["metrics"].items():
            for metric, m in metrics.items():
                rows.append({"backbone": r["backbone"], "protocol": r["protocol"], "task": r["task"],
                             "task_version": r["task_version"], "fraction": r["fraction"], "seed": r["seed"],
                             "subset": subset, "metric": metric, "value": m["value"], "unit": m["unit"],
                             "higher_is_better": m["higher_is_better"], "headline": metric in r["headline_metrics"],
                             "selection_split": r["selection_split"], "n_train": r["n_train"], "key": r["key"]})
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def _column_label(row: pd.Series, multi_version: set[str]) -> str:
    task = f"{row.task}#{row.task_version}" if row.task in multi_version else row.task
    subset = "" if row.subset == "test" else f"[{row.subset}]"
    return f"{task}{subset}:{row.metric}@{row.fraction:g}"


def wide_table(long: pd.DataFrame) -> pd.DataFrame:
    """Rows backbone + protocol; columns task:metric@fraction (headline metrics, mean over seeds).

    A task measured under several versions (different settings) gets one column per version
    (`task#version`), so results made under different settings never share a cell. Rows are
    sorted by the first column, best first.
    """
    head = long[long["headline"]]
    if head.empty:
        return pd.DataFrame()
    versions = head.groupby("task")["task_version"].nunique()
    multi = set(versions[versions > 1].index)
    head = head.assign(column=head.apply(_column_label, axis=1, multi_version=multi))
    wide = head.pivot_table(index=["backbone", "protocol"], columns="column", values="value", aggfunc="mean")
    wide = wide[sorted(wide.columns)]
    first = wide.columns[0]
    better_high = bool(head.loc[head["column"] == first, "higher_is_better"].iloc[0])
    return wide.sort_values(first, ascending=not better_high).reset_index()


def write_tables(results: Path) -> pd.DataFrame:
    """Write the long and wide CSVs from `runs.jsonl` into `results`; return the wide table."""
    records = list(iter_records(results))
    if not records:
        raise UserError(f"no run records in {runs_path(results)}: run `farl-bench run ... --results {results}` first")
    long = long_table(records)
    wide = wide_table(long)
    _write_atomic(long, results / LONG_CSV)
    _write_atomic(wide, results / WIDE_CSV, float_format="%.2f")
    return wide


def _write_atomic(table: pd.DataFrame, path: Path, **kwargs: Any) -> None:
    """Write beside the target and rename over it, so a reader never sees half a table."""
    tmp = path.with_name(f".{path.name}.tmp")
    table.to_csv(tmp, index=False, **kwargs)
    tmp.replace(path)
