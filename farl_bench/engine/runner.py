"""The run loop: for each cell, read data, draw the subset, run the protocol, score, record."""
from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from farl_bench.backbones import Backbone, build
from farl_bench.data import DatasetSplits, FaceRecord
from farl_bench.data.dataset import read_dataset
from farl_bench.data.images import load_rgb
from farl_bench.data.samples import FaceSamples
from farl_bench.data.splits import fingerprint
from farl_bench.engine import distributed
from farl_bench.engine.draws import draw_train
from farl_bench.engine.evaluate import fill_scorers
from farl_bench.engine.cache import DEFAULT_MAX_GB, FeatureStore
from farl_bench.engine.features import FeatureCache, default_workers
from farl_bench.engine.precision import FrozenForward, resolve_precision
from farl_bench.engine.protocol import Predictor, Protocol, ProtocolJob
from farl_bench.errors import UserError
from farl_bench.families import Family, Metric
from farl_bench.plan import RunSpec, budget_of, cell_key
from farl_bench.progress import GridLog, ProgressFactory, no_bars
from farl_bench.registry import PROTOCOLS
from farl_bench.results.examples import Example, encode_examples, example_rows
from farl_bench.results.provenance import determinism, device_name, set_deterministic, versions
from farl_bench.results.record import BootstrapRef, RunRecord
from farl_bench.results.slices import group_rows, group_subsets, slice_scores
from farl_bench.results.stats import BOOTSTRAP_SEED, bootstrap, encode_replicates
from farl_bench.results.store import (SideFiles, append_record, bootstrap_file, check_writable, examples_file,
                                      manifest_file, predictions_file, recorded_keys)
from farl_bench.tasks import TaskSpec, find_task_file, load_task, make_family

log = logging.getLogger(__name__)


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
    save_predictions: bool = False  # each cell's test predictions in `score`'s format, beside its record


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


def run_cells(cells: list[RunSpec], options: RunOptions, progress: ProgressFactory) -> list[RunRecord]:
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
                        progress if distributed.is_main() else no_bars)


def _run_all(cells: list[RunSpec], specs: dict[str, TaskSpec], options: RunOptions,
             progress: ProgressFactory) -> list[RunRecord]:
    # Read by the main process only: the others must skip exactly the cells it skips.
    done = distributed.broadcast(_recorded(options) if distributed.is_main() else None)
    datasets: dict[str, tuple[DatasetSplits, Path]] = {}
    new: list[RunRecord] = []
    grid = GridLog(len(cells), options.results, progress("cells", len(cells)))
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
            key = cell_key(cell, backbone.fingerprint, spec.version_for(cell.protocol), {
                **hparams.model_dump(), "select_on": options.select_on, **precision, **revision})
            label = f"{cell.backbone} {cell.task} {cell.protocol} {budget_of(cell)} seed {cell.seed}"
            if key in done:
                grid.skipped(label)
                continue
            grid.start(label)
            if spec.dataset not in datasets:
                datasets[spec.dataset] = read_dataset(spec, options.data_root, options.dataset_roots,
                                                       options.skip_bad)
            if context is None:
                context = _context(spec, backbone, *datasets[spec.dataset], options, progress)
            record = _run_cell(cell, key, backbone, protocol, hparams, context, options, progress)
            done.add(key)
            if record is not None:
                new.append(record)
            grid.finish(label, record)
    return new


def _recorded(options: RunOptions) -> set[str]:
    check_writable(options.results)  # a read-only folder fails now, not after the first cell's work
    return set() if options.force else recorded_keys(options.results)


def _context(spec: TaskSpec, backbone: Backbone, data: DatasetSplits, root: Path, options: RunOptions,
             progress: ProgressFactory) -> TaskContext:
    family = make_family(spec, data.meta)
    store = FeatureStore(options.cache_dir, int(options.cache_size_gb * 2**30))
    forward = FrozenForward(backbone, options.device, options.precision, options.compile)
    cache = FeatureCache(store, forward, data, spec.crop, family,
                         {"family": spec.family, "options": spec.family_options}, options.batch_size,
                         options.workers, progress, spec.name, refresh=options.force)
    splits = "".join(f"{name}:{fingerprint(data.split(name))}\n" for name in ("train", "val", "test"))
    return TaskContext(spec, family, data, root, cache, hashlib.sha256(splits.encode()).hexdigest())


def _group(cells: list[RunSpec]) -> dict[tuple[str, str], list[RunSpec]]:
    groups: dict[tuple[str, str], list[RunSpec]] = {}
    for cell in cells:
        groups.setdefault((cell.backbone, cell.task), []).append(cell)
    return groups


