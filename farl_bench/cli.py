"""`farl-bench`: parse options, build the plan, hand it over. No benchmark logic lives here."""
from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from farl_bench.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Benchmark face representations on parsing, alignment, attributes, age and expression.")
datasets_app = typer.Typer(no_args_is_help=True, help="Dataset tools: verify a tree, generate synthetic data.")
app.add_typer(datasets_app, name="datasets")
console = Console()
err_console = Console(stderr=True)

DEFAULT_DATA_ROOT = Path(os.environ.get("FARL_BENCH_DATA", "datasets"))


def _split_csv(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def _numbers(text: str, kind: Callable, option: str) -> list:
    try:
        return [kind(v) for v in _split_csv([text])]
    except ValueError:
        raise UserError(f"{option} {text!r}: expected comma-separated numbers") from None


def _dataset_roots(items: list[str]) -> dict[str, Path]:
    roots = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise UserError(f"--root {item!r} is not NAME=DIR (for example --root celeba=/data/CelebA)")
        roots[name] = Path(path)
    return roots


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err_console, transient=True) as bars:
        def start(description: str, total: int) -> Callable[[int], None]:
            task = bars.add_task(description, total=total)
            return lambda n: bars.advance(task, n)

        yield start


def print_table(wide, title: str) -> None:
    """The wide leaderboard turned on its side: one row per task:metric@fraction, one column per
    backbone + protocol, so many tasks stay readable in a terminal."""
    table = Table(title=title)
    table.add_column("task:metric@fraction")
    labels = [f"{b} ({p})" for b, p in zip(wide["backbone"], wide["protocol"])]
    for label in labels:
        table.add_column(escape(label), justify="right")
    for column in wide.columns[2:]:
        table.add_row(escape(column), *(f"{v:.2f}" for v in wide[column]))
    console.print(table)


@app.command()
def run(
    backbone: list[str] = typer.Option(..., "--backbone", "-b", help="Backbone spec(s), repeatable or comma-separated."),
    tasks: str = typer.Option(..., "--tasks", "-t", help="Comma-separated task names (see `list tasks`)."),
    protocol: str = typer.Option("linear", "--protocol", "-p", help="Comma-separated protocols."),
    data_root: Path = typer.Option(DEFAULT_DATA_ROOT, help="Folder holding the dataset folders ($FARL_BENCH_DATA)."),
    root: list[str] = typer.Option([], "--root", help="Per-dataset folder override NAME=DIR, repeatable."),
    results: Path = typer.Option(Path("results"), help="Results folder (runs.jsonl and tables)."),
    fractions: str = typer.Option("1.0", help="Training fractions, comma-separated, each in (0, 1]."),
    seeds: str = typer.Option("0", help="Seeds, comma-separated."),
    set_: list[str] = typer.Option([], "--set", help="Override a task setting KEY=VALUE, e.g. input_size=112."),
    force: bool = typer.Option(False, help="Re-run cells already recorded."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    batch_size: int = typer.Option(64, min=1, help="Images per backbone forward."),
    workers: int = typer.Option(0, min=0, help="Data-loading worker processes."),
    select_on: str = typer.Option("val", help="Split that picks settings and epochs: val, or test (FaRL's "
                                  "way; every record then says selection_split: test)."),
    skip_bad: bool = typer.Option(False, help="Decode every image first; skip unreadable ones and count them "
                                  "in the record (default: stop at the first, naming it)."),
) -> None:
    """Run backbones x tasks x protocols x fractions x seeds; skip cells already recorded."""
    from farl_bench.engine.runner import RunOptions, run_cells
    from farl_bench.plan import expand
    from farl_bench.results.leaderboard import write_tables
    from farl_bench.tasks import parse_overrides

    cells = expand(_split_csv(backbone), _split_csv([tasks]), _split_csv([protocol]),
                   _numbers(fractions, float, "--fractions"), _numbers(seeds, int, "--seeds"))
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(f"--device {device}: no CUDA device is available here; use --device cpu")
    options = RunOptions(data_root, results, parse_overrides(set_), _dataset_roots(root), force, device,
                         batch_size, workers, select_on, skip_bad)
    with _progress() as progress:
        new = run_cells(cells, options, progress)
    console.print(f"{len(new)} new run(s), {len(cells) - len(new)} already recorded; results in {results}/")
    print_table(write_tables(results), f"leaderboard ({results}/leaderboard.csv)")


@app.command()
def leaderboard(results: Path = typer.Option(Path("results"), help="Results folder holding runs.jsonl.")) -> None:
    """Write results.csv (long) and leaderboard.csv (wide) from runs.jsonl and print the table."""
    from farl_bench.results.leaderboard import write_tables

    print_table(write_tables(results), f"leaderboard ({results}/leaderboard.csv)")


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

    from farl_bench.scoring import score as score_predictions
    from farl_bench.tasks import parse_overrides

    metrics = score_predictions(task, predictions, data_root, parse_overrides(set_))
    table = Table("subset", "metric", "value", "unit", title=f"{task}: {predictions}")
    for subset, values in metrics.items():
        for name, m in values.items():
            if "/" not in name:  # per-class rows stay in the file
                table.add_row(escape(subset), escape(name), f"{m['value']:.3f}", m["unit"])
    console.print(table)
    target = out or predictions.with_suffix(".metrics.json")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps({"task": task, "predictions": str(predictions), "metrics": metrics}, indent=1))
    tmp.replace(target)
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
    table = Table("", "", title=escape(facts["spec"]))
    for key, value in facts.items():
        table.add_row(key, escape(str(value)))
    console.print(table)


