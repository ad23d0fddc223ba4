"""`index.html`: one self-contained page (inline CSS, images as base64 PNG, no network) with the
leaderboard, data-efficiency plots, per-subset and per-class tables, example predictions of dense
tasks and the headline numbers with their intervals. Built from a results folder, never re-running.

Made to be printed or pasted into a paper's appendix: each number has its 95% interval beside it
and the best of its column in bold, each header the metric's direction, text is left-aligned and
numbers right-aligned, and a random-init backbone says so wherever it is named."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from farl_bench.backbones.weights import RANDOM_INIT
from farl_bench.errors import UserError
from farl_bench.results.examples import load_examples
from farl_bench.published import PUBLISHED, PublishedNumber, load_published
from farl_bench.results.leaderboard import (PUBLISHED_NOTE, arrow, board, display_name, long_table, published_rows,
                                            weights_of)
from farl_bench.results.plots import DPI, efficiency_plot, examples_figure, slices_plot
from farl_bench.results.record import RunRecord
from farl_bench.results.slices import MIN_FACES
from farl_bench.results.stats import latest_draws
from farl_bench.results.store import iter_records, runs_path, write_atomic

STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1400px;color:#222}
table{border-collapse:collapse;margin:.3em 0 .3em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 8px}
th{background:#f3f3f3;vertical-align:bottom}.num{text-align:right;white-space:nowrap}.text{text-align:left}
td.text{white-space:nowrap}
.ci{color:#666;font-size:11px}h2{border-bottom:2px solid #ddd;margin-top:2em}
.scroll{overflow-x:auto;margin-bottom:1.2em}figure{display:inline-block;margin:.3em;vertical-align:top}
figcaption{font-size:12px;color:#555;max-width:600px}.note{color:#555;font-size:13px;max-width:1000px}"""
#: CSS pixels per inch: a 150 dpi figure is shown at its printed size.
CSS_DPI = 96
UNSET = "–"
INTERVALS = ("brackets: 95% bootstrap interval over test faces; ± : std over draws where there is no interval; "
             "bold: the best of its column")


