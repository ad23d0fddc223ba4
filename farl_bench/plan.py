"""The grid of cells (backbone x task x protocol x fraction x seed) and the key that names a cell."""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from typing import Any

from farl_bench.backbones import parse_spec
from farl_bench.errors import UserError
from farl_bench.registry import PROTOCOLS


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid."""

    backbone: str  # canonical spec string
    task: str
    protocol: str
    fraction: float
    seed: int


def expand(backbones: list[str], tasks: list[str], protocols: list[str], fractions: list[float],
           seeds: list[int]) -> list[RunSpec]:
    """All cells, backbone-major (so each backbone is built once), in a stable order."""
    for name, values in (("--backbone", backbones), ("--tasks", tasks), ("--protocol", protocols),
                         ("--fractions", fractions), ("--seeds", seeds)):
        if not values:
            raise UserError(f"{name} is empty: give at least one value")
    for protocol in protocols:
        PROTOCOLS.get(protocol)  # unknown names fail before any work
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise UserError(f"--fractions: {fraction} is outside (0, 1]")
    canonical = [str(parse_spec(b)) for b in backbones]
    return [RunSpec(*cell) for cell in itertools.product(canonical, tasks, protocols, fractions, seeds)]


def cell_key(cell: RunSpec, backbone_fingerprint: str, task_version: str, hparams: dict[str, Any]) -> str:
    """sha256 over everything that decides a cell's numbers; equal keys mean an equal experiment."""
    blob = json.dumps({**asdict(cell), "backbone_fingerprint": backbone_fingerprint,
                       "task_version": task_version, "hparams": hparams}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
