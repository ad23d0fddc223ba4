"""The run loop: for each cell, read data, draw the subset, run the protocol, score, record."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ValidationError

from farl_bench.backbones import Backbone, build
from farl_bench.data import DatasetSplits, FaceRecord
from farl_bench.data.splits import draw_fraction, fingerprint
from farl_bench.engine.features import extract_pooled
from farl_bench.engine.protocol import Protocol, ProtocolJob
from farl_bench.errors import UserError
from farl_bench.families import get as get_family
from farl_bench.plan import RunSpec, cell_key
from farl_bench.registry import DATASETS, PROTOCOLS
from farl_bench.results.provenance import device_name, versions
from farl_bench.results.store import append_record, recorded_keys
from farl_bench.tasks import TaskSpec, find_task_file, load_task

log = logging.getLogger(__name__)

#: Called with (description, total) to start a progress bar; returns an advance(n) callable.
ProgressFactory = Callable[[str, int], Callable[[int], None]]


@dataclass
class RunOptions:
    data_root: Path
    results: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    dataset_roots: dict[str, Path] = field(default_factory=dict)
    force: bool = False
    device: str = "cpu"
    batch_size: int = 64
    workers: int = 0


def read_dataset(spec: TaskSpec, options: RunOptions) -> tuple[DatasetSplits, Path]:
    reader_cls = DATASETS.get(spec.dataset)
    root = options.dataset_roots.get(spec.dataset, options.data_root / reader_cls.folder)
    if not root.is_dir():
        raise UserError(f"dataset {spec.dataset!r}: folder {root} does not exist. Pass --data-root DIR "
                        f"(holding {reader_cls.folder}/) or --root {spec.dataset}=DIR")
    try:
        reader = reader_cls(**spec.reader)
    except TypeError as err:
        raise UserError(f"{find_task_file(spec.name)}: key 'reader': {err}") from None
    data = reader.read(root)
    for split in ("train", "val", "test"):
        if not data.splits.get(split):
            raise UserError(f"dataset {spec.dataset!r} at {root}: the {split} split is empty")
    return data, root


def protocol_hparams(protocol: Protocol, spec: TaskSpec) -> BaseModel:
    try:
        return protocol.Hparams.model_validate(spec.protocol_hparams(protocol.name))
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(["protocols", protocol.name, *map(str, first["loc"])])
        raise UserError(f"{find_task_file(spec.name)}: key {key!r}: {first['msg']}") from None


class FeatureMemo:
    """Pooled features per split, computed once per backbone and task; subsets are row lookups."""

    def __init__(self, backbone: Backbone, data: DatasetSplits, spec: TaskSpec, options: RunOptions,
                 progress: ProgressFactory):
        self.backbone, self.data, self.spec, self.options, self.progress = backbone, data, spec, options, progress
        self._full: dict[str, tuple[np.ndarray, dict[str, int]]] = {}

    def __call__(self, split: str, records: list[FaceRecord]) -> np.ndarray:
        if split not in self._full:
            full = self.data.split(split)
            advance = self.progress(f"features {self.spec.name}/{split}", len(full))
            feats = extract_pooled(self.backbone, full, self.spec.crop.kind, self.options.batch_size,
                                   self.options.workers, self.options.device, advance)
            self._full[split] = (feats, {r.id: i for i, r in enumerate(full)})
        feats, row = self._full[split]
        return feats[[row[r.id] for r in records]]


def run_cells(cells: list[RunSpec], options: RunOptions, progress: ProgressFactory) -> list[dict[str, Any]]:
    """Run every cell not yet recorded (all with options.force); return the new records."""
    specs = {name: load_task(name, options.overrides) for name in dict.fromkeys(c.task for c in cells)}
    done = set() if options.force else recorded_keys(options.results)
    datasets: dict[str, tuple[DatasetSplits, Path]] = {}
    new: list[dict[str, Any]] = []
    for (backbone_spec, task), group in _group(cells).items():
        spec = specs[task]
        backbone = build(backbone_spec, spec.input_size)
        memo: FeatureMemo | None = None
        for cell in group:
            protocol: Protocol = PROTOCOLS.get(cell.protocol)()
            hparams = protocol_hparams(protocol, spec)
            key = cell_key(cell, backbone.fingerprint, spec.version, hparams.model_dump())
            if key in done:
                log.info("skip %s %s %s f=%g seed=%d: already in %s (use --force to re-run)",
                         cell.backbone, cell.task, cell.protocol, cell.fraction, cell.seed, options.results)
                continue
            if spec.dataset not in datasets:
                datasets[spec.dataset] = read_dataset(spec, options)
            data, root = datasets[spec.dataset]
            memo = memo or FeatureMemo(backbone, data, spec, options, progress)
            record = _run_cell(cell, key, backbone, spec, protocol, hparams, data, root, memo, options)
            append_record(options.results, record)
            done.add(key)
            new.append(record)
    return new


def _group(cells: list[RunSpec]) -> dict[tuple[str, str], list[RunSpec]]:
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for cell in cells:
        groups.setdefault((cell.backbone, cell.task), []).append(cell)
    return groups


def _run_cell(cell: RunSpec, key: str, backbone: Backbone, spec: TaskSpec, protocol: Protocol,
              hparams: BaseModel, data: DatasetSplits, root: Path, memo: FeatureMemo,
              options: RunOptions) -> dict[str, Any]:
    start = time.perf_counter()
    family = get_family(spec.family)
    train = draw_fraction(data.split("train"), cell.fraction, cell.seed)
    test = data.split("test")
    job = ProtocolJob(backbone, family, spec, data.meta, train, data.split("val"), test, hparams, cell.seed, memo)
    result = protocol.run(job)
    targets = family.targets(test, data.meta)
    subsets = data.test_subsets()
    metrics = {name: {m: asdict(v) for m, v in family.score(result.test_predictions[idx], targets[idx],
                                                             data.meta).items()}
               for name, idx in subsets.items()}
    return {
        "key": key, "backbone": cell.backbone, "backbone_fingerprint": backbone.fingerprint,
        "backbone_params": backbone.num_params, "task": spec.name, "task_version": spec.version,
        "family": spec.family, "dataset": spec.dataset, "data_root": str(root), "protocol": cell.protocol,
        "fraction": cell.fraction, "seed": cell.seed, "hparam_grid": hparams.model_dump(),
        "hparams": result.selected, "selection_split": result.selection_split,
        "selection_scores": result.selection_scores, "metrics": metrics, "headline_metrics": spec.metrics,
        "n_train": len(train), "n_val": len(job.val), "n_test": len(test),
        "subset_sizes": {name: len(idx) for name, idx in subsets.items()},
        "split_fingerprint": fingerprint(train), "settings": spec.model_dump(mode="json"),
        "preprocess": asdict(backbone.preprocess), "precision": "fp32", "device": options.device,
        "device_name": device_name(options.device), "versions": versions(),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
