"""The report's figures, as PNG bytes: data efficiency (metric vs training budget) and example
predictions drawn on their faces. Figures are made without pyplot, so no display is needed. Sizes
and fonts are for print: a plot is 6 x 4 in at 150 dpi with text of 10 pt or more."""
from __future__ import annotations

import io
import itertools
import logging
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

# Set before matplotlib loads: its first import on a machine logs "building the font cache", noise here.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
from matplotlib import colormaps, rc_context  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from farl_bench.results.examples import Example  # noqa: E402

DPI = 150
#: Points: the smallest text in a figure, still readable when printed at the figure's size.
FONT = {"font.size": 10, "legend.fontsize": 10, "axes.titlesize": 11}
#: Class id -> overlay colour of the example masks (id 0, the background, is left clear): tab20's
#: strong colours first, then its light ones, so the first ten classes stand out on a face.
MASK_COLOURS = colormaps["tab20"].colors[0::2] + colormaps["tab20"].colors[1::2]
#: Markers of published reference numbers: black, unjoined, unlike the measured lines.
REFERENCE_MARKERS = ("*", "D", "P", "X", "s", "^")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def metric_range(metric: str, unit: str) -> tuple[float, float]:
    """Where a metric's values can lie: shares in % within 0..100, a fraction within 0..1, and
    errors from 0 up (NME is in % of a normaliser but has no upper bound; MAE in years)."""
    if unit == "%" and not metric.startswith("nme"):
        return 0.0, 100.0
    if unit == "fraction":
        return 0.0, 1.0
    return 0.0, math.inf


def clipped_errors(mean: np.ndarray, spread: np.ndarray, low: float, high: float) -> np.ndarray:
    """(2, n) error-bar lengths below and above `mean` for mean ± spread, cut at the metric's range."""
    mean, spread = np.asarray(mean, float), np.nan_to_num(np.asarray(spread, float))
    below = mean - np.clip(mean - spread, low, high)
    above = np.clip(mean + spread, low, high) - mean
    return np.clip(np.stack([below, above]), 0.0, None)


def efficiency_plot(rows: pd.DataFrame, x: str, title: str, names: dict[str, str],
                    references: Sequence[tuple[str, float, float]] = ()) -> bytes:
    """Mean over draws against `x` ('fraction', log scale, or 'shots'), one line per backbone +
    protocol (shown as `names[backbone]`), error bars = std over draws cut at the metric's range
    (none for a single draw). rows: long-table rows of one task, metric and subset. `references`:
    (label, x, value) of published numbers, drawn as black marks, not lines."""
    metric, unit = rows["metric"].iloc[0], rows["unit"].iloc[0]
    low, high = metric_range(metric, unit)
    with rc_context(FONT):
        figure = Figure(figsize=(6, 4), layout="constrained")
        axes = figure.add_subplot()
        for (backbone, protocol), line in rows.sort_values(x).groupby(["backbone", "protocol"], sort=True):
            axes.errorbar(line[x], line["mean"], yerr=clipped_errors(line["mean"], line["std"], low, high),
                          marker="o", capsize=3, label=f"{names.get(backbone, backbone)} ({protocol})")
        for (label, at, value), marker in zip(references, itertools.cycle(REFERENCE_MARKERS)):
            # hollow, so marks at one budget stay apart
            axes.plot([at], [value], linestyle="none", marker=marker, markersize=9, color="black",
                      markerfacecolor="none", markeredgewidth=1.5, label=label)
        if x == "fraction":
            axes.set_xscale("log")
            axes.set_xlabel("training fraction (log scale)")
        else:
            axes.set_xlabel("shots (k per stratum)")
        budgets = sorted(rows[x].unique())
        axes.set_xticks(budgets, [f"{b:g}" for b in budgets])
        axes.minorticks_off()
        bottom, top = axes.get_ylim()
        pad = 0.03 * (top - bottom)  # points on the range's ends stay whole
        axes.set_ylim(max(bottom, low - pad), min(top, high + pad))  # no axis far beyond what the metric can take
        better = "higher" if bool(rows["higher_is_better"].iloc[0]) else "lower"
        axes.set_ylabel(f"{metric} ({unit}, {better} is better)")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        if references:  # long names of published models: below the axes, not over the curves
            figure.legend(*axes.get_legend_handles_labels(), loc="outside lower center", frameon=False)
        else:
            axes.legend()
        return _png(figure)


def _short(sample_id: str, width: int = 24) -> str:
    """The file part of an id, cut to fit above a panel."""
    name = sample_id.rsplit("/", 1)[-1]
    return name if len(name) <= width else "…" + name[-width + 1:]


def _overlay(label: np.ndarray) -> np.ndarray:
    """H x W x 4 colours of a label map: MASK_COLOURS by class id, background transparent."""
    colours = np.asarray(MASK_COLOURS)[np.asarray(label, int) % len(MASK_COLOURS)]
    alpha = np.where(label > 0, 0.55, 0.0)[..., None]
    return np.concatenate([colours, alpha], axis=-1)


