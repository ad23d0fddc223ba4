"""Scoring a predictor on a split: decode each face back to its original image, score per subset."""
from __future__ import annotations

from typing import Any, Collection, Iterable

import torch

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.samples import FaceSamples
from farl_bench.families import Family, Metric
from farl_bench.families.base import Scorer


def evaluate(family: Family, batches: Iterable[tuple[list[int], torch.Tensor]], samples: FaceSamples,
             data: DatasetSplits, subsets: dict[str, list[int]]) -> dict[str, dict[str, Metric]]:
    """Metrics per subset; `subsets` maps a name to row indices of `samples.records`."""
    scorers, _ = fill_scorers(family, batches, samples, data, subsets)
    return {name: scorer.compute() for name, scorer in scorers.items()}


def fill_scorers(family: Family, batches: Iterable[tuple[list[int], torch.Tensor]], samples: FaceSamples,
                 data: DatasetSplits, subsets: dict[str, list[int]],
                 keep: Collection[int] = ()) -> tuple[dict[str, Scorer], dict[int, Any]]:
    """A scorer per subset, fed every prediction in the order the batches come (row order: the
    order a bootstrap's resample rows index), and the decoded predictions of the rows in `keep`."""
    records: list[FaceRecord] = samples.records
    member: dict[int, list[str]] = {}
    for name, rows in subsets.items():
        for i in rows:
            member.setdefault(i, []).append(name)
    scorers = {name: family.scorer(data.meta) for name in subsets}
    kept: dict[int, Any] = {}
    for indices, outputs in batches:
        if family.dense:
            crops, shapes = zip(*(samples.crop_of(i) for i in indices))
        else:
            crops, shapes = [None] * len(indices), [None] * len(indices)
        predictions = family.decode(outputs, list(crops), list(shapes))
        for i, pred in zip(indices, predictions):
            target = family.target(records[i], data)
            for name in member.get(i, []):
                scorers[name].update([pred], [target])
            if i in keep:
                kept[i] = pred
    return scorers, kept


def score_split(family: Family, batches: Iterable[tuple[list[int], torch.Tensor]], samples: FaceSamples,
                data: DatasetSplits) -> dict[str, Metric]:
    """Metrics over a whole split (selection)."""
    return evaluate(family, batches, samples, data, {"all": list(range(len(samples)))})["all"]
