import json

import pandas as pd
import pytest
import torch

SMALL = ["--set", "input_size=32", "--set", "protocols.linear.epochs=5"]


def run_args(root, results, *extra):
    return ("run", "--backbone", "pixels?grid=4", "--tasks", "celeba", "--data-root", root,
            "--results", results, *SMALL, *extra)


def test_run_records_cells_writes_tables_and_prints_the_leaderboard(cli, celeba_root, tmp_path):
    results = tmp_path / "results"
    code, out, err = cli(*run_args(celeba_root, results, "--backbone", "timm:resnet18", "--seeds", "0,1"))
    assert code == 0, err
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["backbone"] for r in records} == {"pixels?grid=4", "timm:resnet18"}
    r = records[0]
    assert r["selection_split"] == "val" and (r["n_train"], r["n_val"], r["n_test"]) == (60, 20, 20)
    assert r["metrics"]["test"]["acc_mean"]["unit"] == "%" and r["versions"]["torch"]
    assert len(r["backbone_fingerprint"]) == 64 and r["task_version"] and r["split_fingerprint"]
    wide = pd.read_csv(results / "leaderboard.csv")
    assert len(wide) == 2 and "celeba:acc_mean@1" in wide.columns
    assert "celeba:acc_mean@1" in out and "timm:resnet18" in out


def test_a_new_protocol_revision_re_runs_recorded_cells(cli, celeba_root, tmp_path, monkeypatch):
    from farl_bench.engine.linear import LinearProtocol

    results = tmp_path / "results"
    assert cli(*run_args(celeba_root, results))[0] == 0
    monkeypatch.setattr(LinearProtocol, "revision", LinearProtocol.revision + 1)
    code, out, _ = cli(*run_args(celeba_root, results))
    assert code == 0 and "1 new run(s), 0 already recorded" in out
    first, second = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert second["protocol_revision"] == first["protocol_revision"] + 1 and second["key"] != first["key"]


def test_recorded_cells_are_skipped_unless_forced(cli, celeba_root, tmp_path):
    results = tmp_path / "results"
    assert cli(*run_args(celeba_root, results))[0] == 0
    code, out, _ = cli(*run_args(celeba_root, results))
    assert code == 0 and "0 new run(s), 1 already recorded" in out
    assert cli(*run_args(celeba_root, results, "--force"))[0] == 0
    assert len((results / "runs.jsonl").read_text().splitlines()) == 2


def test_same_command_twice_gives_identical_metrics(cli, celeba_root, tmp_path):
    for name in ("a", "b"):
        assert cli(*run_args(celeba_root, tmp_path / name))[0] == 0
    metrics = [json.loads((tmp_path / n / "runs.jsonl").read_text())["metrics"] for n in ("a", "b")]
    assert metrics[0] == metrics[1]


@pytest.fixture
def deterministic_reset():
    """`--deterministic` switches a process-wide torch setting; put it back for the other tests."""
    yield
    torch.use_deterministic_algorithms(False)


def test_frozen_twice_gives_identical_metrics_and_records_the_determinism_settings(cli, celeba_root, tmp_path,
                                                                                  deterministic_reset):
    frozen = ("-p", "frozen", "--set", "protocols.frozen.epochs=2", "--set", "protocols.frozen.batch_size=16",
              "--deterministic")
    for name in ("a", "b"):
        assert cli(*run_args(celeba_root, tmp_path / name, *frozen))[0] == 0
    records = [json.loads((tmp_path / n / "runs.jsonl").read_text()) for n in ("a", "b")]
    assert records[0]["metrics"] == records[1]["metrics"]
    assert records[0]["selection_scores"] == records[1]["selection_scores"]
    settings = records[0]["determinism"]
    assert settings["seed"] == 0 and settings["deterministic_algorithms"] is True
    assert settings["torch_threads"] == torch.get_num_threads() and records[0]["processes"] == 1


def test_leaderboard_command_rebuilds_tables(cli, celeba_root, tmp_path):
    results = tmp_path / "results"
    cli(*run_args(celeba_root, results))
    (results / "leaderboard.csv").unlink()
    code, out, _ = cli("leaderboard", "--results", results)
    assert code == 0 and (results / "leaderboard.csv").exists() and "pixels?grid=4" in out


def assert_user_error(result, *fragments):
    code, out, err = result
    assert code == 2
    assert "Traceback" not in err and all(f in err for f in fragments), err


