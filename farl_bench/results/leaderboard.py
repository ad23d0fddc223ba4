"""The tables: per-draw values, the long table (one row per aggregated number), the wide leaderboard
pivoted from it with each backbone's average rank, and a Markdown rendering of the leaderboard.
Every table comes out in one order whatever order the records were written in."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from farl_bench.backbones.weights import RANDOM_INIT
from farl_bench.errors import UserError
from farl_bench.published import PUBLISHED, PublishedNumber, load_published
from farl_bench.results.record import RunRecord
from farl_bench.results.slices import slice_draws
from farl_bench.results.stats import aggregate, as_records, draws_table, replicates_loader
from farl_bench.results.store import (DRAWS_CSV, LONG_CSV, MARKDOWN, WIDE_CSV, locked_records, runs_path, table_path,
                                      write_atomic)

RANK = "avg_rank"
RANK_OVER = "avg_rank_over"
#: What, beside the task, makes two numbers incomparable: shown in a column label when a task has several.
VARIANT = ["task_version", "data_fingerprint", "selection_split"]
#: The order of the long table's rows (a total order: these name one number); draws add the seed.
ORDER = ["backbone", "protocol", "task", "task_version", "data_fingerprint", "selection_split", "fraction", "shots",
         "budget", "subset", "metric"]


def _in_order(table: pd.DataFrame, *extra: str) -> pd.DataFrame:
    return table.sort_values([*ORDER, *extra], na_position="last", kind="stable").reset_index(drop=True)


def weights_of(records: Iterable[RunRecord | Mapping[str, Any]]) -> dict[str, str]:
    """Backbone -> where its weights came from: the first word of the records' `weights`
    ('random-init', 'file', 'hub', ...), 'none' for a backbone without parameters (pixels, hog:
    nothing was drawn at random), 'unknown' for records made before `weights` was recorded. Random
    init wins over any other record of the backbone, so a floor is never shown as trained."""
    kinds: dict[str, str] = {}
    for r in as_records(records):
        kind = "none" if r.backbone_params == 0 else (r.weights or "unknown").split(" ", 1)[0]
        if kinds.get(r.backbone) != RANDOM_INIT:
            kinds[r.backbone] = kind
    return kinds


def draws_in_order(records: Iterable[RunRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """stats.draws_table with the demographic slices' rows (slices.slice_draws), in the tables' order."""
    records = as_records(records)
    draws, slices = draws_table(records), slice_draws(records)
    return _in_order(pd.concat([draws, slices], ignore_index=True) if not slices.empty else draws, "seed")


def long_table(records: Iterable[RunRecord | Mapping[str, Any]], results: Path | None = None) -> pd.DataFrame:
    """Aggregated over draws (see stats.aggregate); intervals read from `results` (NaN without it);
    `weights` as in `weights_of`. Draws are aggregated in a fixed order, so sums and the bytes
    written do not depend on the order of the records."""
    records = as_records(records)
    replicates_of = replicates_loader(results, records) if results is not None else (lambda key: {})
    long = _in_order(aggregate(draws_in_order(records), replicates_of))
    return long.assign(weights=long["backbone"].map(weights_of(records)).fillna("unknown"))


def _labels(head: pd.DataFrame) -> pd.Series:
    """`task[subset]:metric@budget`; a task measured under several settings, data copies or
    selection splits gets them in its label (`task#<version>`, `~<data>`, `(test-selected)`).
    Versions count within a protocol: each protocol's cells have their own (`TaskSpec.version_for`)."""
    versions = head.groupby(["task", "protocol"])["task_version"].nunique()
    distinct = head.groupby("task")[VARIANT[1:]].nunique()

    def label(row: pd.Series) -> str:
        task = row.task
        if versions.loc[(row.task, row.protocol)] > 1:
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
    head = head.sort_values(["task", "_subset", "subset", "metric", "fraction", "shots"], na_position="last",
                            kind="stable")
    return head.drop(columns="_subset")


def _columns(head: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(head["column"]))


def rank_columns(head: pd.DataFrame) -> dict[str, list[str]]:
    """Protocol -> the columns in which every ranked backbone of that protocol (one with any number
    there) has a number: a backbone is never ranked on a column another one lacks."""
    measured = head[head["mean"].notna()]
    backbones = measured.groupby("protocol")["backbone"].nunique()
    counts = measured.groupby(["protocol", "column"])["backbone"].nunique()
    order = _columns(head)
    return {p: [c for c in order if counts.get((p, c), 0) == n] for p, n in backbones.items()}


def average_ranks(head: pd.DataFrame) -> pd.Series:
    """Mean over the `rank_columns` of each (backbone, protocol)'s rank among the backbones of its
    protocol (1 = best, ties share the mean rank); NaN where there is no such column."""
    used = rank_columns(head)
    head = head[[c in used.get(p, ()) for p, c in zip(head["protocol"], head["column"])]]
    loss = head["mean"].where(~head["higher_is_better"].astype(bool), -head["mean"])  # lower is better
    ranks = loss.groupby([head["protocol"], head["column"]]).rank(method="average")
    return ranks.groupby([head["backbone"], head["protocol"]]).mean()


