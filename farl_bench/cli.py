"""`farl-bench`: parse options, build the plan, hand it over. No benchmark logic lives here."""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from farl_bench.errors import UserError
from farl_bench.progress import ProgressFactory, bars, no_bars

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Benchmark face representations on parsing, alignment, attributes, age and expression.")
datasets_app = typer.Typer(no_args_is_help=True, help="Dataset tools: verify a tree, generate synthetic data.")
app.add_typer(datasets_app, name="datasets")
cache_app = typer.Typer(no_args_is_help=True, help="The feature cache: list or clear stored features.")
app.add_typer(cache_app, name="cache")
splits_app = typer.Typer(no_args_is_help=True, help="Training subsets: export the manifests of draws.")
app.add_typer(splits_app, name="splits")
# Text prints as given (no markup: an error or a path holding "[x, y]" stays whole) and lines are never
# folded (a log is read and grepped whole; a terminal wraps for the eye). Piped tables take their
# natural width: no fold at rich's 80-column fallback or a $COLUMNS inherited from elsewhere.
console = Console(width=None if sys.stdout.isatty() else 10_000, markup=False, soft_wrap=True)
err_console = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)

DEFAULT_DATA_ROOT = Path(os.environ.get("FARL_BENCH_DATA", "datasets"))
DEVICE_HELP = "auto (CUDA, else Apple MPS, else CPU), cpu, cuda, cuda:N, gpu (= cuda) or mps."
CACHE_DIR_HELP = "Feature cache folder (default: $FARL_BENCH_CACHE, else ~/.cache/farl_bench)."


def _split_csv(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _numbers(text: str, kind: Callable, option: str) -> list:
    try:
        return [kind(v) for v in _split_csv([text])]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated numbers") from None


def _seeds(text: str | None) -> list[int] | None:
    """--seeds as integers (plan.draws checks them); None (the defaults) when not given."""
    return None if text is None else _numbers(text, int, "--seeds")


def _dataset_roots(items: list[str]) -> dict[str, Path]:
    roots = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise UserError(f"--root {item!r} is not NAME=DIR (for example --root celeba=/data/CelebA)")
        roots[name] = Path(path)
    return roots


def _chatty() -> bool:
    """False under -q (and in torchrun's other processes): no bars, progress lines or summaries."""
    return logging.getLogger().isEnabledFor(logging.INFO)


@contextmanager
def _progress() -> Iterator[ProgressFactory]:
    """Bars in a terminal; piped, the per-cell log lines tell the progress instead."""
    if not (err_console.is_terminal and _chatty()):
        yield no_bars
        return
    with bars(err_console) as start:
        yield start


def _print_error(message: str) -> None:
    err_console.print(Text.assemble(("error:", "red"), " ", message))


def _print_version(value: bool) -> None:
    if value:
        console.print(f"farl-bench {package_version('farl-bench')}")
        raise typer.Exit()


@app.callback()
def global_options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print the version and exit."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors and the final table: no progress "
                               "bars, lines or warnings (put it before the command: farl-bench -q run ...)."),
) -> None:
    if quiet:
        logging.getLogger().setLevel(logging.ERROR)


def print_table(wide, title: str) -> None:
    """The wide leaderboard turned on its side: one row per task:metric@budget, one column per
    backbone + protocol, so many tasks stay readable in a terminal."""
    from farl_bench.results.leaderboard import display_name

    table = Table(title=title)
    table.add_column("task:metric@budget", overflow="fold")
    labels = [f"{display_name(b, w)} ({p})" for b, p, w in zip(wide["backbone"], wide["protocol"], wide["weights"])]
    for label in labels:
        table.add_column(label, justify="right", overflow="fold")
    for column in wide.select_dtypes("number").columns:
        table.add_row(column, *("–" if v != v else f"{v:.2f}" for v in wide[column]))  # v != v: NaN
    console.print(table)
    if "source" in wide:  # published rows, whose sources the table has no room for
        from farl_bench.results.leaderboard import PUBLISHED_NOTE

        console.print(PUBLISHED_NOTE)
        for model, source in wide[["backbone", "source"]].dropna().itertuples(index=False):
            console.print(f"  {model}: {source}")


