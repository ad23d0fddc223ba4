"""Demographic slices: per-group values, worst group, and the gap with its within-group bootstrap
interval, checked against a numpy re-implementation on hand-made groups; then end to end through
`farl-bench run`, the long table, `leaderboard --slices` and the report."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from farl_bench.data.records import FaceRecord
from farl_bench.families.base import ArrayScorer, Metric
from farl_bench.results.slices import MIN_FACES, group_rows, group_subsets, slice_scores, subset_name

# group -> (faces, faces predicted right): accuracies 90%, 75%, 50%, and a small group at 0%
GROUPS = {"a": (40, 36), "b": (40, 30), "c": (40, 20), "d": (10, 0)}
B = 200


def _accuracy(pred: np.ndarray, target: np.ndarray) -> dict[str, Metric]:
    return {"acc": Metric(float((pred == target).mean() * 100), "%", True),
            "err": Metric(float((pred != target).mean()), "fraction", False)}


def _hits(right: int, n: int) -> np.ndarray:
    """1 where the face was predicted right, first `right` faces, as the scorers are filled."""
    return (np.arange(n) < right).astype(int)


def _scorers() -> dict[str, ArrayScorer]:
    scorers = {}
    for value, (n, right) in GROUPS.items():
        scorer = ArrayScorer(_accuracy)
        scorer.update(list(_hits(right, n)), [1] * n)
        scorers[subset_name("race", value)] = scorer
    return scorers


def _groups() -> dict[str, dict[str, list[int]]]:
    return {"race": {value: list(range(n)) for value, (n, _) in GROUPS.items()}}  # slice_scores reads sizes


def _numpy_gap_interval(metric: str) -> tuple[float, float]:
    """Within-group resamples drawn as slices.py documents: one generator per attribute seeded
    [0, *sizes]; per replicate every group's rows in turn; the gap over groups of >= 30 faces."""
    rng = np.random.default_rng([0, *(n for n, _ in GROUPS.values())])
    gaps = []
    for _ in range(B):
        values = {}
        for value, (n, right) in GROUPS.items():
            wrong = 1 - _hits(right, n)[rng.integers(0, n, n)]
            values[value] = (1 - wrong.mean()) * 100 if metric == "acc" else wrong.mean()
        big = [values[v] for v, (n, _) in GROUPS.items() if n >= MIN_FACES]
        gaps.append(max(big) - min(big))
    low, high = np.percentile(gaps, [2.5, 97.5])
    return float(low), float(high)


def test_gap_and_worst_group_are_over_groups_of_enough_faces_and_small_ones_are_flagged():
    slices, _ = slice_scores(_scorers(), _groups(), B)
    race = slices["race"]
    assert race["sizes"] == {"a": 40, "b": 40, "c": 40, "d": 10} and race["small"] == ["d"]
    acc = race["metrics"]["acc"]
    assert [acc["groups"][v]["value"] for v in "abcd"] == [90.0, 75.0, 50.0, 0.0]  # d reported, not hidden
    assert acc["worst"] == "c" and acc["gap"] == pytest.approx(40.0)  # d (0%) is too small to be the worst
    err = race["metrics"]["err"]  # lower is better: the worst group has the highest error
    assert err["worst"] == "c" and err["gap"] == pytest.approx(0.4)


