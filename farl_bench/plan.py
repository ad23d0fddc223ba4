"""The grid of cells (backbone x task x protocol x training budget x seed) and the key that names a cell.

A training budget is a fraction of the train split, k shots per stratum, or a given list of ids
(a split manifest). Seeds default to three draws where the budget draws a subset, one otherwise.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from farl_bench.backbones import parse_spec
from farl_bench.data.splits import manifest_text, read_manifest
from farl_bench.errors import UserError
from farl_bench.registry import PROTOCOLS

#: Seeds when --seeds is not given: three draws of a subset, one run of the full split or a manifest.
SUBSET_SEEDS = [0, 1, 2]
FULL_SEEDS = [0]
#: The one cell of a protocol that trains on nothing (zeroshot), whatever budgets and seeds are asked.
UNTRAINED = {"fraction": 1.0, "shots": None, "manifest": None, "seed": 0}


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid. Exactly one of fraction, shots and manifest says how much data trains."""

    backbone: str  # canonical spec string
    task: str
    protocol: str
    fraction: float | None
    seed: int
    shots: int | None = None
    manifest: str | None = None  # path of a list of training ids (--split-manifest)
    label: str | None = None  # display name given as LABEL=SPEC; not part of the cell key

    @property
    def backbone_name(self) -> str:
        """What tables, plots and the report call the backbone: its label, else its spec."""
        return self.label or self.backbone


#: `LABEL=SPEC`: a label is these characters up to an `=` that comes before any `:` or `?`.
LABELLED = re.compile(r"([A-Za-z0-9_.+-]+)=(.*)", re.DOTALL)


@lru_cache(maxsize=None)
def manifest_digest(path: str) -> str:
    """sha256 of a manifest's ids in published form: the split fingerprint of runs on it."""
    return hashlib.sha256(manifest_text(read_manifest(Path(path))).encode()).hexdigest()


def budget_label(fraction: float | None, shots: int | None, manifest_fingerprint: str | None = None) -> str:
    """'0.1', '1', '5shot' or 'manifest-<12 hex>': the budget's name in tables and manifest files."""
    if manifest_fingerprint is not None:
        return f"manifest-{manifest_fingerprint[:12]}"
    if shots is not None:
        return f"{shots}shot"
    return f"{fraction:g}"


def budget_of(cell: RunSpec) -> str:
    return budget_label(cell.fraction, cell.shots, manifest_digest(cell.manifest) if cell.manifest else None)


def draws(fractions: list[float], seeds: list[int] | None = None, shots: list[int] | None = None,
          manifest: Path | None = None) -> list[dict[str, Any]]:
    """The (budget, seed) pairs of a grid, as RunSpec fields: fraction, shots, manifest, seed.

    No fractions, shots or manifest means the full split (fraction 1). `seeds` None means
    SUBSET_SEEDS for fractions below 1 and shots, FULL_SEEDS for fraction 1 and a manifest.
    """
    shots = shots or []
    if seeds is not None and not seeds:
        raise UserError("--seeds is empty: give at least one value, or leave it out for the defaults")
    if seeds is not None and any(seed < 0 for seed in seeds):
        raise UserError(f"--seeds {','.join(map(str, seeds))!r}: seeds are integers >= 0, e.g. --seeds 0,1,2")
    for fraction in fractions:
        if not 0 < fraction <= 1:
            raise UserError(f"--fractions: {fraction} is outside (0, 1]")
    for k in shots:
        if k < 1:
            raise UserError(f"--shots: {k} is not a positive number of faces per class")
    if manifest is not None and (fractions or shots):
        raise UserError("--split-manifest fixes the training set: leave out --fractions and --shots")
    if manifest is not None:
        manifest_digest(str(manifest))  # a bad file fails before any work
        budgets = [{"fraction": None, "shots": None, "manifest": str(manifest)}]
    else:
        budgets = ([{"fraction": f, "shots": None, "manifest": None} for f in fractions or ([] if shots else [1.0])]
                   + [{"fraction": None, "shots": k, "manifest": None} for k in shots])
    out = []
    for budget in budgets:
        subset = budget["shots"] is not None or (budget["fraction"] is not None and budget["fraction"] < 1)
        out += [{**budget, "seed": seed} for seed in (seeds if seeds is not None else
                                                       SUBSET_SEEDS if subset else FULL_SEEDS)]
    return out


