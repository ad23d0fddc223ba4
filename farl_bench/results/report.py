"""`index.html`: one self-contained page (inline CSS, images as base64 PNG, no network) with the
leaderboard, data-efficiency plots, per-subset and per-class tables, example predictions of dense
tasks and the headline numbers with their intervals. Built from a results folder, never re-running."""
from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from farl_bench.errors import UserError
from farl_bench.results.examples import load_examples
from farl_bench.results.leaderboard import leaderboard_cells, long_table
from farl_bench.results.plots import efficiency_plot, examples_figure
from farl_bench.results.stats import latest_draws
from farl_bench.results.store import iter_records, runs_path, write_atomic

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3}td{text-align:right}h2{border-bottom:2px solid #ddd;margin-top:2em}
.scroll{overflow-x:auto}figure{display:inline-block;margin:.5em}figcaption{font-size:12px;color:#555}.note{color:#555;font-size:13px}"""


def _image(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode()
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(frame: pd.DataFrame, caption: str = "") -> str:
    head = f"<h3>{html.escape(caption)}</h3>" if caption else ""
    table = frame.rename_axis(columns=None).to_html(index=False, na_rep="–", float_format="{:.2f}".format, border=0)
    return f'{head}<div class="scroll">{table}</div>'


def _reference(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows at the largest training budget: the largest fraction, else the most shots."""
    fractions = rows["fraction"].dropna()
    if not fractions.empty:
        return rows[rows["fraction"] == fractions.max()]
    return rows[rows["shots"] == rows["shots"].max()]


def _efficiency(long: pd.DataFrame) -> list[str]:
    out = []
    head = long[long["headline"].astype(bool) & (long["subset"] == "test")]
    for (task, protocol, metric), rows in head.groupby(["task", "protocol", "metric"], sort=True):
        for x in ("fraction", "shots"):
            points = rows[rows[x].notna()]
            if points[x].nunique() > 1:
                out.append(_image(efficiency_plot(points, x, f"{task}: {metric} ({protocol})"),
                                  f"{task} {metric} vs training {x}, {protocol}; error bars: std over draws"))
    return out


def _per_subset(long: pd.DataFrame) -> list[str]:
    out = []
    head = long[long["headline"].astype(bool)]
    for (task, protocol, metric), rows in head.groupby(["task", "protocol", "metric"], sort=True):
        if rows["subset"].nunique() < 2:
            continue
        rows = _reference(rows)
        table = rows.pivot_table(index="backbone", columns="subset", values="mean", aggfunc="first")
        out.append(_table(table.reset_index(), f"{task}: {metric} per test subset ({protocol}, "
                                               f"budget {rows['budget'].iloc[0]}, mean over draws)"))
    return out


def _per_class(long: pd.DataFrame) -> list[str]:
    out = []
    classes = long[long["metric"].str.contains("/", regex=False) & (long["subset"] == "test")]
    for (task, protocol), rows in classes.groupby(["task", "protocol"], sort=True):
        rows = _reference(rows)
        table = rows.pivot_table(index="metric", columns="backbone", values="mean", aggfunc="first",
                                 dropna=False)  # a class absent from the test set stays, as –
        out.append(_table(table.reset_index(), f"{task}: per class ({protocol}, budget {rows['budget'].iloc[0]}, "
                                               "test, mean over draws)"))
    return out


def _examples(records: list[dict[str, Any]], results: Path) -> list[str]:
    """For each dense (task, protocol, backbone): the examples of the run with the largest budget
    (fraction before shots), lowest seed."""
    chosen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in latest_draws(records):
        if not r.get("examples"):
            continue
        rank = (r.get("fraction") is not None, r.get("fraction") or r.get("shots") or 0, -r["seed"])
        key = (r["task"], r["protocol"], r["backbone"])
        if key not in chosen or rank > chosen[key]["rank"]:
            chosen[key] = {"rank": rank, "record": r}
    out = []
    for (task, protocol, backbone), item in sorted(chosen.items()):
        path = results / item["record"]["examples"]
        if not path.is_file():
            continue
        kind, examples = load_examples(path)
        out.append(_image(examples_figure(kind, examples),
                          f"{task}, {backbone} ({protocol}), budget {item['record']['budget']}, seed "
                          f"{item['record']['seed']}"))
    return out


def _section(title: str, parts: list[str], empty: str) -> str:
    return f"<h2>{html.escape(title)}</h2>" + ("\n".join(parts) if parts else f'<p class="note">{html.escape(empty)}</p>')


def write_report(results: Path, out: Path) -> Path:
    """Write `out/index.html` from the records in `results`; returns its path."""
    records = list(iter_records(results))
    if not records:
        raise UserError(f"no run records in {runs_path(results)}: run `farl-bench run ... --results {results}` first")
    long = long_table(records, results)
    headline = long[long["headline"].astype(bool)][["backbone", "protocol", "task", "budget", "subset", "metric",
                                                    "mean", "std", "ci_low", "ci_high", "n_draws", "unit",
                                                    "selection_split"]]
    last = records[-1]["versions"]
    body = [
        "<h1>farl-bench report</h1>",
        f'<p class="note">{len(records)} run records from {html.escape(str(results))}; farl-bench '
        f"{html.escape(str(last.get('farl_bench')))}, commit {html.escape(str(last.get('git_commit')))}. "
        "Means over draws (subset draws x seeds) ± their std; 95% intervals are bootstrap percentiles "
        "over test faces.</p>",
        _section("Leaderboard", [_table(leaderboard_cells(long))], ""),
        _section("Data efficiency", _efficiency(long), "Only one training budget was run: no curves to draw."),
        _section("Per test subset", _per_subset(long), "No task here has test subsets."),
        _section("Per class", _per_class(long), "No per-class metrics here."),
        _section("Example predictions", _examples(records, results), "No dense task (parsing, landmarks) here."),
        _section("Headline numbers with intervals", [_table(headline)], ""),
    ]
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>farl-bench report</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = out / "index.html"
    write_atomic(path, page)
    return path
