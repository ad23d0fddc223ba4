"""The results folder's integrity: records written whole, once per key, with their side files or not at all;
merges all or nothing; failed runs leave nothing; older runs.jsonl files still load."""
import errno
import json
import os
import threading
import time
from pathlib import Path

import pytest
from helpers import write_celeba

from farl_bench.errors import UserError
from farl_bench.results.leaderboard import long_table, write_tables
from farl_bench.results.merge import merge
from farl_bench.results.record import RunRecord
from farl_bench.results.store import (_locked, append_record, bootstrap_file, check_writable, iter_records,
                                      runs_path)

OLD_RUNS = Path(__file__).parent / "data" / "runs_before_runrecord.jsonl"
TINY = ("-t", "celeba", "--set", "input_size=16", "--set", "protocols.linear.epochs=1",
        "--set", "protocols.linear.lrs=[0.01]", "--set", "protocols.linear.weight_decays=[0.0]", "--bootstrap", "5")


def record(key: str = "k0", value: float = 50.0, **fields) -> RunRecord:
    return RunRecord.model_validate({
        "key": key, "backbone": "pixels", "task": "celeba", "task_version": "v1", "protocol": "linear", "seed": 0,
        "fraction": 1.0, "n_train": 10, "selection_split": "val", "headline_metrics": ["acc_mean"],
        "metrics": {"test": {"acc_mean": {"value": value, "unit": "%", "higher_is_better": True}}}, **fields})


def snapshot(folder: Path) -> dict[str, bytes] | None:
    """Every file under `folder` with its bytes (None: no folder)."""
    if not folder.exists():
        return None
    return {p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else b"<dir>" for p in folder.rglob("*")}


# --- appending ------------------------------------------------------------------------------------

def test_a_complete_last_record_that_lost_its_newline_is_kept_when_the_next_is_appended(tmp_path, caplog):
    append_record(tmp_path, record("a"))
    os.truncate(runs_path(tmp_path), runs_path(tmp_path).stat().st_size - 1)  # truncate -s -1 runs.jsonl
    append_record(tmp_path, record("b"))
    text = runs_path(tmp_path).read_text()
    assert [json.loads(line)["key"] for line in text.splitlines()] == ["a", "b"] and text.endswith("}\n")
    assert "torn" not in caplog.text


def test_a_last_line_that_does_not_parse_is_dropped_when_the_next_is_appended(tmp_path, caplog):
    append_record(tmp_path, record("a"))
    with open(runs_path(tmp_path), "a") as f:
        f.write('{"key": "half')
    append_record(tmp_path, record("b"))
    assert [r.key for r in iter_records(tmp_path)] == ["a", "b"] and "dropping a torn last line" in caplog.text


def test_many_writers_of_one_key_at_once_leave_one_record(tmp_path):
    start = threading.Barrier(8)
    outcomes = []

    def write(value: float) -> None:
        start.wait()
        outcomes.append(append_record(tmp_path, record("same", value), {bootstrap_file("same"): b"%f" % value}))

    threads = [threading.Thread(target=write, args=(float(v),)) for v in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (only,) = iter_records(tmp_path)
    assert sorted(outcomes) == [False] * 7 + [True]
    assert (tmp_path / bootstrap_file("same")).read_bytes() == b"%f" % only.metrics["test"]["acc_mean"].value


def test_forced_records_are_appended_even_when_their_key_is_there(tmp_path):
    append_record(tmp_path, record("a", 1.0))
    assert append_record(tmp_path, record("a", 2.0), once=False)
    assert [r.metrics["test"]["acc_mean"].value for r in iter_records(tmp_path)] == [1.0, 2.0]


def test_a_writer_that_waited_while_the_runs_file_was_removed_writes_to_the_new_one(tmp_path):
    with _locked(tmp_path):
        writer = threading.Thread(target=append_record, args=(tmp_path, record("b")))
        writer.start()
        time.sleep(0.3)  # the writer now waits for the lock on the file about to go
        runs_path(tmp_path).unlink()
    writer.join()
    assert [r.key for r in iter_records(tmp_path)] == ["b"]


def test_a_failed_first_write_leaves_no_folder_and_no_side_file(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "write", lambda fd, data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(UserError, match="cannot write results to"):
        append_record(tmp_path / "new" / "results", record(), {bootstrap_file("k0"): b"x"})
    assert not (tmp_path / "new").exists()


def test_a_failed_write_leaves_an_existing_folder_byte_identical(tmp_path, monkeypatch):
    append_record(tmp_path, record("a"), {"splits/celeba/1-0.txt": b"id1\n"})
    before = snapshot(tmp_path)
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, data[:5]))  # the disk fills up mid-line
    with pytest.raises(UserError, match="No space left"):
        append_record(tmp_path, record("b"), {"splits/celeba/1-0.txt": b"id2\n", bootstrap_file("b"): b"x"})
    assert snapshot(tmp_path) == before


def test_no_lock_file_is_made_and_checking_creates_nothing(tmp_path):
    check_writable(tmp_path / "a" / "b")
    assert not (tmp_path / "a").exists()
    append_record(tmp_path / "r", record())
    write_tables(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "draws.csv", "leaderboard.csv", "leaderboard.md", "results.csv", "runs.jsonl"]


# --- merging -----------------------------------------------------------------------------------------