@app.command()
def run(
    backbone: list[str] = typer.Option(..., "--backbone", "-b", help="Backbone spec(s), repeatable or comma-separated; "
                                       "LABEL=SPEC shows it as LABEL in tables (r50=timm:resnet50)."),
    tasks: str = typer.Option(..., "--tasks", "-t", help="Comma-separated task names (see `list tasks`)."),
    protocol: str = typer.Option("linear", "--protocol", "-p", help="Comma-separated protocols."),
    data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="Folder holding the dataset folders ($FARL_BENCH_DATA)."),
    root: list[str] = typer.Option([], "--root", help="Per-dataset folder override NAME=DIR, repeatable."),
    results: Path = typer.Option(Path("results"), help="Results folder (runs.jsonl and tables)."),
    fractions: Optional[str] = typer.Option(None, help="Training fractions, comma-separated, each in (0, 1] "
                                            "(default 1.0 unless --shots is given)."),
    shots: Optional[str] = typer.Option(None, help="k faces per class (per attribute value, per subject, or in all: "
                                        "see the README), comma-separated, e.g. 1,5,10."),
    split_manifest: Optional[Path] = typer.Option(None, help="Train on the ids listed in this file (one per line) "
                                                  "instead of a drawn subset."),
    seeds: Optional[str] = typer.Option(None, help="Seeds, comma-separated (default: 0,1,2 for subsets, 0 for "
                                        "the full split and a manifest)."),
    bootstrap: int = typer.Option(1000, min=0, help="Bootstrap resamples of the test faces for the 95% intervals "
                                  "(0: none)."),
    set_: list[str] = typer.Option([], "--set", help="Override a task setting KEY=VALUE, e.g. input_size=112."),
    force: bool = typer.Option(False, help="Re-run cells already recorded, computing their features again."),
    device: str = typer.Option("auto", help=DEVICE_HELP),
    batch_size: int = typer.Option(64, min=1, help="Images per backbone forward."),
    workers: Optional[int] = typer.Option(None, min=0, help="Data-loading worker processes (default: 0 on "
                                          "CPU, where the forward uses every core; up to 8 with a GPU)."),
    select_on: str = typer.Option("val", help="Split that picks settings and epochs: val, or test (FaRL's "
                                  "way; every record then says selection_split: test)."),
    skip_bad: bool = typer.Option(False, help="Decode every image first; skip unreadable ones and count them "
                                  "in the record (default: stop at the first, naming it)."),
    shard: Optional[str] = typer.Option(None, help="I/N: run only the I-th (0-based) of N disjoint parts of the "
                                        "grid, e.g. $SLURM_ARRAY_TASK_ID/8; shards may share --results."),
    deterministic: bool = typer.Option(False, help="Deterministic torch kernels only (slower on GPU; "
                                       "recorded with the seed and threads in each record)."),
    precision: str = typer.Option("auto", help="Backbone forwards in fp32, bf16 or fp16; auto: bf16 where the "
                                  "GPU or CPU runs it natively, else fp32 (recorded in each record)."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the frozen backbone forward."),
    cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP),
    cache_size_gb: float = typer.Option(50.0, min=0, help="Cap of the feature cache; least recently used "
                                        "entries are evicted beyond it."),
    save_predictions: bool = typer.Option(False, help="Write each new cell's test predictions beside its record "
                                          "(predictions/<key>.jsonl.gz, in the format `farl-bench score` reads); "
                                          "cells already recorded need --force."),
) -> None:
    """Run backbones x tasks x protocols x fractions x seeds; skip cells already recorded.

    Under `torchrun --nproc_per_node N -m farl_bench run ...` the processes share each cell (DDP)."""
    from farl_bench.engine import distributed
    from farl_bench.engine.runner import RunOptions, run_cells
    from farl_bench.plan import expand, parse_shard
    from farl_bench.plan import shard as shard_of
    from farl_bench.results.leaderboard import write_tables
    from farl_bench.tasks import parse_overrides

    if not distributed.is_main():
        logging.getLogger().setLevel(logging.WARNING)  # torchrun: progress is the main process's to tell

    cells = expand(_split_csv(backbone), _split_csv([tasks]), _split_csv([protocol]),
                   _numbers(fractions or "", float, "--fractions"),
                   _seeds(seeds), _numbers(shots or "", int, "--shots"), split_manifest)
    if shard is not None:
        cells = shard_of(cells, *parse_shard(shard))
        if not cells:
            if _chatty():
                console.print(f"shard {shard} of this grid is empty: nothing to run")
            return
    options = RunOptions(data_root, results, parse_overrides(set_), _dataset_roots(root), force, device,
                         batch_size, workers, select_on, skip_bad, deterministic=deterministic,
                         bootstrap=bootstrap, precision=precision, compile=compile_,
                         cache_dir=cache_dir, cache_size_gb=cache_size_gb, save_predictions=save_predictions)
    with _progress() as progress:
        try:
            new = run_cells(cells, options, progress)
        except KeyboardInterrupt:
            err_console.print(f"interrupted: the cells finished so far are in {results}/; "
                              "the same command resumes with the rest")
            raise typer.Exit(130) from None
    if not distributed.is_main():
        return  # the main process reports and writes the tables
    if _chatty():
        console.print(f"{len(new)} new run(s), {len(cells) - len(new)} already recorded; results in {results}/")
    print_table(write_tables(results), f"leaderboard ({results}/leaderboard.csv)")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def sweep(
    ctx: typer.Context,
    shards: int = typer.Option(..., min=1, help="Number of jobs; job i runs `farl-bench run ... --shard i/N`."),
    launcher: str = typer.Option("slurm", help="slurm (submitit), or local: processes on this machine."),
    partition: Optional[str] = typer.Option(None, help="Slurm partition."),
    account: Optional[str] = typer.Option(None, help="Slurm account."),
    gpus: int = typer.Option(0, min=0, help="GPUs per job; more than one runs the shard under torchrun (DDP)."),
    cpus: int = typer.Option(8, min=1, help="CPUs per job."),
    time: int = typer.Option(240, min=1, help="Minutes per job; a job pre-empted or out of time is requeued "
                             "and resumes where it stopped."),
    logs: Optional[Path] = typer.Option(None, help="Folder for the job scripts and logs (default: RESULTS/jobs)."),
    wait: bool = typer.Option(False, help="Wait for every job, then print the leaderboard; exit 1 if one failed."),
) -> None:
    """Submit a grid as N shard jobs. Every other option is a `run` option and is passed on; the
    shards share the results folder, where their records merge by cell key."""
    from farl_bench.launch import JobOptions, submit
    from farl_bench.launch import wait as wait_for

    run_command = ctx.parent.command.commands["run"]
    with run_command.make_context("farl-bench run", list(ctx.args)) as run_ctx:  # options checked before submitting
        results = run_ctx.params["results"]
    jobs = submit(list(ctx.args), shards, launcher, logs or results / "jobs",
                  JobOptions(partition, account, gpus, cpus, time))
    console.print(f"{len(jobs)} shard job(s) submitted ({launcher}): {', '.join(str(j.job_id) for j in jobs)}")
    if not wait:
        return
    failures = wait_for(jobs)
    for line in failures:
        _print_error(line)
    if failures:
        raise typer.Exit(1)
    leaderboard(results, published=False, slices=False)  # typer's defaults are OptionInfo objects


