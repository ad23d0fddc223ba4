import json

import pandas as pd
import pytest

from farl_bench.errors import UserError
from farl_bench.results.leaderboard import long_table, wide_table, write_tables
from farl_bench.results.record import RunRecord
from farl_bench.results.store import append_record, iter_records, recorded_keys


def record(backbone="pixels", seed=0, value=50.0, version="v1", key=None, fraction=1.0):
    metric = {"value": value, "unit": "%", "higher_is_better": True}
    return {"key": key or f"{backbone}-{seed}-{version}-{fraction}", "backbone": backbone, "protocol": "linear",
            "task": "celeba", "task_version": version, "fraction": fraction, "seed": seed,
            "selection_split": "val", "n_train": 10, "headline_metrics": ["acc_mean"],
            "metrics": {"test": {"acc_mean": metric, "acc/Smiling": metric}}}


def test_append_then_read_round_trips_and_keys(tmp_path):
    append_record(tmp_path, RunRecord.model_validate(record(seed=0)))
    append_record(tmp_path, RunRecord.model_validate(record(seed=1)))
    assert [r.seed for r in iter_records(tmp_path)] == [0, 1]
    assert recorded_keys(tmp_path) == {"pixels-0-v1-1.0", "pixels-1-v1-1.0"}


def test_torn_last_line_is_dropped_with_a_warning(tmp_path, caplog):
    append_record(tmp_path, RunRecord.model_validate(record()))
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
    assert list(wide.columns) == ["backbone", "protocol", "weights", "celeba:acc_mean@1", "avg_rank", "avg_rank_over"]
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
    header, rule, row, _, note = text.splitlines()
    assert header == "| backbone | protocol | celeba:acc_mean@0.5 ↑ | celeba:acc_mean@1 ↑ | avg_rank ↓ |"
    assert row == "| a | linear | 50.00 ± 14.14 | 70.00 | 1.00 |"
    assert note.endswith("(linear: all 2 column(s)).")


def test_shots_columns_follow_fractions_in_order():
    records = [record(fraction=1.0), {**record(key="s10"), "fraction": None, "shots": 10, "budget": "10shot"},
               {**record(key="s5"), "fraction": None, "shots": 5, "budget": "5shot"},
               record(fraction=0.01, key="f")]
    assert list(wide_table(long_table(records)).columns[3:-2]) == [
        "celeba:acc_mean@0.01", "celeba:acc_mean@1", "celeba:acc_mean@5shot", "celeba:acc_mean@10shot"]


def test_different_task_versions_never_share_a_cell():
    wide = wide_table(long_table([record("a", value=40.0, version="v1"), record("a", value=60.0, version="v2")]))
    assert {"celeba#v1:acc_mean@1", "celeba#v2:acc_mean@1"} <= set(wide.columns)


def test_fractions_get_their_own_columns():
    wide = wide_table(long_table([record(fraction=0.1, value=30.0), record(fraction=1.0, value=60.0)]))
    assert wide[["celeba:acc_mean@0.1", "celeba:acc_mean@1"]].values.tolist() == [[30.0, 60.0]]


def test_write_tables_writes_the_csvs_and_the_markdown(tmp_path):
    append_record(tmp_path, RunRecord.model_validate(record()))
    write_tables(tmp_path)
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2 and len(pd.read_csv(tmp_path / "draws.csv")) == 2
    assert pd.read_csv(tmp_path / "leaderboard.csv")["celeba:acc_mean@1"].tolist() == [50.0]
    assert "| pixels | linear | 50.00 | 1.00 |" in (tmp_path / "leaderboard.md").read_text()


def test_write_tables_without_records_says_what_to_do(tmp_path):
    with pytest.raises(UserError, match="no run records.*farl-bench run"):
        write_tables(tmp_path)


def nme_record(backbone, value, **kw):
    nme = {"value": value, "unit": "%", "higher_is_better": False}
    return {**record(backbone, key=f"{backbone}-nme-{value}", **kw), "task": "wflw", "headline_metrics": ["nme"],
            "metrics": {"test": {"nme": nme}}}


