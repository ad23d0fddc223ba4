import numpy as np
import pytest

from farl_bench.families.base import ArrayScorer, Metric, Scorer
from farl_bench.results.leaderboard import long_table
from farl_bench.results.stats import bootstrap, encode_replicates, interval
from farl_bench.results.store import bootstrap_file, write_atomic


def mean_scorer(values):
    scorer = ArrayScorer(lambda p, t: {"acc": Metric(float(np.mean(p == t) * 100), "%", True),
                                       "acc/a": Metric(0.0, "%", True)})
    scorer.update(list(values), [1] * len(values))
    return scorer


def test_bootstrap_gives_replicates_of_summary_metrics_only():
    reps = bootstrap(mean_scorer([1, 0, 1, 1]), 4, 50)
    assert list(reps) == ["acc"] and reps["acc"].shape == (50,)
    assert set(np.unique(reps["acc"])) <= {0.0, 25.0, 50.0, 75.0, 100.0}


def test_bootstrap_resamples_depend_only_on_the_number_of_faces():
    """Two runs on one test subset see the same resamples: the replicates are paired."""
    a = bootstrap(mean_scorer([1, 1, 0, 0, 0]), 5, 30)["acc"]
    b = bootstrap(mean_scorer([0, 0, 1, 1, 1]), 5, 30)["acc"]
    np.testing.assert_allclose(a + b, 100.0)  # complementary faces, same rows


def test_bootstrap_of_parsing_resums_per_image_confusion_matrices():
    from farl_bench.families.parsing import ParsingScorer

    scorer = ParsingScorer(["bg", "skin"])
    masks = [np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8), np.eye(4, dtype=np.uint8)]
    scorer.update([np.ones((4, 4), np.uint8)] * 3, masks)
    assert scorer.resample(np.array([1, 1]))["f1_mean"].value == pytest.approx(100.0)
    assert scorer.resample(np.array([0, 2]))["f1_mean"].value == pytest.approx(200 * 4 / (32 + 4))  # pred=skin: 32 px, gt=skin: 4
    assert scorer.compute()["f1_mean"].value == scorer.resample(np.arange(3))["f1_mean"].value


def test_a_scorer_that_cannot_resample_gets_no_interval():
    class Plain(Scorer):
        def compute(self):
            return {"x": Metric(1.0, "%", True)}

    assert bootstrap(Plain(), 10, 100) == {}


def test_interval_is_taken_over_the_mean_of_the_draws_replicates():
    low, high = interval([np.arange(101.0), np.arange(101.0) + 100])
    assert (low, high) == pytest.approx((52.5, 147.5))
    assert np.isnan(interval([np.arange(5.0), None])[0])
    assert np.isnan(interval([np.arange(5.0), np.arange(6.0)])[0])


def record(results, seed=0, value=50.0, version="v1", data="d1", budget="0.5", key=None, reps=None):
    key = key or f"{seed}-{version}-{data}-{budget}-{value}"
    file = bootstrap_file(key) if reps is not None else None
    if file:
        write_atomic(results / file, encode_replicates({"test": {"acc": np.asarray(reps, np.float32)}}))
    metric = {"value": value, "unit": "%", "higher_is_better": True}
    return {"key": key, "backbone": "b", "protocol": "linear", "task": "t", "task_version": version,
            "data_fingerprint": data, "selection_split": "val", "budget": budget, "fraction": 0.5, "shots": None,
            "seed": seed, "split_fingerprint": f"s{seed}", "n_train": 10, "subset_sizes": {"test": 4},
            "headline_metrics": ["acc"],
            "bootstrap": {"file": file, "replicates": len(reps), "seed": 0} if file else None,
            "metrics": {"test": {"acc": metric, "acc/a": metric}}}


def test_aggregate_gives_mean_std_draws_and_the_interval(tmp_path):
    records = [record(tmp_path, 0, 40.0, reps=[30, 40, 50]), record(tmp_path, 1, 60.0, reps=[50, 60, 70])]
    row = long_table(records, tmp_path).set_index("metric").loc["acc"]
    assert (row["mean"], row["n_draws"], row["seeds"]) == (50.0, 2, "0,1")
    assert row["std"] == pytest.approx(np.std([40, 60], ddof=1))
    assert row["ci_low"] == pytest.approx(np.percentile([40, 50, 60], 2.5))
    assert np.isnan(long_table(records, tmp_path).set_index("metric").loc["acc/a", "ci_low"])


def test_other_settings_or_data_are_never_averaged_together(tmp_path):
    records = [record(tmp_path, 0, 40.0), record(tmp_path, 1, 60.0, version="v2"), record(tmp_path, 2, 80.0, data="d2")]
    long = long_table(records)
    assert sorted(long.loc[long.metric == "acc", "mean"]) == [40.0, 60.0, 80.0]
    assert set(long["n_draws"]) == {1}


def test_the_latest_record_of_a_draw_wins(tmp_path):
    records = [record(tmp_path, 0, 40.0, key="old"), record(tmp_path, 0, 70.0, key="new"), record(tmp_path, 1, 50.0)]
    row = long_table(records).set_index("metric").loc["acc"]
    assert (row["mean"], row["n_draws"]) == (60.0, 2)