def _run_cell(cell: RunSpec, key: str, backbone: Backbone, protocol: Protocol, hparams: BaseModel,
              ctx: TaskContext, options: RunOptions, progress: ProgressFactory) -> RunRecord | None:
    """Run the cell and write its record with its side files (split manifest, bootstrap replicates,
    examples), all at once; the record, or None in a process other than the main one and when
    another process recorded the same cell meanwhile."""
    start = time.perf_counter()
    spec, data = ctx.spec, ctx.data
    draw = draw_train(data.split("train"), cell.seed, cell.fraction, cell.shots, cell.manifest)
    if not getattr(protocol, "trains", True):  # zeroshot: one cell (plan.UNTRAINED), no face trains
        draw = replace(draw, records=[], rule=f"none: protocol {cell.protocol} trains on no face",
                       fingerprint=fingerprint([]))
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
    metrics, slices, side_files = scored
    manifest = manifest_file(spec.name, draw.budget, cell.seed)
    side_files[manifest] = draw.manifest().encode()
    record = RunRecord(
        key=key, backbone=cell.backbone_name, backbone_spec=cell.backbone, backbone_fingerprint=backbone.fingerprint,
        backbone_params=backbone.num_params, weights=getattr(backbone, "weights", "random-init"), task=spec.name,
        task_version=spec.version_for(cell.protocol), family=spec.family, dataset=spec.dataset,
        data_root=str(ctx.root), protocol=cell.protocol, protocol_revision=protocol.revision, fraction=cell.fraction,
        shots=cell.shots, budget=draw.budget, seed=cell.seed, hparam_grid=hparams.model_dump(),
        hparams=result.selected, selection_split=result.selection_split, selection_scores=result.selection_scores,
        trainable_params=result.trainable_params, adapter=result.adapter,
        metrics=metrics, headline_metrics=spec.metrics, n_train=len(train), n_val=len(data.split("val")),
        n_test=len(test), subset_sizes={name: len(idx) for name, idx in subsets.items()},
        subset_rules=data.meta.get("subset_rules", {}), skipped_samples=data.meta.get("skipped", {}),
        n_train_pool=len(data.split("train")), split_fingerprint=draw.fingerprint, split_rule=draw.rule,
        split_manifest=manifest, data_fingerprint=ctx.data_fingerprint,
        bootstrap=BootstrapRef(file=bootstrap_file(key), replicates=options.bootstrap, seed=BOOTSTRAP_SEED)
        if bootstrap_file(key) in side_files else None,
        examples=examples_file(key) if examples_file(key) in side_files else None, slices=slices,
        predictions=predictions_file(key) if predictions_file(key) in side_files else None,
        settings=spec.model_dump(mode="json"), preprocess=asdict(backbone.preprocess), precision=options.precision,
        device=options.device, processes=distributed.world_size(), determinism=determinism(cell.seed),
        device_name=device_name(options.device), versions=versions(), wall_time_s=round(time.perf_counter() - start, 3),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    if not append_record(options.results, record, side_files, once=not options.force):
        log.info("%s: another process recorded this cell meanwhile; its record stands", key)
        return None
    return record


def _score_test(ctx: TaskContext, predict: Predictor, samples: FaceSamples, subsets: dict[str, list[int]], key: str,
                options: RunOptions) -> tuple[dict[str, dict[str, Metric]], dict[str, Any] | None, SideFiles] | None:
    """Metrics per test subset, the demographic slices (None where the faces have no groups), and
    the side files to write with the record: the bootstrap replicates, (dense families) a few
    example predictions, and (options.save_predictions) every test prediction.
    None in a process other than the main one (which only helps predict)."""
    test = samples.records
    shown = example_rows(test) if ctx.family.dense else []
    groups = group_rows(test, ctx.data.meta)
    lines: dict[int, str] = {}  # row -> its line of the predictions file

    def save(i: int, prediction: Any, target: Any) -> None:
        lines[i] = json.dumps({"id": test[i].id, ctx.family.prediction_field:
                               ctx.family.format_prediction(prediction, target), "groups": test[i].groups})

    scorers, predictions = fill_scorers(ctx.family, predict(samples, "test"), samples, ctx.data,
                                        {**subsets, **group_subsets(groups)}, shown,
                                        save if options.save_predictions else None)
    if options.save_predictions:
        lines = {i: line for part in distributed.gather(lines) for i, line in part.items()}
    if not distributed.is_main():
        return None
    slices, slice_replicates = slice_scores(scorers, groups, options.bootstrap) if groups else (None, {})
    scorers = {name: scorers[name] for name in subsets}
    metrics = {name: scorer.compute() for name, scorer in scorers.items()}
    replicates = {name: bootstrap(scorer, len(subsets[name]), options.bootstrap) for name, scorer in scorers.items()}
    replicates.update(slice_replicates)
    side_files: SideFiles = {}
    if (encoded := encode_replicates(replicates)) is not None:
        side_files[bootstrap_file(key)] = encoded
    if shown:
        kind = ctx.family.prediction_field
        side_files[examples_file(key)] = encode_examples(kind, [
            Example(test[i].id, np.asarray(load_rgb(test[i].image)), predictions[i], _truth(ctx, test[i], kind))
            for i in shown], ctx.data.meta.get("label_names"))
    if options.save_predictions:  # mtime 0: the same predictions give the same bytes
        side_files[predictions_file(key)] = gzip.compress("".join(lines[i] + "\n" for i in range(len(test))).encode(),
                                                          mtime=0)
    return metrics, slices, side_files


def _truth(ctx: TaskContext, record: FaceRecord, kind: str) -> np.ndarray:
    """The ground truth drawn beside an example prediction (a landmark target also holds the box)."""
    target = ctx.family.target(record, ctx.data)
    return np.asarray(target[kind] if isinstance(target, dict) else target)
