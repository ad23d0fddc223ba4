"""Published numbers: every built-in entry names a task and a metric of its family, in our unit and range;
they show beside measured rows (leaderboard, report, `list published`), marked and never ranked."""
from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from farl_bench.errors import UserError
from farl_bench.published import PUBLISHED, load_published, unit_of, value_range

FARL = "FaRL ViT-B/16 [LAION-Face 20M, ep16]"


def record(backbone: str, value: float, task: str = "celeba", metric: str = "acc_mean", fraction: float = 1.0,
           higher_is_better: bool = True) -> dict:
    score = {"value": value, "unit": "%", "higher_is_better": higher_is_better}
    return {"key": f"{backbone}-{task}-{fraction}", "backbone": backbone, "protocol": "linear", "task": task,
            "task_version": "v1", "fraction": fraction, "seed": 0, "selection_split": "val", "n_train": 10,
            "headline_metrics": [metric], "metrics": {"test": {metric: score}}}


def test_every_entry_names_a_task_and_a_metric_of_its_family_within_the_metric_range():
    from farl_bench.tasks import load_task, make_family, task_names

    numbers = load_published()
    assert len(numbers) >= 13 and {n.method for n in numbers} >= {"FaRL", "MCF", "SwinFace"}
    for n in numbers:
        assert n.task in task_names()
        assert any(fnmatchcase(n.metric, p) for p in make_family(load_task(n.task)).metric_names(None))
        low, high = value_range(n.metric)
        assert low <= n.value <= high and n.source.read_at and n.source.paper
    # PROTOCOLS.md's FaRL numbers, in our units (NME x 100 as our scorers give it) and subset names
    farl = {(n.task, n.subset, n.metric): n.value for n in numbers if n.model == FARL}
    assert farl[("300w", "challenging", "nme_io")] == 4.45 and farl[("aflw19", "frontal", "nme_diag")] == 0.821
    assert farl[("aflw19", "test", "auc@0.07_box_farl")] == 81.34  # FaRL's 0.0701 grid: our `_farl` variant
    assert [n.value for n in load_published("rafdb")] == [90.97]


def test_units_are_those_the_scorers_give():
    from farl_bench.families.metrics.age import age_scores
    from farl_bench.families.metrics.expression import expression_scores
    from farl_bench.families.metrics.landmarks import landmark_scores

    gt = np.array([[[0.0, 0.0], [10.0, 0.0]], [[0.0, 0.0], [8.0, 0.0]]])
    scores = {**age_scores(np.array([20.0, 30.0]), np.array([22.0, 29.0]), np.array([3.0, 4.0])),
              **expression_scores(np.array([0, 1]), np.array([0, 0]), ["a", "b"]),
              **landmark_scores(gt + 0.5, gt, None, {"io": {"type": "points", "a": [0], "b": [1]}}, {"io": 0.1})}
    assert {"mae", "eps_error", "cs@5", "acc/a", "nme_io", "auc@0.10_io_farl"} <= set(scores)
    assert {name: unit_of(name) for name in scores} == {name: m.unit for name, m in scores.items()}
    assert value_range("nme_io") == (0, np.inf) and value_range("f1_mean") == (0, 100)
    assert value_range("eps_error") == (0, 1)


def write(folder: Path, entries: str, defaults: str = "") -> Path:
    base = ("  method: M\n  backbone: B\n  pretraining: P\n  protocol: finetune\n  budget: 1\n"
            "  source: {paper: X, table: T, read_at: here}\n")
    (folder / "x.yaml").write_text(f"defaults:\n{base}{defaults}entries:\n{entries}")
    return folder


@pytest.mark.parametrize("entry, message", [
    ("  - {task: nope, metric: acc, value: 1}", "unknown task 'nope'"),
    ("  - {task: rafdb, metric: f1_mean, value: 1}", "'f1_mean' is not a metric of the expression family"),
    ("  - {task: lapa, metric: f1_mean, value: 150}", r"value 150.0 is outside 0.0..100.0 \(%\)"),
    ("  - {task: lapa, metric: f1_mean, value: 90, budget: full}", "entry 1: key 'budget'"),
    ("  - {task: lapa, metric: f1_mean, value: 90, protocol: magic}", "protocol 'magic' is not one of"),
    ("  - {task: lapa, metric: f1_mean, value: 90, colour: red}", "entry 1: key 'colour'"),
    ("  - {task: lapa, metric: f1_mean, value: 90}\n  - {task: lapa, metric: f1_mean, value: 91, budget: 1.0}",
     "entry 2 repeats entry 1 of x.yaml"),
])
def test_a_bad_entry_is_one_error_naming_its_file_and_position(tmp_path, entry, message):
    with pytest.raises(UserError, match=message) as err:
        load_published(folder=write(tmp_path, entry + "\n"))
    assert str(tmp_path / "x.yaml") in str(err.value) and "\n" not in str(err.value)


