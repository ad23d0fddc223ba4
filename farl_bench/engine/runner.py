"""The run loop: for each cell, read data, draw the subset, run the protocol, score, record."""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import BaseModel, ValidationError

from farl_bench.backbones import Backbone, build
from farl_bench.data import DatasetSplits, FaceRecord
from farl_bench.data.images import load_rgb
from farl_bench.data.samples import FaceSamples
from farl_bench.data.splits import fingerprint
from farl_bench.data.verify import decode_error
from farl_bench.engine import distributed
from farl_bench.engine.draws import draw_train, manifest_path, write_manifest
from farl_bench.engine.evaluate import fill_scorers
from farl_bench.engine.cache import DEFAULT_MAX_GB, FeatureStore
from farl_bench.engine.features import FeatureCache, default_workers
from farl_bench.engine.precision import FrozenForward, resolve_precision
from farl_bench.engine.protocol import Predictor, Protocol, ProtocolJob
from farl_bench.errors import UserError
from farl_bench.families import Family, Metric
from farl_bench.families import get as get_family
from farl_bench.plan import RunSpec, budget_of, cell_key
from farl_bench.registry import DATASETS, PROTOCOLS
from farl_bench.results.examples import Example, example_rows, save_examples
from farl_bench.results.provenance import determinism, device_name, set_deterministic, versions
from farl_bench.results.stats import BOOTSTRAP_SEED, bootstrap, save_replicates
from farl_bench.results.store import append_record, check_writable, recorded_keys
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
    workers: int | None = None  # data-loading processes; None: features.default_workers(device)
    select_on: str = "val"
    skip_bad: bool = False
    bootstrap: int = 1000  # resamples of each test subset for the 95% intervals; 0: none
    deterministic: bool = False  # torch.use_deterministic_algorithms (and cuDNN autotuning off)
    precision: str = "auto"  # of backbone forwards: fp32, bf16, fp16, or auto (the device's default)
    compile: bool = False  # torch.compile the frozen forward
    cache_dir: Path | None = None  # the feature cache (None: engine.cache.default_root())
    cache_size_gb: float = DEFAULT_MAX_GB


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
    if options.skip_bad:
        drop_unreadable(data)
    for split in ("train", "val", "test"):
        if not data.splits.get(split):
            raise UserError(f"dataset {spec.dataset!r} at {root}: the {split} split is empty; check the "
                            f"tree and its split lists (farl-bench datasets verify {spec.dataset})")
    return data, root


def drop_unreadable(data: DatasetSplits) -> None:
    """Decode every image and mask; drop records with a missing or broken file, counting them in
    meta["skipped"]["unreadable file"] (with a warning naming the first few)."""
    bad: list[str] = []
    for split, records in data.splits.items():
        kept = [r for r in records if not any(p is not None and (not p.exists() or decode_error(p))
                                               for p in (r.image, r.mask))]
        bad += [r.id for r in records if r not in kept]
        data.splits[split] = kept
    if bad:
        log.warning("--skip-bad: %d face(s) with a missing or unreadable file skipped (first: %s)",
                    len(bad), ", ".join(bad[:5]))
        data.meta.setdefault("skipped", {})["unreadable file"] = len(bad)


def make_family(spec: TaskSpec) -> Family:
    try:
        return get_family(spec.family, **spec.family_options)
    except TypeError as err:
        raise UserError(f"{find_task_file(spec.name)}: key 'family_options': {err}") from None


def protocol_hparams(protocol: Protocol, spec: TaskSpec) -> BaseModel:
    try:
        return protocol.Hparams.model_validate(spec.protocol_hparams(protocol.name))
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(["protocols", protocol.name, *map(str, first["loc"])])
        raise UserError(f"{find_task_file(spec.name)} (with --set overrides): key {key!r}: {first['msg']} "
                        f"(got {first.get('input')!r})") from None


@dataclass
class TaskContext:
    """What every cell of one (backbone, task) pair shares: data, family, feature cache."""

    spec: TaskSpec
    family: Family
    data: DatasetSplits
    root: Path
    features: FeatureCache
    data_fingerprint: str  # sha256 over the ids of train, val and test: which copy of the data this is