@pytest.mark.parametrize("metric", ["acc", "err"])
def test_gap_interval_matches_a_numpy_within_group_bootstrap(metric):
    slices, replicates = slice_scores(_scorers(), _groups(), B)
    entry = slices["race"]["metrics"][metric]
    low, high = _numpy_gap_interval(metric)
    assert (entry["gap_ci_low"], entry["gap_ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert entry["gap_ci_low"] < entry["gap"] < entry["gap_ci_high"]
    assert replicates["gap/race"][metric].shape == (B,)  # kept for the tables' intervals over draws
    # each group's own interval: its resampled accuracies, e.g. 90% of 40 faces spans about +-9 points
    a = entry["groups"]["a"]
    assert a["ci_low"] < entry["groups"]["a"]["value"] < a["ci_high"]


def test_one_group_of_enough_faces_has_a_worst_group_but_no_gap_and_no_bootstrap_gives_no_intervals():
    scorers = _scorers()
    groups = {"race": {"a": list(range(40)), "d": list(range(10))}}
    slices, replicates = slice_scores(scorers, groups, 0)
    acc = slices["race"]["metrics"]["acc"]
    assert acc["worst"] == "a" and acc["gap"] is None and acc["groups"]["a"]["ci_low"] is None
    assert replicates == {}


def test_groups_follow_the_meta_order_then_others_sorted_and_faces_without_a_value_are_in_none():
    faces = [FaceRecord(f"f{i}", Path("x.jpg"), groups=g) for i, g in enumerate([
        {"gender": "male", "race": "white"}, {"gender": "female"}, {"race": "asian"}, {},
        {"gender": "female", "race": "black", "age": "old"}])]
    groups = group_rows(faces, {"groups": {"race": ["white", "black", "asian"], "gender": ["female", "male"]}})
    assert list(groups) == ["race", "gender", "age"]
    assert groups["race"] == {"white": [0], "black": [4], "asian": [2]}
    assert groups["gender"] == {"female": [1, 4], "male": [0]}
    assert group_subsets(groups)["age=old"] == [4]
    assert group_rows(faces[3:4], {}) == {}


# ---- end to end: a hand-made CelebA whose test faces carry groups ----------------------------------

def _with_groups(monkeypatch) -> None:
    """The CelebA reader, its test faces put in two groups of 35 faces by row and one of 5."""
    from farl_bench.registry import DATASETS

    reader = DATASETS.get("celeba")
    read = reader.read

    def read_with_groups(self, root):
        data = read(self, root)
        test = [replace(r, groups={"site": "north" if i < 35 else "south" if i < 70 else "east"})
                for i, r in enumerate(data.split("test"))]
        data.splits["test"] = test
        data.meta["groups"] = {"site": ["south", "north", "east"]}
        return data

    monkeypatch.setattr(reader, "read", read_with_groups)


@pytest.fixture
def grouped_run(tmp_path, cli, monkeypatch):
    from helpers import write_celeba

    write_celeba(tmp_path / "data", n=(40, 10, 75))
    _with_groups(monkeypatch)
    results = tmp_path / "results"
    args = ("--tasks", "celeba", "--protocol", "linear", "--data-root", tmp_path / "data",
            "--set", "input_size=32", "--bootstrap", "50", "--results", results, "--device", "cpu")
    code, _, err = cli("run", "--backbone", "pixels", *args)
    assert code == 0, err
    return results, args


def test_a_run_records_slices_without_changing_its_metrics_or_key(grouped_run, cli, tmp_path, monkeypatch):
    results, args = grouped_run
    record = json.loads((results / "runs.jsonl").read_text().splitlines()[0])
    site = record["slices"]["site"]
    assert site["sizes"] == {"south": 35, "north": 35, "east": 5} and site["small"] == ["east"]
    acc = site["metrics"]["acc_mean"]
    values = [acc["groups"][v]["value"] for v in ("north", "south")]
    assert acc["gap"] == pytest.approx(max(values) - min(values))
    assert record["subset_sizes"] == {"test": 75} and set(record["metrics"]) == {"test"}
    # the same cell without groups: the same key and the same metrics, no slices
    monkeypatch.undo()  # the reader reads plain CelebA again
    code, _, err = cli("run", "--backbone", "pixels", *args[:-4], "--results", tmp_path / "plain", "--device", "cpu")
    assert code == 0, err
    plain = json.loads((tmp_path / "plain" / "runs.jsonl").read_text().splitlines()[0])
    assert plain["key"] == record["key"] and plain["metrics"] == record["metrics"] and plain["slices"] is None


def test_long_table_has_group_and_gap_rows_and_the_wide_one_gap_columns_only_with_slices(grouped_run, cli):
    results, _ = grouped_run
    code, _, err = cli("leaderboard", "--results", results)
    assert code == 0, err
    long = pd.read_csv(results / "results.csv")
    plain_wide = pd.read_csv(results / "leaderboard.csv")
    rows = long[long["metric"] == "acc_mean"].set_index("subset")
    assert {"site=north", "site=south", "site=east", "gap/site"} <= set(rows.index)
    assert rows.loc["site=east", "n_test"] == 5 and not rows.loc["gap/site", "headline"]
    assert rows.loc["gap/site", "mean"] == pytest.approx(abs(rows.loc["site=north", "mean"]
                                                             - rows.loc["site=south", "mean"]))
    assert rows.loc["gap/site", "ci_low"] <= rows.loc["gap/site", "mean"] <= rows.loc["gap/site", "ci_high"]
    assert not any("gap/" in c for c in plain_wide.columns)
    code, out, err = cli("leaderboard", "--results", results, "--slices")
    assert code == 0, err
    wide = pd.read_csv(results / "leaderboard.csv")
    gap_columns = [c for c in wide.columns if "gap/" in c]
    assert gap_columns == ["celeba[gap/site]:acc_mean@1", "celeba[gap/site]:bacc_mean@1"]
    assert wide[gap_columns[0]].iloc[0] == pytest.approx(rows.loc["gap/site", "mean"], abs=0.005)
    pd.testing.assert_frame_equal(wide[list(plain_wide.columns)], plain_wide)  # headline columns and ranks as before


def test_the_report_draws_one_slice_chart_per_task(grouped_run):
    from farl_bench.results.report import write_report

    results, _ = grouped_run
    page = write_report(results, results / "report").read_text()
    section = page.split("<h2>Demographic slices</h2>", 1)[1].split("<h2>", 1)[0]
    assert section.count("<img") == 1 and "celeba acc_mean per group" in section and "fewer than 30" in section