def mask_legend(examples: list[Example], labels: list[str] | None) -> list[tuple[str, tuple[float, ...]]]:
    """(class name, overlay colour) of each class but the background in the examples' predictions or
    ground truth, by id; a class without a name in `labels` is 'class <id>'."""
    shown = sorted({int(c) for e in examples for m in (e.prediction, e.target) for c in np.unique(m)} - {0})
    return [(labels[c] if labels and c < len(labels) else f"class {c}", MASK_COLOURS[c % len(MASK_COLOURS)])
            for c in shown]


def examples_figure(kind: str, examples: list[Example], labels: list[str] | None = None) -> bytes:
    """Masks: prediction (top row) and ground truth (bottom row) over each face, one colour per
    class id, background clear, and a legend of the classes shown (`labels[id]`, else 'class id').
    Landmarks: both on one face, ground truth green, prediction red."""
    rows = 2 if kind == "mask" else 1
    with rc_context(FONT):
        figure = Figure(figsize=(2.8 * len(examples), 3.0 * rows), layout="constrained")
        axes = np.asarray(figure.subplots(rows, len(examples), squeeze=False))
        for j, example in enumerate(examples):
            for i in range(rows):
                ax = axes[i, j]
                ax.imshow(example.image)
                ax.set_axis_off()
                if kind == "mask":
                    ax.imshow(_overlay(example.prediction if i == 0 else example.target), interpolation="nearest")
                    ax.set_title(f"{'prediction' if i == 0 else 'ground truth'}\n{_short(example.id)}")
                else:
                    ax.scatter(*example.target.T, s=6, c="lime", label="ground truth")
                    ax.scatter(*example.prediction.T, s=6, c="red", label="prediction")
                    ax.set_title(_short(example.id))
        if kind == "mask":
            handles = [Patch(color=colour, label=name) for name, colour in mask_legend(examples, labels)]
            if handles:
                figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 2 * len(examples)),
                              frameon=False)
        else:
            figure.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False,
                          markerscale=3)
        return _png(figure)


def slices_plot(rows: pd.DataFrame, title: str, names: dict[str, str], min_faces: int) -> bytes:
    """One metric per demographic group: grouped bars, one per backbone + protocol (shown as
    `names[backbone]`), error bars = the 95% bootstrap interval (none where there is none), groups
    of fewer than `min_faces` test faces hatched and marked in their label. rows: long-table rows
    of one task and metric whose subsets are groups (`<attribute>=<value>`), with n_test their size."""
    metric, unit = rows["metric"].iloc[0], rows["unit"].iloc[0]
    low, high = metric_range(metric, unit)
    groups = list(dict.fromkeys(rows["subset"]))
    sizes = rows.drop_duplicates("subset").set_index("subset")["n_test"].astype(int)
    series = list(rows.groupby(["backbone", "protocol"], sort=True))
    width = 0.8 / len(series)
    with rc_context(FONT):
        figure = Figure(figsize=(max(6.0, 0.9 * len(groups) + 2), 4), layout="constrained")
        axes = figure.add_subplot()
        for k, ((backbone, protocol), bars) in enumerate(series):
            bars = bars.set_index("subset").reindex(groups)
            x = np.arange(len(groups)) + (k - (len(series) - 1) / 2) * width
            below = np.nan_to_num(bars["mean"] - bars["ci_low"])
            above = np.nan_to_num(bars["ci_high"] - bars["mean"])
            small = [sizes[g] < min_faces for g in groups]
            axes.bar(x, bars["mean"], width, yerr=np.clip(np.stack([below, above]), 0, None), capsize=3,
                     label=f"{names.get(backbone, backbone)} ({protocol})", color=colormaps["tab10"].colors[k % 10])
            for xi, value, is_small in zip(x, bars["mean"], small):
                if is_small and np.isfinite(value):  # hatched over the colour: too few faces to trust
                    axes.bar(xi, value, width, fill=False, hatch="//", edgecolor="black", linewidth=0)
        labels = [f"{g}\n(n={sizes[g]}{', small' if sizes[g] < min_faces else ''})" for g in groups]
        axes.set_xticks(np.arange(len(groups)), labels, rotation=30 if len(groups) > 6 else 0, ha="center")
        bottom, top = axes.get_ylim()
        axes.set_ylim(max(bottom, low), min(top, high if np.isfinite(high) else top))
        better = "higher" if bool(rows["higher_is_better"].iloc[0]) else "lower"
        axes.set_ylabel(f"{metric} ({unit}, {better} is better)")
        axes.set_title(title)
        axes.grid(alpha=0.3, axis="y")
        axes.legend()
        return _png(figure)