@app.command()
def merge(
    sources: list[Path] = typer.Argument(..., help="Results folders to merge from."),
    into: Path = typer.Option(..., help="Results folder to merge into (created if needed)."),
) -> None:
    """Merge results folders by cell key (shards run without a shared disk), then write the tables."""
    from farl_bench.results.merge import merge as merge_folders

    added, skipped = merge_folders(sources, into)
    console.print(f"{added} record(s) merged into {into}/, {skipped} already there")
    leaderboard(into, published=False, slices=False)


@app.command()
def leaderboard(
    results: Path = typer.Option(Path("results"), help="Results folder holding runs.jsonl."),
    published: bool = typer.Option(False, "--published", help="Add the numbers papers report for these columns "
                                   "as rows marked (published), never ranked (see `farl-bench list published`)."),
    slices: bool = typer.Option(False, "--slices", help="Add each headline metric's largest gap between demographic "
                                "groups (where the test faces have groups; lower is better, never ranked)."),
) -> None:
    """Write results.csv (long, aggregated over draws), draws.csv, leaderboard.csv (wide) and
    leaderboard.md from runs.jsonl and print the table."""
    from farl_bench.results.leaderboard import write_tables

    print_table(write_tables(results, published, slices), f"leaderboard ({results}/leaderboard.csv)")