@dataclass
class Board:
    """The leaderboard before rendering. `rows`: one per (backbone, protocol) with `weights`,
    avg_rank and avg_rank_over, in display order (protocol, then avg_rank, best first); `cells`:
    the headline rows of the long table with their `column` and `best` (the best value of its
    column within its protocol, at two decimals, ties all; none where all values are equal)."""

    rows: pd.DataFrame
    cells: pd.DataFrame
    columns: list[str]
    higher_is_better: dict[str, bool]
    rank_columns: dict[str, list[str]]

    def rank_note(self) -> str:
        """Which columns avg_rank is over, per protocol."""
        parts = []
        for protocol, used in self.rank_columns.items():
            if not used:
                parts.append(f"{protocol}: no column every backbone has, so no rank")
            elif len(used) == len(self.cells.loc[self.cells["protocol"] == protocol, "column"].unique()):
                parts.append(f"{protocol}: all {len(used)} column(s)")
            else:
                parts.append(f"{protocol}: {', '.join(used)}")
        return ("avg_rank: mean rank among the backbones of a protocol, over the columns every one of them "
                "has (" + "; ".join(parts) + ")")


def board(long: pd.DataFrame) -> Board | None:
    """The leaderboard of a long table; None when it holds no headline number."""
    head = _headline(long)
    if head.empty:
        return None
    used = rank_columns(head)
    rows = (head.groupby(["backbone", "protocol"], sort=True)["weights"].first().to_frame()
            .join(average_ranks(head).rename(RANK)).reset_index())
    rows[RANK_OVER] = ["; ".join(used.get(p, [])) for p in rows["protocol"]]
    rows = rows.sort_values(["protocol", RANK, "backbone"], na_position="last", kind="stable").reset_index(drop=True)
    shown = head["mean"].round(2)
    better = shown.where(head["higher_is_better"].astype(bool), -shown)
    groups = better.groupby([head["protocol"], head["column"]])
    best = (better == groups.transform("max")) & (groups.transform("nunique") > 1)
    higher = dict(zip(head["column"], head["higher_is_better"].astype(bool)))
    return Board(rows, head.assign(best=best), _columns(head), higher, used)


def arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def display_name(backbone: str, weights: str) -> str:
    """The backbone as tables show it: a random network says so, since it is a floor, not a model, and a
    number read in a paper says so, since it was not measured here."""
    if weights == PUBLISHED:
        return f"{backbone} (published)"
    return f"{backbone} (random init)" if weights == RANDOM_INIT else backbone


def _gap_columns(long: pd.DataFrame) -> pd.DataFrame:
    """(backbone, protocol) x `task[gap/<attribute>]:metric@budget`: the largest gap between
    demographic groups of each headline metric (mean over draws), in task, attribute, metric order."""
    head = long[long["headline"].astype(bool)]
    headline = set(zip(head["task"], head["metric"]))
    of_headline = pd.Series(list(zip(long["task"], long["metric"])), index=long.index, dtype=object).isin(headline)
    gaps = long[long["subset"].str.startswith("gap/") & of_headline]
    if gaps.empty:
        return pd.DataFrame()
    gaps = gaps.assign(column=_labels(gaps)).sort_values(["task", "subset", "metric", "fraction", "shots"],
                                                          na_position="last", kind="stable")
    columns = list(dict.fromkeys(gaps["column"]))
    return gaps.pivot(index=["backbone", "protocol"], columns="column", values="mean")[columns]


def wide_table(long: pd.DataFrame, published: Iterable[PublishedNumber] = (), slices: bool = False) -> pd.DataFrame:
    """Rows backbone + protocol (with `weights`); columns task:metric@budget (headline metrics, mean
    over draws), avg_rank and avg_rank_over (the columns avg_rank is over, `; `-separated). Rows
    sorted by protocol, then average rank (best first). With `slices`, each headline metric's largest gap
    between demographic groups follows the headline columns (`task[gap/<attribute>]:metric@budget`,
    lower is better, never ranked). Then, where `published` numbers fall in these
    columns, the `published_rows` (weights 'published', no rank) and a `source` column for them."""
    lb = board(long)
    if lb is None:
        return pd.DataFrame()
    means = lb.cells.pivot(index=["backbone", "protocol"], columns="column", values="mean")[lb.columns]
    gaps = _gap_columns(long) if slices else pd.DataFrame()
    if not gaps.empty:  # demographic gaps (lower is better), beside the headline columns but never ranked
        means = means.join(gaps)
    wide = lb.rows.join(means, on=["backbone", "protocol"])[["backbone", "protocol", "weights", *lb.columns,
                                                             *gaps.columns, RANK, RANK_OVER]]
    extra = published_rows(lb, published)
    return wide if extra.empty else pd.concat([wide, extra], ignore_index=True)


