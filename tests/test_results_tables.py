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


def test_long_table_has_one_row_per_metric_and_subset_aggregated_over_draws():
    long = long_table([record(), record(seed=1)])
    assert len(long) == 2 and set(long["metric"]) == {"acc_mean", "acc/Smiling"} and set(long["n_draws"]) == {2}
    assert long.loc[long.metric == "acc_mean", "headline"].all() and not long.loc[long.metric != "acc_mean", "headline"].any()


def test_wide_table_averages_seeds_and_sorts_best_first():
    wide = wide_table(long_table([record("a", 0, 40.0), record("a", 1, 60.0), record("b", 0, 70.0)]))
    assert list(wide.columns) == ["backbone", "protocol", "celeba:acc_mean@1", "avg_rank"]
    assert wide["backbone"].tolist() == ["b", "a"] and wide["celeba:acc_mean@1"].tolist() == [70.0, 50.0]


def test_average_rank_is_over_columns_and_respects_lower_is_better():
    nme = {"value": 5.0, "unit": "%", "higher_is_better": False}
    records = [record("a", value=80.0), record("b", value=90.0), record("b", value=70.0, fraction=0.5),
               record("a", value=60.0, fraction=0.5)]
    records.append({**record("a", value=1.0, key="a-nme"), "task": "wflw", "headline_metrics": ["nme"],
                    "metrics": {"test": {"nme": {**nme, "value": 3.0}}}})
    records.append({**record("b", value=1.0, key="b-nme"), "task": "wflw", "headline_metrics": ["nme"],
                    "metrics": {"test": {"nme": {**nme, "value": 4.0}}}})
    wide = wide_table(long_table(records)).set_index("backbone")
    # a: 2nd at celeba@1, 2nd at celeba@0.5, 1st at wflw (lower nme); b: 1st, 1st, 2nd
    assert wide.loc["a", "avg_rank"] == pytest.approx(5 / 3) and wide.loc["b", "avg_rank"] == pytest.approx(4 / 3)


def test_markdown_shows_mean_and_std_over_draws():
    from farl_bench.results.leaderboard import markdown_table

    text = markdown_table(long_table([record("a", 0, 40.0, fraction=0.5), record("a", 1, 60.0, fraction=0.5),
                                      record("a", 0, 70.0)]))
    header, rule, row = text.splitlines()
    assert header == "| backbone | protocol | celeba:acc_mean@0.5 | celeba:acc_mean@1 | avg_rank |"
    assert row == "| a | linear | 50.00 ± 14.14 | 70.00 | 1.00 |"


def test_shots_columns_follow_fractions_in_order():
    records = [record(fraction=1.0), {**record(key="s10"), "fraction": None, "shots": 10, "budget": "10shot"},
               {**record(key="s5"), "fraction": None, "shots": 5, "budget": "5shot"},
               record(fraction=0.01, key="f")]
    assert list(wide_table(long_table(records)).columns[2:-1]) == [
        "celeba:acc_mean@0.01", "celeba:acc_mean@1", "celeba:acc_mean@5shot", "celeba:acc_mean@10shot"]


def test_different_task_versions_never_share_a_cell():
    wide = wide_table(long_table([record("a", value=40.0, version="v1"), record("a", value=60.0, version="v2")]))
    assert {"celeba#v1:acc_mean@1", "celeba#v2:acc_mean@1"} <= set(wide.columns)


def test_fractions_get_their_own_columns():
    wide = wide_table(long_table([record(fraction=0.1, value=30.0), record(fraction=1.0, value=60.0)]))
    assert wide[["celeba:acc_mean@0.1", "celeba:acc_mean@1"]].values.tolist() == [[30.0, 60.0]]


def test_write_tables_writes_the_csvs_and_the_markdown(tmp_path):
    append_record(tmp_path, record())
    write_tables(tmp_path)
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2 and len(pd.read_csv(tmp_path / "draws.csv")) == 2
    assert pd.read_csv(tmp_path / "leaderboard.csv")["celeba:acc_mean@1"].tolist() == [50.0]
    assert "| pixels | linear | 50.00 | 1.00 |" in (tmp_path / "leaderboard.md").read_text()


def test_write_tables_without_records_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="no run records.*farl-bench run"):
        write_tables(tmp_path)