@app.command()
def report(
    results: Path = typer.Option(Path("results"), help="Results folder holding runs.jsonl."),
    out: Path = typer.Option(Path("results/report"), help="Folder to write index.html into."),
    published: bool = typer.Option(False, "--published", help="Show the numbers papers report: marked rows in "
                                   "the leaderboard, reference marks in the data-efficiency plots."),
) -> None:
    """Write a self-contained index.html: leaderboard, data-efficiency plots, per-subset and per-class
    tables, example predictions."""
    from farl_bench.results.report import write_report

    console.print(f"report written to {write_report(results, out, published)}")


@app.command()
def compare(
    baseline: Path = typer.Option(..., help="Baseline long table (a results.csv, e.g. results/baselines/*.csv)."),
    candidate: Path = typer.Option(..., help="Candidate results folder, or its results.csv."),
    tolerance: str = typer.Option("auto", help="auto (beyond the noise of draws or the bootstrap) or a number "
                                  "in each metric's unit."),
    pair: list[str] = typer.Option([], "--pair", help="'BASELINE => CANDIDATE' backbones to compare, repeatable "
                                   "(default: equal names, or the only backbone of each side)."),
    markdown: Optional[Path] = typer.Option(None, help="Also write the verdict as Markdown here."),
    junit: Optional[Path] = typer.Option(None, help="Also write the verdict as JUnit XML here."),
) -> None:
    """The regression gate: better / same / worse per headline number; exit 1 on any regression
    (or a number missing from the candidate), 0 otherwise."""
    from farl_bench.results.compare import gate, passed

    verdict = gate(baseline, candidate, tolerance, pair, markdown, junit)
    shown = verdict[verdict["status"] != "same"]
    table = Table("status", "task:metric@budget [subset]", "backbone", "baseline", "candidate", "tolerance",
                  title=f"compare: {len(verdict)} numbers, {len(verdict) - len(shown)} same")
    for _, row in shown.iterrows():
        subset = "" if row.subset == "test" else f" [{row.subset}]"
        table.add_row(row.status, f"{row.task}:{row.metric}@{row.budget}{subset}",
                      row.candidate_backbone, f"{row.baseline:.3f}", f"{row.candidate:.3f}",
                      "" if row.status in ("missing", "incomparable") else f"±{row.tolerance:.3f}")
    console.print(table)
    console.print("PASS" if passed(verdict) else "FAIL: the candidate regressed (or lacks numbers)")
    raise typer.Exit(0 if passed(verdict) else 1)


@app.command()
def smoke(
    backbone: list[str] = typer.Option([], "--backbone", "-b", help="Backbone spec(s) to run through the suite "
                                       "(default: its own, pixels and timm:test_vit)."),
    data_root: Path = typer.Option(Path("datasets/synthetic-small"), help="Where the small synthetic datasets "
                                   "are (generated there when missing)."),
    results: Path = typer.Option(Path("results/smoke"), help="Results folder."),
    force: bool = typer.Option(False, help="Re-run cells already recorded, computing their features again."),
) -> None:
    """The smoke suite (about a minute on a CPU); gate it with `farl-bench compare --baseline
    results/baselines/synthetic-smoke.csv --candidate RESULTS`."""
    from farl_bench.smoke import run_smoke

    with _progress() as progress:
        wide = run_smoke(results, data_root, _split_csv(backbone), force, progress)
    print_table(wide, f"smoke suite ({results}/leaderboard.csv)")