@app.command()
def embed(
    backbone: str = typer.Option(..., "--backbone", "-b", help="Backbone spec."),
    images: Path = typer.Option(..., help="Folder of images (searched recursively: jpg, jpeg, png)."),
    out: Path = typer.Option(..., help="Output .npy of pooled features (N x D, sorted path order)."),
    layers: bool = typer.Option(False, help="Also write each level map as OUT.level<i>.npy."),
    input_size: Optional[int] = typer.Option(None, min=1, help="Input size to build the backbone for."),
    batch_size: int = typer.Option(32, min=1),
    device: str = typer.Option("cpu"),
) -> None:
    """Export backbone features of your own images (and the image list beside them, OUT.txt)."""
    import numpy as np

    from farl_bench.backbones import build
    from farl_bench.backbones.tools import embed as embed_images

    paths = sorted(p for p in images.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not paths:
        raise UserError(f"--images {images}: no .jpg/.jpeg/.png files found")
    model = build(backbone, input_size)
    result = embed_images(model, paths, layers=layers, batch_size=batch_size, device=device)
    pooled, maps = result if layers else (result, [])
    out.parent.mkdir(parents=True, exist_ok=True)
    for target, array in [(out, pooled), *((out.with_suffix(f".level{i}.npy"), m) for i, m in enumerate(maps))]:
        tmp = target.with_name(f".{target.stem}.tmp.npy")
        np.save(tmp, array)
        tmp.replace(target)
    out.with_suffix(".txt").write_text("\n".join(str(p) for p in paths) + "\n")
    console.print(f"{len(paths)} images -> {out} {tuple(pooled.shape)}" + (f" and {len(maps)} level maps" if maps else ""))


@app.command("list")
def list_(what: str = typer.Argument(..., help="tasks, datasets, backbones or protocols")) -> None:
    """Print what is registered."""
    from farl_bench.registry import BACKBONES, DATASETS, PROTOCOLS
    from farl_bench.tasks import load_task, task_names

    if what == "tasks":
        table = Table("task", "family", "dataset", "metrics", "description")
        for name in task_names():
            try:
                spec = load_task(name)
            except UserError as err:  # one broken spec must not hide the others
                table.add_row(name, "", "", "", f"[red]invalid:[/red] {escape(str(err))}")
                continue
            table.add_row(name, spec.family, spec.dataset, escape(", ".join(spec.metrics)), escape(spec.description))
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
        raise UserError(f"cannot list {what!r}: choose tasks, datasets, backbones or protocols")
    for name in registries[what].names():
        console.print(name)


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
    marks = {True: "[green]ok[/green]", False: "[red]FAIL[/red]", None: "[dim]info[/dim]"}
    for check in report.checks:
        table.add_row(escape(check.name), marks[check.ok], escape(check.detail))
    console.print(table)
    for path in report.missing[:50]:
        console.print(f"missing: {path}", highlight=False)
    if len(report.missing) > 50:
        console.print(f"... and {len(report.missing) - 50} more missing files")
    for line in report.undecodable:
        console.print(f"broken: {line}", highlight=False)
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
        bars: dict[str, Callable[[int], None]] = {}

        def report(name: str, done: int, total: int) -> None:
            if name not in bars:
                bars[name] = progress(f"synth {name}", total)
            bars[name](1)

        try:
            counts = synthetic.generate(out, scale, seed, _split_csv(only) or None, report)
        except ValueError as err:
            raise UserError(str(err)) from None
    for name, n in counts.items():
        console.print(f"{name:<16} {n:>6} images")
    console.print(f"synthetic datasets ({scale}, seed {seed}) in {out}/")


def main() -> None:
    """Console entry: user mistakes become one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=err_console, show_time=False, show_path=False)])
    try:
        app()  # click's standalone mode prints usage errors itself and exits 2
    except UserError as err:
        err_console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
        sys.exit(2)
