"""The protocol interface: fit on train, select on the selection split, predict any split."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, TypeVar

import torch
from pydantic import BaseModel, ConfigDict

from farl_bench.backbones import Backbone
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.samples import FaceSamples
from farl_bench.errors import UserError
from farl_bench.families import Family
from farl_bench.tasks import TaskSpec

#: Yields (indices into the samples, outputs for those samples) batch by batch, for the rows of
#: `distributed.shard_rows(len(samples))` only (all rows in one process; evaluation gathers).
Predictor = Callable[[FaceSamples, str], Iterator[tuple[list[int], torch.Tensor]]]


class Hparams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class ProtocolJob:
    backbone: Backbone
    family: Family
    task: TaskSpec
    data: DatasetSplits
    train: list[FaceRecord]
    select: list[FaceRecord]       # the split that chooses hyper-parameters and epochs
    selection_split: str           # its name: "val" (default) or "test" (FaRL's way, marked in records)
    hparams: Any
    seed: int
    device: str = "cpu"
    batch_size: int = 64
    workers: int = 0
    features: Any = None           # engine.features.FeatureCache for protocols that cache
    progress: Callable[[str, int], Callable[[int], None]] = field(default=lambda d, n: (lambda k: None))
    precision: str = "fp32"        # of backbone forwards and autocast in training (engine.precision)

    def samples(self, records: list[FaceRecord], train: bool = False) -> FaceSamples:
        """Crops of `records` with the family's targets; augmented when `train` and the family augments."""
        augment = self.family.augmentation(self.data.meta, self.seed) if train else None
        return FaceSamples(records, self.data, self.task.crop, self.backbone.preprocess, self.family, augment)


@dataclass
class ProtocolResult:
    predict: Predictor                     # outputs for any split's samples
    selected: dict[str, Any]               # the chosen hyper-parameters (and epoch)
    selection_split: str
    selection_scores: list[dict[str, Any]]  # every candidate with its score on the selection split
    trainable_params: int | None = None    # of the model the protocol trained (None: not counted)
    adapter: dict[str, Any] | None = None  # the adapters' settings, where the protocol adds adapters


class Protocol:
    name: str
    Hparams: type[BaseModel]
    #: Part of every cell key past 1: bump it when a change moves the protocol's numbers, so results
    #: recorded by the older code are re-run, never mixed with new ones under one key.
    revision: int = 1

    def run(self, job: ProtocolJob) -> ProtocolResult:
        raise NotImplementedError


Rule = TypeVar("Rule")


def pooled_rule(job: ProtocolJob, rules: dict[str, Rule], protocol: str, lacking: str) -> Rule:
    """A pooled-only protocol's rule for the job's family (knn's votes, zeroshot's prompts); one clear
    line naming the protocols that do apply where the family is dense or has no rule."""
    from farl_bench.registry import PROTOCOLS

    family = job.family
    if family.name in rules and not family.dense:
        return rules[family.name]
    others = [name for name in PROTOCOLS.names() if not getattr(PROTOCOLS.get(name), "pooled_only", False)]
    kind = "a dense family (a label per pixel or point)" if family.dense else lacking
    raise UserError(f"protocol {protocol} cannot run task {job.task.name!r}: its family {family.name!r} is {kind}, "
                    f"and {protocol} handles {', '.join(sorted(rules))} only; use protocol {', '.join(others)}")