@splits_app.command("export")
def splits_export(
    tasks: str = typer.Option(..., "--tasks", "-t", help="Comma-separated task names."),
    fractions: Optional[str] = typer.Option(None, help="Training fractions, comma-separated (default 1.0 unless "
                                            "--shots is given)."),
    shots: Optional[str] = typer.Option(None, help="k per class (attribute value, subject), comma-separated."),
    seeds: Optional[str] = typer.Option(None, help="Seeds (default: 0,1,2 for subsets, 0 for the full split)."),
    data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="Folder holding the dataset folders."),
    root: list[str] = typer.Option([], "--root", help="Per-dataset folder override NAME=DIR, repeatable."),
    results: Path = typer.Option(Path("results"), help="Writes RESULTS/splits/<task>/<budget>-<seed>.txt and "
                                 "RESULTS/splits/index.csv."),
    set_: list[str] = typer.Option([], "--set", help="Override a task setting KEY=VALUE."),
) -> None:
    """Write the manifests (kept training ids) of a grid of draws, for publication, without running."""
    from farl_bench.engine.export import export_splits
    from farl_bench.tasks import parse_overrides

    index = export_splits(_split_csv([tasks]), _numbers(fractions or "", float, "--fractions"),
                          _seeds(seeds), _numbers(shots or "", int, "--shots"),
                          results, data_root, _dataset_roots(root), parse_overrides(set_))
    console.print(f"{len(index)} manifest(s) and index.csv written under {results}/splits/")


@app.command()
def score(
    task: str = typer.Option(..., "--task", "-t", help="Task name (see `list tasks`)."),
    predictions: Path = typer.Option(..., help="JSONL: one {\"id\": ..., <field>: ...} per test face."),
    data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="Folder holding the dataset folders."),
    out: Optional[Path] = typer.Option(None, help="Metric record to write (default: PREDICTIONS.metrics.json)."),
    set_: list[str] = typer.Option([], "--set", help="Override a task setting KEY=VALUE."),
) -> None:
    """Score another tool's predictions with the suite's metrics."""
    import json

    from farl_bench.results.store import write_atomic
    from farl_bench.scoring import score as score_predictions
    from farl_bench.tasks import parse_overrides

    metrics = score_predictions(task, predictions, data_root, parse_overrides(set_))
    table = Table("subset", "metric", "value", "unit", title=f"{task}: {predictions}")
    for subset, values in metrics.items():
        for name, m in values.items():
            if "/" not in name:  # per-class rows stay in the file
                table.add_row(subset, name, f"{m['value']:.3f}", m["unit"])
    console.print(table)
    target = out or predictions.with_suffix(".metrics.json")
    write_atomic(target, json.dumps({"task": task, "predictions": str(predictions), "metrics": metrics}, indent=1))
    console.print(f"metrics written to {target}")


@app.command("backbone-info")
def backbone_info(
    spec: str = typer.Argument(..., help="Backbone spec, e.g. timm:resnet18 or farl:FaRL.pth"),
    input_size: Optional[int] = typer.Option(None, min=1, help="Input size to build it for."),
) -> None:
    """Print layers, channels, strides, preprocessing, parameter count and fingerprint."""
    from farl_bench.backbones import build
    from farl_bench.backbones.tools import describe

    facts = describe(build(spec, input_size))
    table = Table("", "", title=facts["spec"])
    for key, value in facts.items():
        table.add_row(key, str(value))
    console.print(table)


@app.command()
def embed(
    backbone: str = typer.Option(..., "--backbone", "-b", help="Backbone spec."),
    images: Path = typer.Option(..., help="Folder of images (searched recursively: jpg, jpeg, png)."),
    out: Path = typer.Option(..., help="Output .npy of pooled features (N x D, sorted path order)."),
    layers: bool = typer.Option(False, help="Also write each level map as OUT.level<i>.npy."),
    input_size: Optional[int] = typer.Option(None, min=1, help="Input size to build the backbone for."),
    batch_size: int = typer.Option(32, min=1),
    device: str = typer.Option("auto", help=DEVICE_HELP),
) -> None:
    """Export backbone features of your own images (and the image list beside them, OUT.txt)."""
    import io

    import numpy as np

    from farl_bench.backbones import build
    from farl_bench.backbones.tools import embed as embed_images
    from farl_bench.engine.devices import resolve_device
    from farl_bench.results.store import write_atomic

    device = resolve_device(device)  # a bad name fails before the backbone is built
    paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise UserError(f"--images {images}: no .jpg/.jpeg/.png files found")
    model = build(backbone, input_size)
    result = embed_images(model, paths, layers=layers, batch_size=batch_size, device=device)
    pooled, maps = result if layers else (result, [])
    for target, array in [(out, pooled), *((out.with_suffix(f".level{i}.npy"), m) for i, m in enumerate(maps))]:
        buffer = io.BytesIO()
        np.save(buffer, array)
        write_atomic(target, buffer.getvalue())
    write_atomic(out.with_suffix(".txt"), "\n".join(str(p) for p in paths) + "\n")
    console.print(f"{len(paths)} images -> {out} {tuple(pooled.shape)}" + (f" and {len(maps)} level maps" if maps else ""))


