"""`farl_bench.evaluate()`: the plan `farl-bench run` runs, with the same cell keys, records and resume,
returning the long results table."""
import json

import pandas as pd
import pytest

import farl_bench
from farl_bench.errors import UserError

SETTINGS = {"overrides": {"input_size": 32, "protocols.linear.epochs": 3}, "bootstrap": 0}
CLI_SETTINGS = ("--set", "input_size=32", "--set", "protocols.linear.epochs=3", "--bootstrap", "0")


def records(results) -> dict[str, dict]:
    return {r["key"]: r for r in map(json.loads, (results / "runs.jsonl").read_text().splitlines())}


def test_evaluate_makes_the_records_of_the_cli_and_resumes_from_them(cli, celeba_root, tmp_path):
    code, _, err = cli("run", "-b", "pixels,pixels?grid=4", "-t", "celeba", "--fractions", "0.5", "--seeds", "0",
                       "--data-root", celeba_root, "--results", tmp_path / "cli", *CLI_SETTINGS)
    assert code == 0, err

    long = farl_bench.evaluate(["pixels", "pixels?grid=4"], "celeba", fractions=[0.5], seeds="0",
                               data_root=celeba_root, results=tmp_path / "api", **SETTINGS)

    by_cli, by_api = records(tmp_path / "cli"), records(tmp_path / "api")
    assert len(by_api) == 2 and by_api.keys() == by_cli.keys()
    for key, record in by_api.items():
        assert record["metrics"] == by_cli[key]["metrics"] and record["hparams"] == by_cli[key]["hparams"]
        assert record["device"] == "cpu"  # --device auto, resolved and recorded
    assert set(long["backbone"]) == {"pixels", "pixels?grid=4"} and set(long["budget"]) == {0.5}
    for record in by_api.values():  # the long table holds the records' numbers
        row = long[(long["backbone"] == record["backbone"]) & (long["metric"] == "acc_mean")]
        assert row["mean"].tolist() == [pytest.approx(record["metrics"]["test"]["acc_mean"]["value"])]

    # the CLI's folder: every cell is recorded already, so nothing runs and the table is the CLI's
    again = farl_bench.evaluate("pixels,pixels?grid=4", "celeba", "linear", fractions="0.5", seeds=0,
                                data_root=celeba_root, results=tmp_path / "cli", **SETTINGS)
    assert records(tmp_path / "cli") == by_cli
    pd.testing.assert_frame_equal(again, pd.read_csv(tmp_path / "cli" / "results.csv"))


def test_evaluate_names_an_unknown_setting_and_a_bad_number(celeba_root, tmp_path):
    with pytest.raises(UserError, match=r"^evaluate\(\): unknown setting 'devcie'; did you mean 'device'\?$"):
        farl_bench.evaluate("pixels", "celeba", data_root=celeba_root, results=tmp_path, devcie="cpu")
    with pytest.raises(UserError, match=r"^evaluate\(\): fractions='half': expected numbers"):
        farl_bench.evaluate("pixels", "celeba", data_root=celeba_root, results=tmp_path, fractions="half")
    with pytest.raises(UserError, match="--device tpu is not a device"):
        farl_bench.evaluate("pixels", "celeba", data_root=celeba_root, results=tmp_path / "r", device="tpu")
    assert not (tmp_path / "r").exists()