def test_merge_copies_records_and_side_files_once(tmp_path):
    for name, keys in (("s1", "ab"), ("s2", "bc")):
        for key in keys:
            append_record(tmp_path / name, record(key, bootstrap={"file": bootstrap_file(key), "replicates": 1,
                                                                  "seed": 0}), {bootstrap_file(key): key.encode()})
    assert merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "all") == (3, 1)
    assert [r.key for r in iter_records(tmp_path / "all")] == ["a", "b", "c"]
    assert (tmp_path / "all" / bootstrap_file("c")).read_bytes() == b"c"


@pytest.mark.parametrize("target_exists", [True, False])
def test_a_merge_with_a_corrupt_source_leaves_the_destination_as_it_was(tmp_path, target_exists):
    append_record(tmp_path / "good", record("g"), {bootstrap_file("g"): b"g"})
    append_record(tmp_path / "bad", record("b1"))
    append_record(tmp_path / "bad", record("b2"))
    lines = runs_path(tmp_path / "bad").read_text().splitlines()
    runs_path(tmp_path / "bad").write_text(f"{lines[0]}\n{lines[1][:40]}\n{lines[1]}\n")  # a torn middle line
    if target_exists:
        append_record(tmp_path / "into", record("old"))
    before = snapshot(tmp_path / "into")
    with pytest.raises(UserError, match=r"bad/runs\.jsonl:2 is not a JSON record"):
        merge([tmp_path / "good", tmp_path / "bad"], tmp_path / "into")
    assert snapshot(tmp_path / "into") == before


def test_a_merge_whose_write_fails_is_undone(tmp_path, monkeypatch):
    append_record(tmp_path / "src", record("a", split_manifest="splits/celeba/1-0.txt"),
                  {"splits/celeba/1-0.txt": b"id\n"})
    append_record(tmp_path / "into", record("old"))
    before = snapshot(tmp_path / "into")
    monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(UserError, match="I/O error"):
        merge([tmp_path / "src"], tmp_path / "into")
    assert snapshot(tmp_path / "into") == before


# --- records ------------------------------------------------------------------------------------------

def test_records_written_before_run_record_load_and_round_trip_with_their_keys(tmp_path):
    lines = OLD_RUNS.read_text().splitlines()
    runs_path(tmp_path).write_text(OLD_RUNS.read_text())
    records = list(iter_records(tmp_path))
    assert [r.backbone_spec for r in records] == ["pixels?grid=2"] * 2 and {r.weights for r in records} == {None}
    for line, r in zip(lines, records):
        assert json.loads(r.to_json()) == {**json.loads(line), "backbone_spec": "pixels?grid=2", "weights": None,
                                           "slices": None, "predictions": None, "trainable_params": None,
                                           "adapter": None}
    long = long_table(records)
    assert set(long["task"]) == {"celeba", "lapa"} and long["n_draws"].eq(1).all()


def test_keys_this_version_does_not_know_are_kept(tmp_path):
    fields = {**json.loads(record().to_json()), "from_the_future": {"x": [1, 2]}}
    runs_path(tmp_path).write_text(json.dumps(fields) + "\n")
    (loaded,) = iter_records(tmp_path)
    assert json.loads(loaded.to_json()) == fields


def test_a_line_that_is_json_but_no_record_is_an_error_naming_line_and_field(tmp_path):
    runs_path(tmp_path).write_text(record().to_json() + "\n" + json.dumps({"key": "x", "seed": "zero"}) + "\n")
    with pytest.raises(UserError, match=r"runs\.jsonl:2 is not a run record \(backbone: Field required\)"):
        list(iter_records(tmp_path))


# --- whole runs ---------------------------------------------------------------------------------------

def test_a_labelled_run_truncated_then_resumed_keeps_its_record_and_key(cli, tmp_path):
    data = write_celeba(tmp_path / "data", n=(8, 4, 4)).parent
    results = tmp_path / "results"
    code, _, err = cli("run", "-b", "p2=pixels?grid=2", *TINY, "--data-root", data, "--results", results)
    assert code == 0, err
    (first,) = iter_records(results)
    assert (first.backbone, first.backbone_spec, first.weights) == ("p2", "pixels?grid=2", "none")  # no parameters
    os.truncate(runs_path(results), runs_path(results).stat().st_size - 1)
    code, out, err = cli("run", "-b", "pixels?grid=2", *TINY, "--seeds", "0,1", "--data-root", data,
                         "--results", results)
    assert code == 0 and "1 new run(s), 1 already recorded" in out and "torn" not in err, err
    records = list(iter_records(results))
    assert records[0] == first and [r.backbone for r in records] == ["p2", "pixels?grid=2"]
    assert not list(results.glob("*.lock")) and not list(results.rglob(".*.tmp"))


def test_a_run_that_fails_leaves_no_folder_manifest_or_lock(cli, tmp_path, monkeypatch):
    from farl_bench.engine import runner

    data = write_celeba(tmp_path / "data", n=(8, 4, 4)).parent

    def broken(*args, **kwargs):
        raise UserError("scoring broke")

    monkeypatch.setattr(runner, "_score_test", broken)
    append_record(tmp_path / "old", record())
    before = snapshot(tmp_path / "old")
    for results in (tmp_path / "new", tmp_path / "old"):
        code, _, err = cli("run", "-b", "pixels?grid=2", *TINY, "--data-root", data, "--results", results)
        assert code == 2 and "scoring broke" in err
    assert not (tmp_path / "new").exists() and snapshot(tmp_path / "old") == before