@app.command("list")
def list_(
    what: str = typer.Argument(..., help="tasks, datasets, backbones, protocols or published"),
    task: Optional[str] = typer.Option(None, help="With `published`: only the numbers of this task."),
) -> None:
    """Print what is registered, or the numbers papers report (published)."""
    from farl_bench.registry import BACKBONES, DATASETS, PROTOCOLS
    from farl_bench.tasks import load_task, task_names

    if task is not None and what != "published":
        raise UserError(f"--task only filters `list published`, not `list {what}`")
    if what == "published":
        print_published(task)
        return
    if what == "tasks":
        table = Table("task", "family", "dataset", "metrics", "description")
        for name in task_names():
            try:
                spec = load_task(name)
            except UserError as err:  # one broken spec must not hide the others
                table.add_row(name, "", "", "", Text.assemble(("invalid:", "red"), f" {err}"))
                continue
            table.add_row(name, spec.family, spec.dataset, ", ".join(spec.metrics), spec.description)
        console.print(table)
        return
    if what == "datasets":
        table = Table("dataset", "tasks", "default root")
        tasks_of: dict[str, list[str]] = {}
        for name in task_names():
            try:
                tasks_of.setdefault(load_task(name).dataset, []).append(name)
            except UserError:
                continue  # shown as invalid by `list tasks`
        for name in DATASETS.names():
            table.add_row(name, ", ".join(tasks_of.get(name, [])), str(DEFAULT_DATA_ROOT / DATASETS.get(name).folder))
        console.print(table)
        return
    registries = {"backbones": BACKBONES, "protocols": PROTOCOLS}
    if what not in registries:
        raise UserError(f"cannot list {what!r}: choose tasks, datasets, backbones, protocols or published")
    for name in registries[what].names():
        summary = (registries[what].get(name).__doc__ or "").strip().splitlines()
        console.print(f"{name:<10} {summary[0] if summary else ''}".rstrip())


def print_published(task: str | None) -> None:
    """The published numbers (of `task`) as a table, their sources below it."""
    from farl_bench.published import load_published, unit_of
    from farl_bench.tasks import find_task_file

    if task is not None:
        find_task_file(task)  # an unknown task is an error naming the known ones, not an empty table
    numbers = load_published(task)
    table = Table("task", "subset", "metric", "budget", "value", "model", "protocol", "input", "source")
    for n in numbers:
        table.add_row(n.task, n.subset, n.metric, n.budget, f"{n.value:g} {unit_of(n.metric)}", n.model, n.protocol,
                      str(n.input_size or "?"), f"{n.source.paper}, {n.source.table}")
    console.print(table)
    console.print(f"{len(numbers)} published number(s); where each was read: farl_bench/published/*.yaml (read_at)")


@cache_app.command("ls")
def cache_ls(cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP)) -> None:
    """List stored feature and target arrays, least recently used first."""
    from datetime import datetime

    from farl_bench.engine.cache import FeatureStore

    store = FeatureStore(cache_dir)
    entries = store.entries()
    # Plain lines, one per entry: a table would fold keys and specs on narrow terminals.
    console.print(f"feature cache {store.root}", highlight=False)
    for e in entries:
        arrays = ", ".join(f"{name} {'x'.join(map(str, shape[1:]))} {dtype}"
                           for name, (shape, dtype) in e.meta.get("arrays", {}).items())
        used = datetime.fromtimestamp(e.last_used).strftime("%Y-%m-%d %H:%M")
        console.print(f"{e.key[:12]}  {e.meta.get('kind', '?')}  {e.meta.get('backbone', '')}  "
                      f"{e.meta.get('task', '')}/{e.meta.get('split', '')}  {e.meta.get('precision', '')}  "
                      f"rows={e.meta.get('rows', '')}  [{arrays}]  {e.size / 1e6:.1f} MB  last used {used}",
                      highlight=False)
    console.print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, "
                  f"{sum(e.size for e in entries) / 1e9:.2f} GB")


