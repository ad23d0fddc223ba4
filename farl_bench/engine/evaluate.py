"""Scoring a predictor on a split: decode each face back to its original image, score per subset."""
from __future__ import annotations

from typing import Any, Callable, Collection, Iterable

import torch

from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.samples import FaceSamples
from farl_bench.engine import distributed
from farl_bench.errors import UserError
from farl_bench.families import Family, Metric
from farl_bench.families.base import Scorer


def evaluate(family: Family, batches: Iterable[tuple[list[int], torch.Tensor]], samples: FaceSamples,
             data: DatasetSplits, subsets: dict[str, list[int]]) -> dict[str, dict[str, Metric]]:
    """Metrics per subset; `subsets` maps a name to row indices of `samples.records`."""
    scorers, _ = fill_scorers(family, batches, samples, data, subsets)
    return {name: scorer.compute() for name, scorer in scorers.items()}


def fill_scorers(family: Family, batches: Iterable[tuple[list[int], torch.Tensor]], samples: FaceSamples,
                 data: DatasetSplits, subsets: dict[str, list[int]],
                 keep: Collection[int] = (), each: Callable[[int, Any, Any], None] | None = None,
                 ) -> tuple[dict[str, Scorer], dict[int, Any]]:
    """A scorer per subset, fed every prediction in the order the batches come (row order: the
    order a bootstrap's resample rows index), and the decoded predictions of the rows in `keep`.
    `each(row, prediction, target)` sees every face this process decodes (saving predictions).

    Under torchrun the batches hold this process's rows only (`distributed.shard_rows`); the
    scorers' per-sample states and the kept predictions are then gathered from every process.
    """
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
            if each is not None:
                each(i, pred, target)
    return _gathered(scorers, kept)


def _gathered(scorers: dict[str, Scorer], kept: dict[int, Any]) -> tuple[dict[str, Scorer], dict[int, Any]]:
    """Every process's scorer states concatenated in rank order, and all kept predictions."""
    if distributed.world_size() == 1:
        return scorers, kept
    for scorer in scorers.values():
        if not scorer.state:  # a plug-in family's scorer: merging nothing would score one shard only
            raise UserError(f"{type(scorer).__name__} names no per-sample state (Scorer.state), so its scores "
                            "cannot be gathered across processes: run this task without torchrun")
    parts = distributed.gather(({name: s.state_dict() for name, s in scorers.items()}, kept))
    for name, scorer in scorers.items():
        scorer.merge([states[name] for states, _ in parts])
    return scorers, {i: pred for _, part in parts for i, pred in part.items()}


def score_split(family: Family, batches: Iterable[tuple[list[int], torch.Tensor]], samples: FaceSamples,
                data: DatasetSplits) -> dict[str, Metric]:
    """Metrics over a whole split (selection)."""
    return evaluate(family, batches, samples, data, {"all": list(range(len(samples)))})["all"]
