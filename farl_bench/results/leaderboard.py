"""The tables: per-draw values, the long table (one row per aggregated number), the wide leaderboard
pivoted from it with each backbone's average rank, and a Markdown rendering of the leaderboard."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from farl_bench.errors import UserError
from farl_bench.results.stats import aggregate, draws_table, replicates_loader
from farl_bench.results.store import iter_records, locked, runs_path, write_atomic

DRAWS_CSV = "draws.csv"
LONG_CSV = "results.csv"
WIDE_CSV = "leaderboard.csv"
MARKDOWN = "leaderboard.md"
RANK = "avg_rank"
#: What, beside the task, makes two numbers incomparable: shown in a column label when a task has several.
VARIANT = ["task_version", "data_fingerprint", "selection_split"]


def long_table(records: Iterable[Mapping[str, Any]], results: Path | None = None) -> pd.DataFrame:
    """Aggregated over draws (see stats.aggregate); intervals read from `results` (NaN without it)."""
    records = list(records)
    replicates_of = replicates_loader(results, records) if results is not None else (lambda key: {})
    return aggregate(draws_table(records), replicates_of)


def _labels(head: pd.DataFrame) -> pd.Series:
    """`task[subset]:metric@budget`; a task measured under several settings, data copies or
    selection splits gets them in its label (`task#<version>`, `~<data>`, `(test-selected)`)."""
    distinct = head.groupby("task")[VARIANT].nunique()

    def label(row: pd.Series) -> str:
        task = row.task
        if distinct.loc[row.task, "task_version"] > 1:
            task += f"#{row.task_version}"
        if distinct.loc[row.task, "data_fingerprint"] > 1:
            task += f"~{str(row.data_fingerprint)[:6]}"
        if distinct.loc[row.task, "selection_split"] > 1 and row.selection_split != "val":
            task += f"({row.selection_split}-selected)"
        subset = "" if row.subset == "test" else f"[{row.subset}]"
        return f"{task}{subset}:{row.metric}@{row.budget}"

    return head.apply(label, axis=1)


def _headline(long: pd.DataFrame) -> pd.DataFrame:
    """Headline rows with their column label, in column order: task, whole test set before subsets,
    metric, fractions ascending, then shots ascending."""
    head = long[long["headline"].astype(bool)]
    if head.empty:
        return head.assign(column=[])
    head = head.assign(column=_labels(head), _subset=head["subset"] != "test")
    head = head.sort_values(["task", "_subset", "subset", "metric", "fraction", "shots"], na_position="last")
    return head.drop(columns="_subset")


def _columns(head: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(head["column"]))


def average_ranks(head: pd.DataFrame) -> pd.Series:
    """Mean over columns of each (backbone, protocol)'s rank among the backbones of its protocol
    (1 = best, ties share the mean rank); columns a row lacks are left out of its mean."""
    loss = head["mean"].where(~head["higher_is_better"].astype(bool), -head["mean"])  # lower is better
    ranks = loss.groupby([head["protocol"], head["column"]]).rank(method="average")
    return ranks.groupby([head["backbone"], head["protocol"]]).mean()


def wide_table(long: pd.DataFrame) -> pd.DataFrame:
    """Rows backbone + protocol; columns task:metric@budget (headline metrics, mean over draws) and
    avg_rank. Rows sorted by protocol, then average rank (best first)."""
    head = _headline(long)
    if head.empty:
        return pd.DataFrame()
    wide = head.pivot(index=["backbone", "protocol"], columns="column", values="mean")[_columns(head)]
    wide[RANK] = average_ranks(head)
    return wide.reset_index().sort_values(["protocol", RANK, "backbone"]).reset_index(drop=True)


def _cell(mean: float, std: float, n_draws: int) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean:.2f} ± {std:.2f}" if n_draws > 1 and not np.isnan(std) else f"{mean:.2f}"


def leaderboard_cells(long: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard as text: mean ± std over draws (mean alone for one draw), and avg_rank."""
    head = _headline(long)
    if head.empty:
        return pd.DataFrame()
    cells = head.assign(text=[_cell(m, s, n) for m, s, n in zip(head["mean"], head["std"], head["n_draws"])])
    table = cells.pivot(index=["backbone", "protocol"], columns="column", values="text")[_columns(head)].fillna("–")
    table[RANK] = average_ranks(head)
    table = table.reset_index().sort_values(["protocol", RANK, "backbone"]).reset_index(drop=True)
    return table.assign(**{RANK: table[RANK].map("{:.2f}".format)})


def markdown_table(long: pd.DataFrame) -> str:
    """`leaderboard_cells` as a Markdown table."""
    table = leaderboard_cells(long)
    if table.empty:
        return ""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
              for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_tables(results: Path) -> pd.DataFrame:
    """Write draws.csv, results.csv (long), leaderboard.csv (wide) and leaderboard.md from
    `runs.jsonl` into `results`; return the wide table."""
    # Under the append lock: a table written by one process of several is never older than
    # a record another process already appended, so the last table written holds every record.
    with locked(results):
        records = list(iter_records(results))
        if not records:
            raise UserError(f"no run records in {runs_path(results)}: "
                            f"run `farl-bench run ... --results {results}` first")
        long = long_table(records, results)
        wide = wide_table(long)
        write_atomic(results / DRAWS_CSV, draws_table(records).to_csv(index=False))
        write_atomic(results / LONG_CSV, long.to_csv(index=False))
        write_atomic(results / WIDE_CSV, wide.to_csv(index=False, float_format="%.2f"))
        write_atomic(results / MARKDOWN, markdown_table(long))
        return wide