@cache_app.command("clear")
def cache_clear(cache_dir: Optional[Path] = typer.Option(None, help=CACHE_DIR_HELP)) -> None:
    """Remove every stored entry (and any half-written one)."""
    from farl_bench.engine.cache import FeatureStore

    store = FeatureStore(cache_dir)
    count, size = store.clear()
    console.print(f"removed {count} entr{'y' if count == 1 else 'ies'} ({size / 1e9:.2f} GB) from {store.root}")


@datasets_app.command("verify")
def verify(
    name: str = typer.Argument(..., help="Dataset name (see `list datasets`)."),
    root: Optional[Path] = typer.Option(None, help="The dataset's folder (default: DATA_ROOT/<its folder>)."),
    data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="Folder holding the dataset folders."),
    full: bool = typer.Option(False, help="Decode every image, not a sample."),
) -> None:
    """Check a dataset tree: annotations parse, files present and decodable, split sizes. Exit 1 if not sound."""
    from farl_bench.data.verify import verify as run_verify
    from farl_bench.registry import DATASETS

    folder = root or data_root / DATASETS.get(name).folder
    report = run_verify(name, folder, full)
    table = Table("check", "", "detail", title=f"{name} at {folder}")
    marks = {True: Text("ok", "green"), False: Text("FAIL", "red"), None: Text("info", "dim")}
    for check in report.checks:
        table.add_row(check.name, marks[check.ok], check.detail)
    console.print(table)
    for path in report.missing[:50]:
        console.print(f"missing: {path}", highlight=False)
    if len(report.missing) > 50:
        console.print(f"... and {len(report.missing) - 50} more missing files")
    for line in report.undecodable:
        console.print(f"broken: {line}", highlight=False)
    for line in report.wrong_size:
        console.print(f"wrong size: {line}", highlight=False)
    raise typer.Exit(0 if report.ok else 1)


@datasets_app.command("synth")
def synth(
    out: Path = typer.Option(Path("datasets/synthetic"), help="Folder to write the dataset trees into."),
    scale: str = typer.Option("medium", help="small (tests) or medium (make bench)."),
    seed: int = typer.Option(0, help="Seed; the same seed gives identical bytes."),
    only: list[str] = typer.Option([], "--only", help="Generate only these datasets (comma-separated)."),
) -> None:
    """Draw procedural faces and write them in the original formats of the real datasets."""
    from farl_bench.data import synthetic

    with _progress() as progress:
        advances: dict[str, Callable[[int], None]] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in advances:
                advances[name] = progress(f"synth {name}", total)
            advances[name](1)

        try:
            counts = synthetic.generate(out, scale, seed, _split_csv(only) or None, report)
        except ValueError as err:
            raise UserError(str(err)) from None
    for name, n in counts.items():
        console.print(f"{name:<16} {n:>6} images")
    console.print(f"synthetic datasets ({scale}, seed {seed}) in {out}/")


def main() -> None:
    """Console entry: user mistakes become one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[_log_handler()])
    try:
        app()  # click's standalone mode prints usage errors itself and exits 2
    except UserError as err:
        _print_error(str(err))
        sys.exit(2)


class _PlainFormatter(logging.Formatter):
    """Messages as they are; warnings and errors marked 'warning: ...', 'error: ...'."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def _log_handler() -> logging.Handler:
    """Rich's handler in a terminal; piped (a log file, CI, Slurm), plain lines that nothing folds."""
    if err_console.is_terminal:
        return RichHandler(console=err_console, show_time=False, show_path=False)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PlainFormatter())
    return handler