def run_cells(cells: list[RunSpec], options: RunOptions, progress: ProgressFactory) -> list[dict[str, Any]]:
    """Run every cell not yet recorded (all with options.force); return the new records.

    Under torchrun every process runs every cell together (see engine.distributed); only the
    main process writes, and only it returns records.
    """
    if options.select_on not in ("val", "test"):
        raise UserError(f"--select-on {options.select_on!r}: choose val (default) or test (FaRL's way, marked)")
    specs = {name: load_task(name, options.overrides) for name in dict.fromkeys(c.task for c in cells)}
    if options.deterministic:
        set_deterministic()
    with distributed.session(options.device) as device:
        workers = default_workers(device) if options.workers is None else options.workers
        return _run_all(cells, specs, replace(options, device=device, workers=workers,
                                              precision=resolve_precision(options.precision, device)),
                        progress if distributed.is_main() else lambda d, n: (lambda k: None))


def _run_all(cells: list[RunSpec], specs: dict[str, TaskSpec], options: RunOptions,
             progress: ProgressFactory) -> list[dict[str, Any]]:
    # Read by the main process only: the others must skip exactly the cells it skips.
    done = distributed.broadcast(_recorded(options) if distributed.is_main() else None)
    datasets: dict[str, tuple[DatasetSplits, Path]] = {}
    new: list[dict[str, Any]] = []
    for (backbone_spec, task), group in _group(cells).items():
        spec = specs[task]
        backbone = build(backbone_spec, spec.input_size)
        context: TaskContext | None = None
        for cell in group:
            protocol: Protocol = PROTOCOLS.get(cell.protocol)()
            hparams = protocol_hparams(protocol, spec)
            # fp32 cells keep the keys they had before precision was a choice
            precision = {} if options.precision == "fp32" else {"precision": options.precision}
            revision = {} if protocol.revision == 1 else {"protocol_revision": protocol.revision}
            key = cell_key(cell, backbone.fingerprint, spec.version, {
                **hparams.model_dump(), "select_on": options.select_on, **precision, **revision})
            if key in done:
                log.info("skip %s %s %s budget=%s seed=%d: already in %s (use --force to re-run)",
                         cell.backbone, cell.task, cell.protocol, budget_of(cell), cell.seed, options.results)
                continue
            if spec.dataset not in datasets:
                datasets[spec.dataset] = read_dataset(spec, options)
            if context is None:
                context = _context(spec, backbone, *datasets[spec.dataset], options, progress)
            record = _run_cell(cell, key, backbone, protocol, hparams, context, options, progress)
            done.add(key)
            if record is not None:
                append_record(options.results, record)
                new.append(record)
    return new


def _recorded(options: RunOptions) -> set[str]:
    check_writable(options.results)  # a read-only folder fails now, not after the first cell's work
    return set() if options.force else recorded_keys(options.results)


def _context(spec: TaskSpec, backbone: Backbone, data: DatasetSplits, root: Path, options: RunOptions,
             progress: ProgressFactory) -> TaskContext:
    family = make_family(spec)
    store = FeatureStore(options.cache_dir, int(options.cache_size_gb * 2**30))
    forward = FrozenForward(backbone, options.device, options.precision, options.compile)
    cache = FeatureCache(store, forward, data, spec.crop, family,
                         {"family": spec.family, "options": spec.family_options}, options.batch_size,
                         options.workers, progress, spec.name)
    splits = "".join(f"{name}:{fingerprint(data.split(name))}\n" for name in ("train", "val", "test"))
    return TaskContext(spec, family, data, root, cache, hashlib.sha256(splits.encode()).hexdigest())


def _group(cells: list[RunSpec]) -> dict[tuple[str, str], list[RunSpec]]:
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for cell in cells:
        groups.setdefault((cell.backbone, cell.task), []).append(cell)
    return groups