def test_tables_are_the_same_bytes_whatever_order_the_records_came_in(tmp_path):
    # values whose float sums depend on the order they are added in: (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)
    records = [record(b, seed, value, fraction=f) for b in ("b", "a") for f in (0.5, 1.0)
               for seed, value in enumerate((0.1, 0.2, 0.3))]
    records += [nme_record("b", 3.0), nme_record("a", 4.0), {**record("c", key="c"), "protocol": "knn"}]
    orders = {"forward": records, "backward": records[::-1], "interleaved": records[1::2] + records[::2]}
    for name, order in orders.items():
        for r in order:
            append_record(tmp_path / name, RunRecord.model_validate(r))
        write_tables(tmp_path / name)
    for table in ("draws.csv", "results.csv", "leaderboard.csv", "leaderboard.md"):
        assert (tmp_path / "forward" / table).read_bytes() == (tmp_path / "backward" / table).read_bytes() \
            == (tmp_path / "interleaved" / table).read_bytes(), table
    long = pd.read_csv(tmp_path / "forward" / "results.csv")
    assert long["backbone"].tolist()[:3] == ["a"] * 3 and long["protocol"].tolist()[-1] == "knn"


def test_average_rank_is_only_over_the_columns_every_ranked_backbone_has():
    # b lacks celeba@0.5, so a's win there must not count: both are ranked on celeba@1 alone
    records = [record("a", value=80.0), record("b", value=90.0), record("a", value=60.0, fraction=0.5),
               nme_record("a", 3.0), nme_record("b", 4.0)]
    wide = wide_table(long_table(records)).set_index("backbone")
    # a: 2nd at celeba@1, 1st at wflw (lower nme); b: 1st, 2nd; celeba@0.5 left out
    assert wide.loc["a", "avg_rank"] == 1.5 and wide.loc["b", "avg_rank"] == 1.5
    assert wide.loc["a", "avg_rank_over"] == "celeba:acc_mean@1; wflw:nme@1"
    from farl_bench.results.leaderboard import markdown_table

    assert markdown_table(long_table(records)).rstrip().endswith("(linear: celeba:acc_mean@1, wflw:nme@1).")


def test_a_protocol_is_ranked_among_its_own_backbones_only():
    records = [record("a", value=80.0), record("b", value=90.0),
               {**record("c", value=10.0, key="c"), "protocol": "knn"}]
    wide = wide_table(long_table(records))
    assert wide[["backbone", "protocol", "avg_rank"]].values.tolist() == [
        ["c", "knn", 1.0], ["b", "linear", 1.0], ["a", "linear", 2.0]]


def test_the_best_of_each_column_is_bold_in_the_direction_of_its_metric():
    from farl_bench.results.leaderboard import markdown_table

    records = [record("a", value=80.0), record("b", value=90.0), nme_record("a", 3.0), nme_record("b", 4.0)]
    header, _, first, second = markdown_table(long_table(records)).splitlines()[:4]
    assert header == "| backbone | protocol | celeba:acc_mean@1 ↑ | wflw:nme@1 ↓ | avg_rank ↓ |"
    assert first == "| a | linear | 80.00 | **3.00** | 1.50 |" and second == "| b | linear | **90.00** | 4.00 | 1.50 |"


def test_equal_values_at_two_decimals_are_both_bold():
    from farl_bench.results.leaderboard import markdown_table

    text = markdown_table(long_table([record("a", value=80.001), record("b", value=80.004), record("c", value=70.0)]))
    assert text.count("**80.00**") == 2 and "**70.00**" not in text


def test_a_random_init_backbone_is_marked_in_every_leaderboard():
    from farl_bench.results.leaderboard import markdown_table

    records = [{**record("r", value=40.0), "weights": "random-init"},
               {**record("h", value=60.0), "weights": "hub timm/resnet18.a1_in1k@0123abc " + "f" * 64},
               record("old", value=50.0),
               {**record("pixels", value=45.0), "weights": "random-init", "backbone_params": 0}]
    long = long_table(records)
    wide = wide_table(long).set_index("backbone")
    assert wide["weights"].to_dict() == {"h": "hub", "old": "unknown", "pixels": "none", "r": "random-init"}
    text = markdown_table(long)
    assert "| r (random init) | linear |" in text and "| h | linear |" in text and "| old | linear |" in text
    assert "| pixels | linear |" in text  # no parameters, so nothing random to mark


def test_task_versions_count_within_a_protocol():
    """Each protocol's cells have their own task version: linear and finetune at one setting share a column."""
    records = [record("a", version="lin"), {**record("a", key="ft", version="ft"), "protocol": "finetune"}]
    assert list(wide_table(long_table(records)).columns[3:-2]) == ["celeba:acc_mean@1"]


def test_nothing_is_bold_where_every_backbone_ties():
    from farl_bench.results.leaderboard import markdown_table

    assert "**" not in markdown_table(long_table([record("a", value=80.0), record("b", value=80.0)]))