def test_budgets_are_written_as_our_tables_write_them(tmp_path):
    entries = ("  - {task: lapa, metric: f1_mean, value: 90, budget: 1.0}\n"
               "  - {task: lapa, metric: f1_mean, value: 80, budget: 0.10}\n"
               "  - {task: rafdb, metric: acc, value: 70, budget: 5shot}\n")
    numbers = load_published(folder=write(tmp_path, entries))
    assert [(n.budget, n.fraction, n.shots) for n in numbers] == [("1", 1.0, None), ("0.1", 0.1, None),
                                                                   ("5shot", None, 5)]


def test_published_rows_follow_the_measured_ones_marked_and_never_ranked_or_bold():
    from farl_bench.results.leaderboard import long_table, markdown_table, wide_table

    long = long_table([record("a", 80.0), record("b", 90.0)])
    plain, wide = wide_table(long), wide_table(long, load_published())
    assert wide["backbone"].tolist() == ["b", "a", FARL]  # only models with a number in these columns
    published = wide.iloc[2]
    assert published["weights"] == PUBLISHED and published["celeba:acc_mean@1"] == 91.39
    assert np.isnan(published["avg_rank"]) and "PROTOCOLS.md" in published["source"]
    pd.testing.assert_frame_equal(wide.iloc[:2].drop(columns="source"), plain)  # ranks as without them
    text = markdown_table(long, load_published())
    assert f"| {FARL} (published) | finetune | 91.39 | – |" in text and "**90.00**" in text
    assert "never ranked" in text and "**91.39**" not in text
    assert markdown_table(long) == markdown_table(long, [])


def test_cli_lists_published_numbers_of_a_task(cli):
    code, out, _ = cli("list", "published", "--task", "300w")
    assert code == 0 and "challenging" in out and "4.45" in out and "5 published number(s)" in out
    code, _, err = cli("list", "published", "--task", "w300")
    assert code == 2 and "unknown task 'w300'" in err and err.count("\n") == 1


def test_cli_leaderboard_published_writes_and_prints_the_marked_rows(cli, tmp_path):
    from farl_bench.results.record import RunRecord
    from farl_bench.results.store import append_record

    for r in (record("a", 80.0), record("b", 90.0)):
        append_record(tmp_path, RunRecord.model_validate(r))
    code, out, _ = cli("leaderboard", "--results", tmp_path, "--published")
    assert code == 0 and f"{FARL} (published)" in out and "91.39" in out and "FaRL, CVPR 2022" in out
    wide = pd.read_csv(tmp_path / "leaderboard.csv")
    assert wide["backbone"].tolist() == ["b", "a", FARL] and wide["weights"].tolist()[2:] == [PUBLISHED]
    assert wide["celeba:acc_mean@1"].tolist() == [90.0, 80.0, 91.39] and "PROTOCOLS.md" in wide["source"].iloc[2]
    code, out, _ = cli("leaderboard", "--results", tmp_path)
    assert code == 0 and "(published)" not in out and "source" not in pd.read_csv(tmp_path / "leaderboard.csv")


def test_report_marks_published_rows_and_draws_them_where_the_budget_matches(tmp_path):
    from farl_bench.results.record import RunRecord
    from farl_bench.results.report import _references, write_report
    from farl_bench.results.store import append_record

    for fraction, value in ((0.5, 40.0), (1.0, 50.0)):
        append_record(tmp_path, RunRecord.model_validate(record("a", value, "lapa", "f1_mean", fraction)))
    page = write_report(tmp_path, tmp_path / "report", published=True).read_text()
    assert f"{FARL} (published)</td>" in page and "<i>93.88</i>" in page and "black marks: published" in page
    plain = write_report(tmp_path, tmp_path / "plain").read_text()
    assert "(published)" not in plain and "black marks" not in plain
    numbers = load_published("lapa")
    marks = _references(numbers, "lapa", "f1_mean", "fraction", pd.Series([0.5, 1.0]))
    assert sorted(value for _, _, value in marks) == [93.86, 93.88, 93.96, 94.01] and {x for _, x, _ in marks} == {1.0}
    assert _references(numbers, "lapa", "f1_mean", "fraction", pd.Series([0.1, 0.5])) == []
    assert _references(numbers, "lapa", "f1_background", "fraction", pd.Series([1.0])) == []
