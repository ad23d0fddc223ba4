"""The report's figures, as PNG bytes: data efficiency (metric vs training budget) and example
predictions drawn on their faces. Figures are made without pyplot, so no display is needed."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from farl_bench.results.examples import Example

DPI = 100


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def efficiency_plot(rows: pd.DataFrame, x: str, title: str) -> bytes:
    """Mean over draws against `x` ('fraction', log scale, or 'shots'), one line per backbone +
    protocol, error bars = std over draws (none for a single draw). rows: long-table rows of one
    task, metric and subset."""
    figure = Figure(figsize=(5.2, 3.6))
    axes = figure.add_subplot()
    for (backbone, protocol), line in rows.sort_values(x).groupby(["backbone", "protocol"], sort=False):
        axes.errorbar(line[x], line["mean"], yerr=line["std"].fillna(0.0), marker="o", capsize=3,
                      label=f"{backbone} ({protocol})")
    if x == "fraction":
        axes.set_xscale("log")
        axes.set_xlabel("training fraction (log scale)")
    else:
        axes.set_xlabel("shots (k per stratum)")
    budgets = sorted(rows[x].unique())
    axes.set_xticks(budgets, [f"{b:g}" for b in budgets])
    axes.minorticks_off()
    unit = rows["unit"].iloc[0]
    better = "higher" if bool(rows["higher_is_better"].iloc[0]) else "lower"
    axes.set_ylabel(f"{rows['metric'].iloc[0]} ({unit}, {better} is better)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return _png(figure)


def _short(sample_id: str, width: int = 28) -> str:
    """The file part of an id, cut to fit above a small panel."""
    name = sample_id.rsplit("/", 1)[-1]
    return name if len(name) <= width else "…" + name[-width + 1:]


def examples_figure(kind: str, examples: list[Example]) -> bytes:
    """Masks: prediction (top row) and ground truth (bottom row) over each face, one colour per
    class id, background clear. Landmarks: both on one face, ground truth green, prediction red."""
    rows = 2 if kind == "mask" else 1
    top = max(int(max(e.prediction.max(), e.target.max())) for e in examples) if kind == "mask" else 0
    figure = Figure(figsize=(2.2 * len(examples), 2.3 * rows))
    axes = np.asarray(figure.subplots(rows, len(examples), squeeze=False))
    for j, example in enumerate(examples):
        for i in range(rows):
            ax = axes[i, j]
            ax.imshow(example.image)
            ax.set_axis_off()
            if kind == "mask":
                label = example.prediction if i == 0 else example.target
                ax.imshow(np.ma.masked_equal(label, 0), cmap="tab20", vmin=0, vmax=max(top, 1), alpha=0.55,
                          interpolation="nearest")
                ax.set_title(f"{'prediction' if i == 0 else 'ground truth'}\n{_short(example.id)}", fontsize=6)
            else:
                ax.scatter(*example.target.T, s=4, c="lime", label="ground truth")
                ax.scatter(*example.prediction.T, s=4, c="red", label="prediction")
                ax.set_title(_short(example.id), fontsize=6)
    if kind != "mask":
        axes[0, 0].legend(fontsize=6, loc="lower left")
    return _png(figure)