def test_unknown_backbone_kind_is_exit_2_with_suggestion(cli, celeba_root, tmp_path):
    assert_user_error(cli("run", "-b", "tim:resnet18", "-t", "celeba", "--data-root", celeba_root,
                          "--results", tmp_path), "unknown backbone kind 'tim'", "Did you mean timm")


def test_unknown_task_is_exit_2(cli, celeba_root, tmp_path):
    assert_user_error(cli("run", "-b", "pixels", "-t", "celebb", "--data-root", celeba_root,
                          "--results", tmp_path), "unknown task 'celebb'", "celeba")


def test_unknown_protocol_is_exit_2(cli, celeba_root, tmp_path):
    assert_user_error(cli("run", "-b", "pixels", "-t", "celeba", "-p", "linaer", "--data-root", celeba_root,
                          "--results", tmp_path), "unknown protocol 'linaer'", "Did you mean linear")


def test_missing_data_root_names_the_folder_and_the_options(cli, tmp_path):
    assert_user_error(cli("run", "-b", "pixels", "-t", "celeba", "--data-root", tmp_path / "nowhere",
                          "--results", tmp_path / "r"), "nowhere/CelebA does not exist", "--data-root")
    assert not (tmp_path / "r" / "runs.jsonl").exists()


def test_bad_fraction_and_bad_override_are_exit_2(cli, celeba_root, tmp_path):
    assert_user_error(cli(*run_args(celeba_root, tmp_path, "--fractions", "1.5")), "outside (0, 1]")
    assert_user_error(cli(*run_args(celeba_root, tmp_path, "--set", "input_sise=3")), "unknown key 'input_sise'")
    assert_user_error(cli(*run_args(celeba_root, tmp_path, "--set", "protocols.linear.epochs=-1")),
                      "protocols.linear.epochs")


def test_unknown_cli_option_is_exit_2(cli):
    code, _, err = cli("run", "--bakcbone", "pixels")
    assert code == 2 and "No such option" in err


def test_corrupt_image_stops_the_run_naming_the_file(cli, celeba_root, tmp_path):
    (celeba_root / "CelebA/img_align_celeba/000003.jpg").write_bytes(b"not a jpeg")
    assert_user_error(cli(*run_args(celeba_root, tmp_path / "r")), "000003.jpg cannot be decoded")
    assert not (tmp_path / "r" / "runs.jsonl").exists()


def test_list_prints_registered_names(cli):
    code, out, _ = cli("list", "backbones")
    assert code == 0 and "timm" in out and "pixels" in out
    code, out, _ = cli("list", "tasks")
    assert code == 0 and "celeba" in out and "acc_mean" in out


def test_skip_bad_drops_unreadable_images_and_counts_them(cli, celeba_root, tmp_path):
    (celeba_root / "CelebA/img_align_celeba/000003.jpg").write_bytes(b"not a jpeg")
    (celeba_root / "CelebA/img_align_celeba/000070.jpg").unlink()
    code, _, err = cli(*run_args(celeba_root, tmp_path / "r", "--skip-bad"))
    assert code == 0, err
    record = json.loads((tmp_path / "r" / "runs.jsonl").read_text())
    assert record["skipped_samples"] == {"unreadable file": 2}
    assert (record["n_train"], record["n_val"]) == (59, 19)


def test_select_on_test_is_recorded_and_kept_apart(cli, celeba_root, tmp_path):
    results = tmp_path / "r"
    assert cli(*run_args(celeba_root, results))[0] == 0
    assert cli(*run_args(celeba_root, results, "--select-on", "test"))[0] == 0
    records = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]
    assert [r["selection_split"] for r in records] == ["val", "test"]
    assert records[0]["key"] != records[1]["key"]


def test_backbone_info_prints_channels_and_strides(cli):
    code, out, _ = cli("backbone-info", "timm:resnet18", "--input-size", "64")
    assert code == 0 and "[64, 128, 256, 512]" in out and "[4, 8, 16, 32]" in out


def test_embed_writes_features_in_sorted_path_order(cli, celeba_root, tmp_path):
    import numpy as np

    images = celeba_root / "CelebA/img_align_celeba"
    code, _, err = cli("embed", "-b", "pixels?grid=2", "--images", images, "--out", tmp_path / "f.npy")
    assert code == 0, err
    feats = np.load(tmp_path / "f.npy")
    names = (tmp_path / "f.txt").read_text().split()
    assert feats.shape == (100, 12) and names == sorted(names) and names[0].endswith("000001.jpg")
