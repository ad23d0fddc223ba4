"""The protocol interface: fit on train, select on val, predict test."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel

from farl_bench.backbones import Backbone
from farl_bench.data.records import FaceRecord
from farl_bench.families import Family
from farl_bench.tasks import TaskSpec


@dataclass
class ProtocolJob:
    backbone: Backbone
    family: Family
    task: TaskSpec
    meta: dict[str, Any]
    train: list[FaceRecord]
    val: list[FaceRecord]
    test: list[FaceRecord]
    hparams: BaseModel
    seed: int
    features: Callable[[str, list[FaceRecord]], np.ndarray]  # (split name, records) -> N x D pooled


@dataclass
class ProtocolResult:
    test_predictions: np.ndarray
    selected: dict[str, Any]           # the chosen hyper-parameters
    selection_split: str               # which split chose them ("val")
    selection_scores: list[dict[str, Any]]  # every candidate with its score on the selection split


class Protocol:
    name: str
    Hparams: type[BaseModel]

    def run(self, job: ProtocolJob) -> ProtocolResult:
        raise NotImplementedError