def parse_backbone(text: str) -> tuple[str | None, str]:
    """`r50=timm:resnet50` -> ('r50', 'timm:resnet50'); a spec without a label -> (None, canonical spec).
    `hog?cell=8` and `timm:x?pretrained=1` have no label: their `=` comes after `?` or `:`."""
    match = LABELLED.fullmatch(text.strip())
    label, spec = (match[1], match[2]) if match else (None, text)
    if not spec.strip():
        raise UserError(f"--backbone {text!r}: the label {label!r} names no spec; write LABEL=SPEC, "
                        "e.g. r50=timm:resnet50")
    return label, str(parse_spec(spec))


def backbone_labels(backbones: list[str]) -> dict[str, str | None]:
    """Canonical spec -> label (None: shown by its spec), in the order given; a spec given twice
    counts once. Two labels for one spec, or one display name for two specs, is refused."""
    labels: dict[str, str | None] = {}
    for text in backbones:
        label, spec = parse_backbone(text)
        if labels.get(spec) and label and labels[spec] != label:
            raise UserError(f"--backbone: {spec} is labelled both {labels[spec]!r} and {label!r}; give it one label")
        labels[spec] = labels.get(spec) or label
    shown: dict[str, str] = {}
    for spec, label in labels.items():
        name = label or spec
        if name in shown:
            raise UserError(f"--backbone: {name!r} would name both {shown[name]} and {spec} in the tables; "
                            "give them different labels")
        shown[name] = spec
    return labels


def expand(backbones: list[str], tasks: list[str], protocols: list[str], fractions: list[float],
           seeds: list[int] | None = None, shots: list[int] | None = None,
           manifest: Path | None = None) -> list[RunSpec]:
    """All cells, backbone-major (so each backbone is built once), in a stable order; see `draws`.
    A protocol whose class says `trains = False` gets one cell per backbone x task (UNTRAINED)."""
    for name, values in (("--backbone", backbones), ("--tasks", tasks), ("--protocol", protocols)):
        if not values:
            raise UserError(f"{name} is empty: give at least one value")
    for protocol in protocols:
        PROTOCOLS.get(protocol)  # unknown names fail before any work
    grid = draws(fractions, seeds, shots, manifest)
    labels = backbone_labels(backbones)
    return [RunSpec(backbone, task, protocol, **draw, label=labels[backbone])
            for backbone, task, protocol in itertools.product(labels, tasks, protocols)
            for draw in (grid if getattr(PROTOCOLS.get(protocol), "trains", True) else [UNTRAINED])]


def cell_key(cell: RunSpec, backbone_fingerprint: str, task_version: str, hparams: dict[str, Any]) -> str:
    """sha256 over everything that decides a cell's numbers; equal keys mean an equal experiment.

    Unset budget fields are left out (so fraction cells keep the keys they had before shots
    existed), a manifest counts by its ids, not by its path, and a display label does not count.
    """
    fields = {k: v for k, v in asdict(cell).items() if v is not None and k != "label"}
    if cell.manifest:
        fields["manifest"] = manifest_digest(cell.manifest)
    blob = json.dumps({**fields, "backbone_fingerprint": backbone_fingerprint,
                       "task_version": task_version, "hparams": hparams}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def parse_shard(text: str) -> tuple[int, int]:
    """`I/N` (0-based I, as array-job indices come) -> (I, N)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise UserError(f"--shard {text!r}: write I/N with 0 <= I < N, e.g. --shard 0/4 ... --shard 3/4")
    return i, n


def shard(cells: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """The index-th of `count` disjoint parts of the grid, which together hold every cell once.

    Contiguous blocks of the grid order (backbone-major), so a shard builds few backbones and
    extracts few feature sets; the same command line gives every shard the same partition.
    """
    return cells[index * len(cells) // count:(index + 1) * len(cells) // count]
