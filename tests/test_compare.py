import math
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from farl_bench.errors import UserError
from farl_bench.results.compare import compare, junit, markdown, parse_tolerance, passed


def row(mean, std=math.nan, n_draws=1, ci=(math.nan, math.nan), backbone="b", metric="acc", higher=True,
        budget="1", version="v1", data="d1", headline=True):
    return {"backbone": backbone, "protocol": "linear", "task": "t", "budget": budget, "subset": "test",
            "metric": metric, "mean": mean, "std": std, "ci_low": ci[0], "ci_high": ci[1], "n_draws": n_draws,
            "unit": "%", "higher_is_better": higher, "headline": headline, "task_version": version,
            "data_fingerprint": data}


def status(base, cand, **kw):
    return compare(pd.DataFrame([base]), pd.DataFrame([cand]), **kw)["status"].tolist()


def test_auto_tolerance_is_twice_the_combined_std_over_draws():
    base = row(80.0, std=3.0, n_draws=3)
    # 2 x sqrt(3^2 + 4^2) = 10
    assert status(base, row(70.5, std=4.0, n_draws=3)) == ["same"]
    assert status(base, row(69.5, std=4.0, n_draws=3)) == ["worse"]
    assert status(base, row(90.5, std=4.0, n_draws=3)) == ["better"]


def test_single_draws_use_the_bootstrap_half_widths():
    base = row(80.0, ci=(77.0, 83.0))  # half-width 3; with 4: sqrt(9 + 16) = 5
    assert status(base, row(75.5, ci=(71.5, 79.5))) == ["same"]
    assert status(base, row(74.5, ci=(70.5, 78.5))) == ["worse"]


def test_lower_is_better_metrics_regress_upwards():
    base = row(5.0, ci=(4.9, 5.1), metric="nme", higher=False)
    assert status(base, row(5.5, ci=(5.4, 5.6), metric="nme", higher=False)) == ["worse"]
    assert status(base, row(4.5, ci=(4.4, 4.6), metric="nme", higher=False)) == ["better"]


def test_the_floor_keeps_noiseless_numbers_from_flapping():
    verdict = compare(pd.DataFrame([row(80.0)]), pd.DataFrame([row(79.95)]))
    assert verdict["status"].tolist() == ["same"] and verdict["basis"].tolist() == ["floor"]
    assert status(row(80.0), row(79.0)) == ["worse"]


def test_a_number_that_became_nan_is_worse():
    assert status(row(80.0), row(math.nan)) == ["worse"]
    assert status(row(math.nan), row(math.nan)) == ["same"]


def test_a_fixed_tolerance_ignores_the_noise():
    base = row(80.0, std=10.0, n_draws=3)
    assert status(base, row(78.0, std=10.0, n_draws=3), tolerance=1.0) == ["worse"]


def test_missing_and_incomparable_numbers_fail_the_gate():
    base = pd.DataFrame([row(80.0), row(70.0, budget="0.5")])
    verdict = compare(base, pd.DataFrame([row(80.0, version="v2")]))
    assert verdict["status"].tolist() == ["incomparable", "missing"] and not passed(verdict)
    assert status(row(80.0), row(80.0, data="d2")) == ["incomparable"]


def test_only_headline_numbers_are_gated():
    base = pd.DataFrame([row(80.0), row(50.0, metric="acc/x", headline=False)])
    assert compare(base, pd.DataFrame([row(80.0), row(10.0, metric="acc/x")]))["metric"].tolist() == ["acc"]


def test_backbones_pair_by_name_by_being_alone_or_by_pairs():
    base = pd.DataFrame([row(80.0, backbone="old")])
    assert compare(base, pd.DataFrame([row(70.0, backbone="new")]))["status"].tolist() == ["worse"]
    two = pd.DataFrame([row(80.0, backbone="x"), row(60.0, backbone="y")])
    assert compare(two, pd.DataFrame([row(60.0, backbone="y")]))["status"].tolist() == ["missing", "same"]
    verdict = compare(two, pd.DataFrame([row(60.0, backbone="z")]), pairs=["x => z"])
    assert verdict[["backbone", "candidate_backbone", "status"]].values.tolist() == [["x", "z", "worse"]]
    with pytest.raises(UserError, match="'q' is not in the candidate"):
        compare(two, pd.DataFrame([row(60.0, backbone="z")]), pairs=["x => q"])
    with pytest.raises(UserError, match="is not 'BASELINE => CANDIDATE'"):
        compare(two, two, pairs=["x"])


@pytest.mark.parametrize("text, value", [("auto", None), ("0.5", 0.5), ("0", 0.0)])
def test_tolerance_text(text, value):
    assert parse_tolerance(text) == value


@pytest.mark.parametrize("text", ["-1", "loose", "nan"])
def test_bad_tolerance_is_refused(text):
    with pytest.raises(UserError, match="--tolerance"):
        parse_tolerance(text)


def test_reports_name_each_number_and_fail_the_regressions():
    verdict = compare(pd.DataFrame([row(80.0), row(50.0, budget="0.5")]),
                      pd.DataFrame([row(70.0), row(50.0, budget="0.5")]))
    text = markdown(verdict)
    assert text.startswith("**farl-bench compare: FAIL** (1 worse, 1 same)")
    assert "| worse | t:acc@1 (linear, b) | 80.000 | 70.000 | -10.000 |" in text
    suite = ET.fromstring(junit(verdict))
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failed = [case.get("name") for case in suite if case.find("failure") is not None]
    assert failed == ["t:acc@1 (linear, b)"]


def test_compare_cli_exit_codes(cli, tmp_path):
    pd.DataFrame([row(80.0)]).to_csv(tmp_path / "base.csv", index=False)
    pd.DataFrame([row(80.0)]).to_csv(tmp_path / "same.csv", index=False)
    pd.DataFrame([row(60.0)]).to_csv(tmp_path / "worse.csv", index=False)
    assert cli("compare", "--baseline", tmp_path / "base.csv", "--candidate", tmp_path / "same.csv")[0] == 0
    code, out, _ = cli("compare", "--baseline", tmp_path / "base.csv", "--candidate", tmp_path / "worse.csv",
                       "--junit", tmp_path / "j.xml", "--markdown", tmp_path / "m.md")
    assert code == 1 and "worse" in out and (tmp_path / "j.xml").exists() and "FAIL" in (tmp_path / "m.md").read_text()
    pd.DataFrame([{"a": 1}]).to_csv(tmp_path / "other.csv", index=False)
    code, _, err = cli("compare", "--baseline", tmp_path / "base.csv", "--candidate", tmp_path / "other.csv")
    assert code == 2 and "lacks column(s) backbone" in err
    code, _, err = cli("compare", "--baseline", tmp_path / "nope.csv", "--candidate", tmp_path / "same.csv")
    assert code == 2 and "is not a file" in err