def _image(png: bytes, caption: str) -> str:
    width = round(Image.open(io.BytesIO(png)).width * CSS_DPI / DPI)
    data = base64.b64encode(png).decode()
    return (f'<figure><img alt="{html.escape(caption)}" width="{width}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _table(header: list[str], rows: list[list[str]], numeric: list[bool], caption: str = "", note: str = "") -> str:
    """An HTML table of cells that are already HTML; `numeric` columns right-aligned, the rest left."""
    align = ["num" if n else "text" for n in numeric]
    head = "".join(f'<th class="{a}">{h}</th>' for a, h in zip(align, header))
    body = "".join("<tr>" + "".join(f'<td class="{a}">{c}</td>' for a, c in zip(align, row)) + "</tr>" for row in rows)
    title = f"<h3>{html.escape(caption)}</h3>" if caption else ""
    footer = f'<p class="note">{html.escape(note)}</p>' if note else ""
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'{title}<div class="scroll">{table}{footer}</div>'


def _number(row: pd.Series) -> str:
    """A long-table row as a cell: mean (bold where `best`), then its 95% interval, else ± std over draws."""
    if pd.isna(row["mean"]):
        return UNSET
    mean = f"<b>{row['mean']:.2f}</b>" if row["best"] else f"{row['mean']:.2f}"
    if not (pd.isna(row["ci_low"]) or pd.isna(row["ci_high"])):
        return f'{mean} <span class="ci">[{row["ci_low"]:.2f}, {row["ci_high"]:.2f}]</span>'
    if row["n_draws"] > 1 and not pd.isna(row["std"]):
        return f'{mean} <span class="ci">± {row["std"]:.2f}</span>'
    return mean


def _best(values: pd.Series, higher_is_better: bool) -> pd.Series:
    """Which values are the best at two decimals (ties all; none where all are equal)."""
    shown = values.round(2)
    top = shown.max() if higher_is_better else shown.min()
    return (shown == top) & (shown.nunique() > 1)


def _leaderboard(long: pd.DataFrame, published: list[PublishedNumber]) -> list[str]:
    lb = board(long)
    if lb is None:
        return []
    cells = lb.cells.set_index(["backbone", "protocol", "column"])
    header = ["backbone", "protocol", *(html.escape(f"{c} {arrow(lb.higher_is_better[c])}") for c in lb.columns),
              "avg_rank ↓"]
    rows = []
    for row in lb.rows.itertuples(index=False):
        numbers = [_number(cells.loc[(row.backbone, row.protocol, c)]) if (row.backbone, row.protocol, c) in cells.index
                   else UNSET for c in lb.columns]
        rank = UNSET if np.isnan(row.avg_rank) else f"{row.avg_rank:.2f}"
        rows.append([html.escape(display_name(row.backbone, row.weights)), html.escape(row.protocol), *numbers, rank])
    extra = published_rows(lb, published)
    for _, row in extra.iterrows():  # after every measured row, never bold or ranked
        rows.append([html.escape(display_name(row["backbone"], PUBLISHED)), html.escape(row["protocol"]),
                     *(UNSET if pd.isna(row[c]) else f"<i>{row[c]:.2f}</i>" for c in lb.columns), UNSET])
    note = (f"Sorted by protocol, then avg_rank. {lb.rank_note()}. {INTERVALS} within its protocol. Arrows: "
            "whether higher or lower is better.")
    if not extra.empty:
        note += " " + PUBLISHED_NOTE + " " + "; ".join(f"{m}: {s}" for m, s in zip(extra["backbone"], extra["source"]))
    return [_table(header, rows, [False, False, *[True] * (len(header) - 2)], note=note)]


def _reference(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows at the largest training budget: the largest fraction, else the most shots."""
    fractions = rows["fraction"].dropna()
    if not fractions.empty:
        return rows[rows["fraction"] == fractions.max()]
    return rows[rows["shots"] == rows["shots"].max()]


def _grid(rows: pd.DataFrame, index: str, columns: str, names: dict[str, str], best_along: str) -> tuple[list, list]:
    """Header and HTML rows of `rows` (long-table rows) laid out index x columns, each cell a number
    with its interval; the best of each column (best_along='column') or row ('row') in bold."""
    higher = rows["higher_is_better"].astype(bool)
    best = rows.groupby(columns if best_along == "column" else index, sort=False)["mean"].transform(
        lambda values: _best(values, bool(higher.loc[values.index].iloc[0])))
    cells = rows.assign(best=best).drop_duplicates([index, columns]).set_index([index, columns])
    keys = list(dict.fromkeys(rows[index])), list(dict.fromkeys(rows[columns]))
    header = [index, *(html.escape(names.get(c, c)) for c in keys[1])]
    body = [[html.escape(names.get(i, i)), *(_number(cells.loc[(i, c)]) if (i, c) in cells.index else UNSET
                                             for c in keys[1])] for i in keys[0]]
    return header, body


def _references(published: list[PublishedNumber], task: str, metric: str, x: str,
                budgets: pd.Series) -> list[tuple[str, float, float]]:
    """(label, x, value) of the published numbers of `task` and `metric` on the whole test set at one of
    the plotted `budgets` (training fractions or shots)."""
    at = set(budgets)
    return [(f"{n.model} ({n.protocol}, published)", getattr(n, x), n.value) for n in published
            if (n.task, n.metric, n.subset) == (task, metric, "test") and getattr(n, x) in at]


def _efficiency(long: pd.DataFrame, names: dict[str, str], published: list[PublishedNumber]) -> list[str]:
    out = []
    head = long[long["headline"].astype(bool) & (long["subset"] == "test")]
    for (task, protocol, metric), rows in head.groupby(["task", "protocol", "metric"], sort=True):
        for x in ("fraction", "shots"):
            points = rows[rows[x].notna()]
            if points[x].nunique() > 1:
                references = _references(published, task, metric, x, points[x])
                out.append(_image(efficiency_plot(points, x, f"{task}: {metric} ({protocol})", names, references),
                                  f"{task} {metric} vs training {x}, {protocol}; error bars: std over draws, "
                                  "cut at the metric's range" + ("; black marks: published numbers at the same "
                                                                 "budget (sources under the leaderboard)"
                                                                 if references else "")))
    return out


def _per_subset(long: pd.DataFrame, names: dict[str, str]) -> list[str]:
    out = []
    head = long[long["headline"].astype(bool)]
    for (task, protocol, metric), rows in head.groupby(["task", "protocol", "metric"], sort=True):
        if rows["subset"].nunique() < 2:
            continue
        rows = _reference(rows)
        rows = rows.assign(_subset=rows["subset"] != "test").sort_values(["backbone", "_subset", "subset"],
                                                                         kind="stable")
        header, body = _grid(rows, "backbone", "subset", names, best_along="column")
        caption = (f"{task}: {metric} {arrow(bool(rows['higher_is_better'].iloc[0]))} per test subset ({protocol}, "
                   f"budget {rows['budget'].iloc[0]}, mean over draws)")
        out.append(_table(header, body, [False, *[True] * (len(header) - 1)], caption))
    return out


def _per_class(long: pd.DataFrame, names: dict[str, str]) -> list[str]:
    out = []
    classes = long[long["metric"].str.contains("/", regex=False) & (long["subset"] == "test")]
    for (task, protocol), rows in classes.groupby(["task", "protocol"], sort=True):
        rows = _reference(rows)  # a class absent from the test set keeps its row, as –
        header, body = _grid(rows.sort_values("backbone", kind="stable"), "metric", "backbone", names, best_along="row")
        caption = (f"{task}: per class {arrow(bool(rows['higher_is_better'].iloc[0]))} ({protocol}, budget "
                   f"{rows['budget'].iloc[0]}, test, mean over draws; the best of each row in bold)")
        out.append(_table(header, body, [False, *[True] * (len(header) - 1)], caption))
    return out


def _slices(long: pd.DataFrame, records: list[RunRecord], names: dict[str, str]) -> list[str]:
    """Per task, a bar chart of its first headline metric per demographic group (largest budget)."""
    out = []
    groups = long[long["subset"].str.contains("=", regex=False) & ~long["subset"].str.startswith("gap/")]
    first = {r.task: r.headline_metrics[0] for r in records if r.headline_metrics}
    for task, rows in groups.groupby("task", sort=True):
        rows = _reference(rows[rows["metric"] == first.get(task)])
        if rows.empty:
            continue
        metric = rows["metric"].iloc[0]
        out.append(_image(slices_plot(rows, f"{task}: {metric} per demographic group", names, MIN_FACES),
                          f"{task} {metric} per group of test faces (budget {rows['budget'].iloc[0]}, mean over "
                          f"draws); error bars: 95% bootstrap interval within the group; hatched: fewer than "
                          f"{MIN_FACES} faces, left out of the gap (results.csv rows gap/<attribute>)"))
    return out


def _examples(records: list[RunRecord], results: Path, names: dict[str, str]) -> list[str]:
    """For each dense (task, protocol, backbone): the examples of the run with the largest budget
    (fraction before shots), lowest seed."""
    chosen: dict[tuple[str, str, str], tuple[tuple, RunRecord]] = {}
    for r in latest_draws(records):
        if not r.examples:
            continue
        rank = (r.fraction is not None, r.fraction or r.shots or 0, -r.seed)
        key = (r.task, r.protocol, r.backbone)
        if key not in chosen or rank > chosen[key][0]:
            chosen[key] = (rank, r)
    out = []
    for (task, protocol, backbone), (_, record) in sorted(chosen.items()):
        path = results / record.examples
        if not path.is_file():
            continue
        kind, examples, labels = load_examples(path)
        out.append(_image(examples_figure(kind, examples, labels),
                          f"{task}, {names.get(backbone, backbone)} ({protocol}), budget {record.budget}, "
                          f"seed {record.seed}"))
    return out


def _headline_numbers(long: pd.DataFrame, names: dict[str, str]) -> list[str]:
    """Every headline number with its interval, sorted by task, protocol, budget, subset (whole test set
    first), metric, backbone."""
    rows = long[long["headline"].astype(bool)]
    rows = rows.assign(_subset=rows["subset"] != "test").sort_values(
        ["task", "protocol", "fraction", "shots", "budget", "_subset", "subset", "metric", "backbone"],
        na_position="last", kind="stable")
    text = ["backbone", "protocol", "task", "budget", "subset", "metric", "unit", "selection_split"]
    numbers = ["mean", "std", "ci_low", "ci_high", "n_draws"]
    header = [*text, "better", *numbers]
    body = []
    for _, row in rows.iterrows():
        values = [names.get(row.backbone, row.backbone), *(row[c] for c in text[1:])]
        figures = [UNSET if pd.isna(row[c]) else f"{row[c]:.2f}" for c in numbers[:-1]] + [str(row["n_draws"])]
        body.append([*map(html.escape, map(str, values)), arrow(bool(row.higher_is_better)), *figures])
    return [_table(header, body, [False] * (len(text) + 1) + [True] * len(numbers))]


def _section(title: str, parts: list[str], empty: str) -> str:
    body = "\n".join(parts) if parts else f'<p class="note">{html.escape(empty)}</p>'
    return f"<h2>{html.escape(title)}</h2>{body}"


def write_report(results: Path, out: Path, published: bool = False) -> Path:
    """Write `out/index.html` from the records in `results`; returns its path. `published`: the numbers
    papers report join the leaderboard as marked rows and the data-efficiency plots as reference marks."""
    numbers = load_published() if published else []
    records = list(iter_records(results))
    if not records:
        raise UserError(f"no run records in {runs_path(results)}: run `farl-bench run ... --results {results}` first")
    long = long_table(records, results)
    weights = weights_of(records)
    names = {backbone: display_name(backbone, kind) for backbone, kind in weights.items()}
    random = [b for b, kind in weights.items() if kind == RANDOM_INIT]
    last = records[-1].versions
    body = [
        "<h1>farl-bench report</h1>",
        f'<p class="note">{len(records)} run records from {html.escape(str(results))}; farl-bench '
        f"{html.escape(str(last.get('farl_bench')))}, commit {html.escape(str(last.get('git_commit')))}. "
        "Means over draws (subset draws x seeds); 95% intervals are bootstrap percentiles over test faces."
        + (f" {html.escape(', '.join(random))}: random init, weights drawn at random rather than trained: a floor to "
           "beat, not a model." if random else "") + "</p>",
        _section("Leaderboard", _leaderboard(long, numbers), "No headline numbers."),
        _section("Data efficiency", _efficiency(long, names, numbers),
                 "Only one training budget was run: no curves to draw."),
        _section("Per test subset", _per_subset(long, names), "No task here has test subsets."),
        _section("Per class", _per_class(long, names), "No per-class metrics here."),
        _section("Demographic slices", _slices(long, records, names), "No test faces here carry demographic groups."),
        _section("Example predictions", _examples(records, results, names), "No dense task (parsing, landmarks) here."),
        _section("Headline numbers with intervals", _headline_numbers(long, names), "No headline numbers."),
    ]
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>farl-bench report</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
    path = out / "index.html"
    write_atomic(path, page)
    return path
