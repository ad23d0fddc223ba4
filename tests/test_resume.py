"""Results survive SIGKILL at any point and many writers at once: real `python -m farl_bench` processes."""
import json
import signal
import time
from pathlib import Path

import pytest
from helpers import cli_process, write_celeba

from farl_bench.results.leaderboard import DRAWS_CSV

TINY = ("-b", "pixels?grid=2", "-t", "celeba", "--set", "input_size=16", "--set", "protocols.linear.epochs=3",
        "--set", "protocols.linear.lrs=[0.01]", "--set", "protocols.linear.weight_decays=[0.0]",
        "--set", "protocols.frozen.epochs=2", "--set", "protocols.frozen.batch_size=4")
#: 8 cells: linear and frozen x fractions 0.5 and 1 x seeds 0 and 1.
GRID = (*TINY, "-p", "linear,frozen", "--fractions", "0.5,1", "--seeds", "0,1")
N_CELLS = 8
#: Where each run is killed: once this many records exist, after this many seconds more. The
#: first is at start-up; the others land in different cells (and phases) of the sweep.
KILL_POINTS = [(0, 0.0), (1, 0.0), (2, 0.05), (4, 0.0), (5, 0.02), (7, 0.0)]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    write_celeba(tmp_path / "data", n=(16, 8, 8))
    return tmp_path / "data"


TORN = '{"key": "torn", "metr'


def lines(results: Path) -> list[str]:
    """The lines of runs.jsonl, less a torn last line this test left there."""
    path = results / "runs.jsonl"
    text = path.read_text().splitlines() if path.exists() else []
    return text[:-1] if text and text[-1] == TORN else text


def metrics_by_key(results: Path) -> dict[str, dict]:
    return {r["key"]: r["metrics"] for r in map(json.loads, lines(results))}


def kill_when(proc, results: Path, records: int, delay: float) -> bool:
    """SIGKILL `proc` once `records` records exist (+ delay); False if it finished first."""
    while proc.poll() is None and len(lines(results)) < records:
        time.sleep(0.01)
    time.sleep(delay)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def test_sweep_killed_at_six_points_and_resumed_equals_an_uninterrupted_run(data, tmp_path):
    reference = cli_process("run", *GRID, "--data-root", data, "--results", tmp_path / "reference")
    results = tmp_path / "resumed"
    kills = 0
    for records, delay in KILL_POINTS:
        proc = cli_process("run", *GRID, "--data-root", data, "--results", results, stderr=tmp_path / "err.txt")
        kills += kill_when(proc, results, records, delay)
        assert all(json.loads(line) for line in lines(results))  # every line whole, none glued to TORN
        assert len(metrics_by_key(results)) == len(lines(results))  # no cell recorded twice
        if records == 2:  # a torn line, as a crash mid-write on a network filesystem leaves one
            with open(results / "runs.jsonl", "a") as f:
                f.write(TORN)
    assert kills >= 5, "the sweep finished before most kill points: make it longer"
    final = cli_process("run", *GRID, "--data-root", data, "--results", results, stderr=tmp_path / "err.txt")
    assert final.wait() == 0, (tmp_path / "err.txt").read_text()
    assert reference.wait() == 0
    assert len(lines(results)) == N_CELLS and TORN not in (results / "runs.jsonl").read_text()
    assert metrics_by_key(results) == metrics_by_key(tmp_path / "reference")
    assert (results / "results.csv").read_text() == (tmp_path / "reference" / "results.csv").read_text()


def test_eight_concurrent_writers_lose_no_row(data, tmp_path):
    results = tmp_path / "shared"
    procs = [cli_process("run", *TINY, "--fractions", "0.5,1", "--seeds", seed, "--data-root", data,
                         "--results", results, stderr=tmp_path / f"err{seed}.txt") for seed in range(8)]
    for seed, proc in enumerate(procs):
        assert proc.wait() == 0, (tmp_path / f"err{seed}.txt").read_text()
    records = [json.loads(line) for line in lines(results)]
    assert sorted((r["seed"], r["fraction"]) for r in records) == [(s, f) for s in range(8) for f in (0.5, 1.0)]
    assert len({r["key"] for r in records}) == 16
    # Every process rewrote the tables; the last one written must hold every record.
    draws = (results / DRAWS_CSV).read_text()
    assert all(r["key"] in draws for r in records)
