"""Sharding a grid (`run --shard i/N`) and submitting the shards (`sweep`, submitit's local executor)."""
import json

import pytest
from helpers import write_celeba

from farl_bench.errors import UserError
from farl_bench.launch import shard_command
from farl_bench.plan import expand, parse_shard, shard

GRID = ("-b", "pixels?grid=2", "-t", "celeba", "--fractions", "0.5,1", "--seeds", "0,1", "--set", "input_size=16",
        "--set", "protocols.linear.epochs=2")


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_shards_are_disjoint_contiguous_and_cover_the_grid(n):
    cells = expand(["pixels", "pixels?grid=2"], ["celeba"], ["linear"], [0.5, 1.0], [0, 1])
    parts = [shard(cells, i, n) for i in range(n)]
    assert [c for part in parts for c in part] == cells  # in grid order: each cell exactly once
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("text", ["2/2", "-1/2", "1", "a/b", "0/0"])
def test_bad_shard_is_a_user_error_with_an_example(text):
    with pytest.raises(UserError, match="--shard 0/4"):
        parse_shard(text)


def test_shard_command_runs_under_torchrun_for_several_gpus():
    assert shard_command(["-t", "celeba"], 1, 4, gpus=1)[-5:] == ["run", "-t", "celeba", "--shard", "1/4"]
    assert "--nproc_per_node=4" in shard_command([], 0, 2, gpus=4)


def test_sweep_runs_every_shard_into_one_results_folder(cli, tmp_path):
    root = write_celeba(tmp_path / "data", n=(16, 8, 8)).parent
    results = tmp_path / "results"
    code, out, err = cli("sweep", "--shards", "3", "--launcher", "local", "--wait", *GRID, "--data-root", root,
                         "--results", results)
    assert code == 0, err
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert sorted((r["fraction"], r["seed"]) for r in records) == [(0.5, 0), (0.5, 1), (1.0, 0), (1.0, 1)]
    assert len(list((results / "jobs").glob("*_log.err"))) == 3 and "celeba:acc_mean" in out
    code, out, _ = cli("run", *GRID, "--data-root", root, "--results", results, "--shard", "1/3")
    assert code == 0 and "0 new run(s), 1 already recorded" in out  # shards merged by cell key


def test_sweep_refuses_a_shard_option_and_bad_run_options_before_submitting(cli, tmp_path):
    results = tmp_path / "results"
    code, _, err = cli("sweep", "--shards", "2", "--launcher", "local", *GRID, "--results", results, "--shard", "0/2")
    assert code == 2 and "sweep sets --shard itself" in err
    code, _, err = cli("sweep", "--shards", "2", "--launcher", "local", *GRID, "--results", results, "--bakcbone", "x")
    assert code == 2 and "No such option" in err
    assert not results.exists()  # no job folder: nothing was submitted


def test_slurm_launcher_without_slurm_says_where_to_submit_from(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    code, _, err = cli("sweep", "--shards", "2", *GRID, "--results", tmp_path / "results")
    assert code == 2 and "no sbatch here" in err and "--launcher local" in err


def test_shards_in_separate_folders_merge_by_cell_key_with_their_side_files(cli, tmp_path):
    root = write_celeba(tmp_path / "data", n=(16, 8, 8)).parent
    for i in range(2):
        code, _, err = cli("run", *GRID, "--data-root", root, "--results", tmp_path / f"r{i}", "--shard", f"{i}/2",
                           "--bootstrap", "20")
        assert code == 0, err
    code, out, err = cli("merge", tmp_path / "r0", tmp_path / "r1", "--into", tmp_path / "all")
    assert code == 0 and "4 record(s) merged" in out, err
    records = [json.loads(line) for line in (tmp_path / "all" / "runs.jsonl").read_text().splitlines()]
    assert len({r["key"] for r in records}) == 4
    assert all((tmp_path / "all" / r["bootstrap"]["file"]).is_file() for r in records)
    assert all((tmp_path / "all" / r["split_manifest"]).is_file() for r in records)
    code, out, _ = cli("merge", tmp_path / "r1", "--into", tmp_path / "all")
    assert code == 0 and "0 record(s) merged into" in out and "2 already there" in out
    code, _, err = cli("merge", tmp_path / "nothing", "--into", tmp_path / "all")
    assert code == 2 and "holds no runs.jsonl" in err