PUBLISHED_NOTE = ("(published): numbers read in papers, shown beside ours, never ranked, bolded or averaged; "
                  "each in our metric's unit, under the column of its task, test subset, metric and budget "
                  "(their protocol and input size may differ from ours). Sources:")


def published_rows(lb: Board, numbers: Iterable[PublishedNumber]) -> pd.DataFrame:
    """One row per published model + protocol with its numbers in the board's columns of the same task,
    test subset, metric and budget; a model with no number in these columns is left out. Columns:
    backbone (the model), protocol, weights ('published'), the board's columns, avg_rank (NaN),
    avg_rank_over (empty) and source (the citations, `; `-separated)."""
    columns_of: dict[tuple, list[str]] = {}
    for cell in lb.cells.drop_duplicates("column").itertuples(index=False):
        columns_of.setdefault((cell.task, cell.subset, cell.metric, cell.budget), []).append(cell.column)
    rows: dict[tuple[str, str], dict] = {}
    for number in numbers:
        columns = columns_of.get((number.task, number.subset, number.metric, number.budget), [])
        if columns:
            row = rows.setdefault((number.model, number.protocol), {"sources": []})
            row.update(dict.fromkeys(columns, number.value))
            row["sources"] = list(dict.fromkeys([*row["sources"], number.cite()]))
    table = pd.DataFrame([[model, protocol, PUBLISHED, *(row.get(c, np.nan) for c in lb.columns), np.nan, "",
                           "; ".join(row["sources"])] for (model, protocol), row in rows.items()],
                         columns=["backbone", "protocol", "weights", *lb.columns, RANK, RANK_OVER, "source"])
    return table.sort_values(["protocol", "backbone"], kind="stable", ignore_index=True)


def _cell(mean: float, std: float, n_draws: int) -> str:
    if np.isnan(mean):
        return "–"
    return f"{mean:.2f} ± {std:.2f}" if n_draws > 1 and not np.isnan(std) else f"{mean:.2f}"


def markdown_table(long: pd.DataFrame, published: Iterable[PublishedNumber] = ()) -> str:
    """The leaderboard in Markdown: mean ± std over draws (mean alone for one draw), the best of
    each column within a protocol in bold, the metric's direction in each header, then a line
    saying which columns avg_rank is over. `published` numbers in these columns follow as rows marked
    (published), never bold or ranked, with their sources below."""
    lb = board(long)
    if lb is None:
        return ""
    text = [f"**{_cell(m, s, n)}**" if b else _cell(m, s, n)
            for m, s, n, b in zip(lb.cells["mean"], lb.cells["std"], lb.cells["n_draws"], lb.cells["best"])]
    cells = lb.cells.assign(text=text).pivot(index=["backbone", "protocol"], columns="column", values="text")
    header = ["backbone", "protocol", *(f"{c} {arrow(lb.higher_is_better[c])}" for c in lb.columns), f"{RANK} ↓"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for row in lb.rows.itertuples(index=False):
        values = [cells.loc[(row.backbone, row.protocol), c] for c in lb.columns]
        rank = "–" if np.isnan(row.avg_rank) else f"{row.avg_rank:.2f}"
        line = [display_name(row.backbone, row.weights), row.protocol, *("–" if pd.isna(v) else v for v in values),
                rank]
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in line) + " |")
    extra = published_rows(lb, published)
    for _, row in extra.iterrows():
        line = [display_name(row["backbone"], PUBLISHED), row["protocol"],
                *("–" if pd.isna(row[c]) else f"{row[c]:.2f}" for c in lb.columns), "–"]
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in line) + " |")
    sources = "".join(f"\n- {model}: {source}" for model, source in zip(extra["backbone"], extra["source"]))
    return ("\n".join(lines) + "\n\n" + lb.rank_note() + ".\n"
            + (f"\n{PUBLISHED_NOTE}{sources}\n" if sources else ""))


def write_tables(results: Path, published: bool = False, slices: bool = False) -> pd.DataFrame:
    """Write draws.csv, results.csv (long), leaderboard.csv (wide) and leaderboard.md from
    `runs.jsonl` into `results`; return the wide table. `published`: the two leaderboards also
    carry the published numbers of their columns (`published_rows`); `slices`: leaderboard.csv also
    has the demographic gap columns (`wide_table`)."""
    numbers = load_published() if published else []
    # Under the append lock: a table written by one process of several is never older than
    # a record another process already appended, so the last table written holds every record.
    with locked_records(results) as records:
        if not records:
            raise UserError(f"no run records in {runs_path(results)}: "
                            f"run `farl-bench run ... --results {results}` first")
        long = long_table(records, results)
        wide = wide_table(long, numbers, slices)
        write_atomic(table_path(results, DRAWS_CSV), draws_in_order(records).to_csv(index=False))
        write_atomic(table_path(results, LONG_CSV), long.to_csv(index=False))
        write_atomic(table_path(results, WIDE_CSV), wide.to_csv(index=False, float_format="%.2f"))
        write_atomic(table_path(results, MARKDOWN), markdown_table(long, numbers))
        return wide
