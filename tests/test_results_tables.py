import json

import pandas as pd
import pytest

from farl_bench.errors import UserError
from farl_bench.results.leaderboard import long_table, wide_table, write_tables
from farl_bench.results.store import append_record, iter_records, recorded_keys


def record(backbone="pixels", seed=0, value=50.0, version="v1", key=None, fraction=1.0):
    metric = {"value": value, "unit": "%", "higher_is_better": True}
    return {"key": key or f"{backbone}-{seed}-{version}-{fraction}", "backbone": backbone, "protocol": "linear",
            "task": "celeba", "task_version": version, "fraction": fraction, "seed": seed,
            "selection_split": "val", "n_train": 10, "headline_metrics": ["acc_mean"],
            "metrics": {"test": {"acc_mean": metric, "acc/Smiling": metric}}}


def test_append_then_read_round_trips_and_keys(tmp_path):
    append_record(tmp_path, record(seed=0))
    append_record(tmp_path, record(seed=1))
    assert [r["seed"] for r in iter_records(tmp_path)] == [0, 1]
    assert recorded_keys(tmp_path) == {"pixels-0-v1-1.0", "pixels-1-v1-1.0"}


def test_torn_last_line_is_dropped_with_a_warning(tmp_path, caplog):
    append_record(tmp_path, record())
    with open(tmp_path / "runs.jsonl", "a") as f:
        f.write('{"key": "half')
    assert len(list(iter_records(tmp_path))) == 1
    assert "torn" in caplog.text


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    (tmp_path / "runs.jsonl").write_text("garbage\n" + json.dumps(record()) + "\n")
    with pytest.raises(UserError, match=r"runs\.jsonl:1 is not a JSON record"):
        list(iter_records(tmp_path))


def test_long_table_has_one_row_per_metric_and_subset():
    long = long_table([record(), record(seed=1)])
    assert len(long) == 4 and set(long["metric"]) == {"acc_mean", "acc/Smiling"}
    assert long.loc[long.metric == "acc_mean", "headline"].all() and not long.loc[long.metric != "acc_mean", "headline"].any()


def test_wide_table_averages_seeds_and_sorts_best_first():
    wide = wide_table(long_table([record("a", 0, 40.0), record("a", 1, 60.0), record("b", 0, 70.0)]))
    assert list(wide.columns) == ["backbone", "protocol", "celeba:acc_mean@1"]
    assert wide["backbone"].tolist() == ["b", "a"] and wide["celeba:acc_mean@1"].tolist() == [70.0, 50.0]


def test_different_task_versions_never_share_a_cell():
    wide = wide_table(long_table([record("a", value=40.0, version="v1"), record("a", value=60.0, version="v2")]))
    assert {"celeba#v1:acc_mean@1", "celeba#v2:acc_mean@1"} <= set(wide.columns)


def test_fractions_get_their_own_columns():
    wide = wide_table(long_table([record(fraction=0.1, value=30.0), record(fraction=1.0, value=60.0)]))
    assert wide[["celeba:acc_mean@0.1", "celeba:acc_mean@1"]].values.tolist() == [[30.0, 60.0]]


def test_write_tables_writes_both_csvs(tmp_path):
    append_record(tmp_path, record())
    write_tables(tmp_path)
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2
    assert pd.read_csv(tmp_path / "leaderboard.csv")["celeba:acc_mean@1"].tolist() == [50.0]


def test_write_tables_without_records_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="no run records.*farl-bench run"):
        write_tables(tmp_path)
