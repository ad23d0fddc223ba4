"""What the CLI prints: whole lines when not on a terminal, text as given (never read as markup), one
line as each cell starts and ends, -q, --version and -h."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from farl_bench.families.base import Metric
from farl_bench.progress import GridLog, duration
from farl_bench.results.record import RunRecord

FAST = ("--set", "input_size=16", "--set", "protocols.linear.epochs=1", "--set", "protocols.linear.lrs=[0.01]",
        "--set", "protocols.linear.weight_decays=[0.0]", "--bootstrap", "0")


def test_long_paths_and_brackets_print_whole_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-name-long-enough-to-be-folded-" * 6)  # one name of 234 characters
    results, data = deep / "results", deep / "data [x, y]"
    results.mkdir(parents=True)
    (results / "runs.jsonl").write_text('{"key": "torn by a cra')
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}  # rich's 80-column fallback applies
    child = subprocess.run([sys.executable, "-m", "farl_bench", "run", "-b", "pixels", "-t", "celeba",
                            "--data-root", str(data), "--results", str(results)],
                           env=env, capture_output=True, text=True, timeout=300)
    lines = child.stderr.splitlines()
    assert child.returncode == 2, child.stderr
    assert any(line.startswith("warning: ") and f"{results / 'runs.jsonl'}: " in line and "torn" in line
               for line in lines), child.stderr
    assert lines[-1].startswith("error: ") and f"folder {data / 'CelebA'} does not exist" in lines[-1], child.stderr


def test_run_prints_a_line_as_each_cell_starts_and_ends_and_quiet_keeps_only_the_table(
        cli, celeba_root: Path, tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = ("run", "-b", "pixels", "-t", "celeba", "--data-root", celeba_root, "--results", results,
           "--fractions", "0.5", *FAST)
    code, out, err = cli(*run, "--seeds", "0,1")
    assert code == 0, err
    first = json.loads((results / "runs.jsonl").read_text().splitlines()[0])
    lines = err.splitlines()
    assert lines.index("[1/2] pixels celeba linear 0.5 seed 0: started") < lines.index(
        "[2/2] pixels celeba linear 0.5 seed 1: started"), err
    ends = [line for line in lines if re.fullmatch(r"\[\d/2\] .*: acc_mean \S+ \(\d+ s; grid (ETA \d+ s|done)\)", line)]
    assert len(ends) == 2 and ends[0].startswith("[1/2] pixels celeba linear 0.5 seed 0: acc_mean "
                                                 f"{first['metrics']['test']['acc_mean']['value']:.4g} ("), err
    assert ends[1].endswith("; grid done)")

    code, out, err = cli("-q", *run, "--seeds", "0,1,2")  # one new cell
    assert code == 0 and err == "", err
    assert "leaderboard" in out and "new run(s)" not in out
    assert len((results / "runs.jsonl").read_text().splitlines()) == 3

    code, out, err = cli(*run, "--seeds", "0,1,2")
    assert code == 0, err
    assert err.splitlines() == [f"[{i + 1}/3] pixels celeba linear 0.5 seed {i}: already in {results}/ "
                                "(--force re-runs it)" for i in range(3)]
    assert "0 new run(s), 3 already recorded" in out


def test_cell_lines_count_recorded_cells_and_estimate_the_rest_from_the_cells_run(caplog) -> None:
    clock = iter([0.0, 30.0, 100.0, 250.0, 300.0, 303.0])
    advanced: list[int] = []
    grid = GridLog(4, Path("res"), advanced.append, clock=lambda: next(clock))
    record = RunRecord(key="k", backbone="b", task="lapa", task_version="v", protocol="linear", seed=0, n_train=1,
                       selection_split="val", headline_metrics=["f1_mean", "f1_hair"],
                       metrics={"test": {"f1_mean": Metric(71.2345, "%", True)}})
    with caplog.at_level(logging.INFO, logger="farl_bench.progress"):
        grid.skipped("a")
        grid.start("b")
        grid.finish("b", record)  # 30 s; 30 s a cell x 2 left
        grid.start("c")
        grid.finish("c", None)  # 150 s (a process other than the main one: no record); 90 s a cell x 1 left
        grid.start("d")
        grid.finish("d", record)
    assert caplog.messages == [
        "[1/4] a: already in res/ (--force re-runs it)",
        "[2/4] b: started", "[2/4] b: f1_mean 71.23 (30 s; grid ETA 1 min)",
        "[3/4] c: started", "[3/4] c: (3 min; grid ETA 2 min)",
        "[4/4] d: started", "[4/4] d: f1_mean 71.23 (3 s; grid done)"]
    assert advanced == [1, 1, 1, 1]


def test_durations_read_in_seconds_minutes_or_hours() -> None:
    assert [duration(s) for s in (0.4, 42, 59.4, 89, 90, 3599, 7300)] == [
        "0 s", "42 s", "59 s", "1 min", "2 min", "1 h 00 min", "2 h 02 min"]


def test_version_and_h_for_help_on_every_command(cli) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and out == f"farl-bench {version('farl-bench')}\n"
    for command in (["-h"], ["run", "-h"], ["datasets", "synth", "-h"], ["cache", "ls", "-h"]):
        code, out, err = cli(*command)
        assert code == 0 and "Usage:" in out and "--help" in out, (command, err)
