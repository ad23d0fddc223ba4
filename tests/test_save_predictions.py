"""`run --save-predictions`: each cell's test predictions in the format `farl-bench score` reads,
beside its record; scoring that file reproduces the record's test metrics exactly, in every family."""
from __future__ import annotations

import gzip
import json

import pytest

from farl_bench.scoring import score

# task -> its family: one of each
TASKS = {"celeba": "attributes", "lapa": "parsing", "aflw19": "landmarks", "appa_real": "age", "rafdb": "expression"}
FIELDS = {"attributes": "attributes", "parsing": "mask", "landmarks": "landmarks", "age": "age",
          "expression": "expression"}


@pytest.fixture(scope="module")
def saved(synthetic_root, tmp_path_factory):
    """One linear run of every task with --save-predictions (pixels, 32 px, no bootstrap)."""
    from farl_bench.engine.runner import RunOptions, run_cells
    from farl_bench.plan import expand
    from farl_bench.progress import no_bars

    results = tmp_path_factory.mktemp("saved")
    options = RunOptions(synthetic_root, results, {"input_size": 32}, bootstrap=0, save_predictions=True)
    records = run_cells(expand(["pixels"], list(TASKS), ["linear"], [], [0], [], None), options, no_bars)
    return results, {r.task: r for r in records}


@pytest.mark.parametrize("task", list(TASKS))
def test_scoring_the_saved_predictions_reproduces_the_record_exactly(saved, synthetic_root, task):
    results, records = saved
    record = records[task]
    assert record.predictions == f"predictions/{record.key}.jsonl.gz"
    scored = score(task, results / record.predictions, synthetic_root, {"input_size": 32})
    assert scored.keys() == record.metrics.keys()
    for subset, metrics in record.metrics.items():
        assert {m: v.value for m, v in metrics.items()} == {m: v["value"] for m, v in scored[subset].items()}


@pytest.mark.parametrize("task", ["celeba", "lapa"])
def test_one_line_per_test_face_with_its_id_field_and_groups(saved, task):
    results, records = saved
    record = records[task]
    lines = gzip.decompress((results / record.predictions).read_bytes()).decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == record.n_test and len({r["id"] for r in rows}) == record.n_test
    assert all(set(r) == {"id", FIELDS[TASKS[task]], "groups"} for r in rows)
    if task == "lapa":  # masks as {class id: COCO RLE} at the label map's size
        mask = rows[0]["mask"]
        assert all(set(rle) == {"size", "counts"} and isinstance(rle["counts"], str) for rle in mask.values())


def test_without_the_option_no_predictions_are_written(synthetic_root, tmp_path, cli):
    code, _, err = cli("run", "--backbone", "pixels", "--tasks", "rafdb", "--data-root", synthetic_root, "--set",
                       "input_size=32", "--bootstrap", "0", "--results", tmp_path / "r", "--device", "cpu")
    assert code == 0, err
    record = json.loads((tmp_path / "r" / "runs.jsonl").read_text())
    assert record["predictions"] is None and not (tmp_path / "r" / "predictions").exists()


def test_the_cli_option_writes_the_file_named_in_the_record(synthetic_root, tmp_path, cli):
    code, _, err = cli("run", "--backbone", "pixels", "--tasks", "rafdb", "--data-root", synthetic_root, "--set",
                       "input_size=32", "--bootstrap", "0", "--results", tmp_path / "r", "--device", "cpu",
                       "--save-predictions")
    assert code == 0, err
    record = json.loads((tmp_path / "r" / "runs.jsonl").read_text())
    assert (tmp_path / "r" / record["predictions"]).is_file()
    code, out, err = cli("score", "--task", "rafdb", "--data-root", synthetic_root, "--set", "input_size=32",
                         "--predictions", tmp_path / "r" / record["predictions"])
    assert code == 0, err