def _run_cell(cell: RunSpec, key: str, backbone: Backbone, protocol: Protocol, hparams: BaseModel,
              ctx: TaskContext, options: RunOptions, progress: ProgressFactory) -> dict[str, Any] | None:
    """The cell's record (None in a process other than the main one)."""
    start = time.perf_counter()
    spec, data = ctx.spec, ctx.data
    draw = draw_train(data.split("train"), cell.seed, cell.fraction, cell.shots, cell.manifest)
    manifest = manifest_path(options.results, spec.name, draw.budget, cell.seed)
    if distributed.is_main():
        write_manifest(options.results, spec.name, cell.seed, draw)
    train = draw.records
    test = data.split("test")
    job = ProtocolJob(backbone, ctx.family, spec, data, train, data.split(options.select_on), options.select_on,
                      hparams, cell.seed, options.device, options.batch_size, options.workers, ctx.features,
                      progress, options.precision)
    result = protocol.run(job)
    subsets = data.test_subsets()
    scored = _score_test(ctx, result.predict, job.samples(test), subsets, key, options)
    if scored is None:
        return None
    metrics, bootstrap_file, examples = scored
    return {
        "key": key, "backbone": cell.backbone, "backbone_fingerprint": backbone.fingerprint,
        "backbone_params": backbone.num_params, "task": spec.name, "task_version": spec.version,
        "family": spec.family, "dataset": spec.dataset, "data_root": str(ctx.root), "protocol": cell.protocol,
        "protocol_revision": protocol.revision, "fraction": cell.fraction, "shots": cell.shots,
        "budget": draw.budget, "seed": cell.seed,
        "hparam_grid": hparams.model_dump(),
        "hparams": result.selected, "selection_split": result.selection_split,
        "selection_scores": result.selection_scores,
        "metrics": {name: {m: asdict(v) for m, v in ms.items()} for name, ms in metrics.items()},
        "headline_metrics": spec.metrics, "n_train": len(train), "n_val": len(data.split("val")),
        "n_test": len(test), "subset_sizes": {name: len(idx) for name, idx in subsets.items()},
        "subset_rules": data.meta.get("subset_rules", {}), "skipped_samples": data.meta.get("skipped", {}),
        "n_train_pool": len(data.split("train")), "split_fingerprint": draw.fingerprint, "split_rule": draw.rule,
        "split_manifest": manifest.relative_to(options.results).as_posix(), "data_fingerprint": ctx.data_fingerprint,
        "bootstrap": {"file": bootstrap_file, "replicates": options.bootstrap, "seed": BOOTSTRAP_SEED}
        if bootstrap_file else None, "examples": examples, "settings": spec.model_dump(mode="json"),
        "preprocess": asdict(backbone.preprocess), "precision": options.precision, "device": options.device,
        "processes": distributed.world_size(), "determinism": determinism(cell.seed),
        "device_name": device_name(options.device), "versions": versions(),
        "wall_time_s": round(time.perf_counter() - start, 3),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _score_test(ctx: TaskContext, predict: Predictor, samples: FaceSamples, subsets: dict[str, list[int]], key: str,
                options: RunOptions) -> tuple[dict[str, dict[str, Metric]], str | None, str | None] | None:
    """Metrics per test subset; the bootstrap replicates and (dense families) a few example
    predictions written beside the records: (metrics, replicates file, examples file).
    None in a process other than the main one (which only helps predict)."""
    test = samples.records
    shown = example_rows(test) if ctx.family.dense else []
    scorers, predictions = fill_scorers(ctx.family, predict(samples, "test"), samples, ctx.data, subsets, shown)
    if not distributed.is_main():
        return None
    metrics = {name: scorer.compute() for name, scorer in scorers.items()}
    replicates = {name: bootstrap(scorer, len(subsets[name]), options.bootstrap) for name, scorer in scorers.items()}
    examples = None
    if shown:
        kind = ctx.family.prediction_field
        examples = save_examples(options.results, key, kind, [
            Example(test[i].id, np.asarray(load_rgb(test[i].image)), predictions[i], _truth(ctx, test[i], kind))
            for i in shown])
    return metrics, save_replicates(options.results, key, replicates), examples


def _truth(ctx: TaskContext, record: FaceRecord, kind: str) -> np.ndarray:
    """The ground truth drawn beside an example prediction (a landmark target also holds the box)."""
    target = ctx.family.target(record, ctx.data)
    return np.asarray(target[kind] if isinstance(target, dict) else target)
