"""Low-data runs end to end: shots, given manifests, exported manifests, FaRL's repeat rule."""
import hashlib
import json

import pytest

SMALL = ["--set", "input_size=32", "--set", "protocols.linear.epochs=2", "--set", "protocols.linear.lrs=[0.01]",
         "--set", "protocols.linear.weight_decays=[0.0]"]


def run(cli, root, results, *extra):
    code, out, err = cli("run", "-b", "pixels?grid=2", "-t", "celeba", "--data-root", root, "--results", results,
                         "--bootstrap", "20", *SMALL, *extra)
    return code, out, err


def records(results):
    return [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines()]


def test_shots_runs_record_the_budget_and_publish_the_manifest(cli, celeba_root, tmp_path):
    code, _, err = run(cli, celeba_root, tmp_path / "r", "--shots", "2", "--seeds", "0")
    assert code == 0, err
    (r,) = records(tmp_path / "r")
    assert (r["budget"], r["shots"], r["fraction"]) == ("2shot", 2, None)
    manifest = tmp_path / "r" / r["split_manifest"]
    assert r["split_manifest"] == "splits/celeba/2shot-0.txt"
    assert hashlib.sha256(manifest.read_bytes()).hexdigest() == r["split_fingerprint"]
    assert len(manifest.read_text().split()) == r["n_train"] and 2 <= r["n_train"] <= 12  # 2 of each of 3 x 2 values


def test_a_given_manifest_trains_on_exactly_its_ids(cli, celeba_root, tmp_path):
    (tmp_path / "m.txt").write_text("000001.jpg\n000002.jpg\n000003.jpg\n000004.jpg\n")
    code, _, err = run(cli, celeba_root, tmp_path / "r", "--split-manifest", tmp_path / "m.txt")
    assert code == 0, err
    (r,) = records(tmp_path / "r")
    assert r["n_train"] == 4 and r["budget"].startswith("manifest-") and r["seed"] == 0
    assert r["split_fingerprint"] == hashlib.sha256((tmp_path / "m.txt").read_bytes()).hexdigest()


def test_a_manifest_naming_a_test_face_is_exit_2(cli, celeba_root, tmp_path):
    (tmp_path / "m.txt").write_text("000001.jpg\n000099.jpg\n")  # 000099 is in the test split
    code, _, err = run(cli, celeba_root, tmp_path / "r", "--split-manifest", tmp_path / "m.txt")
    assert code == 2 and "not in the training split: 000099.jpg" in err
    code, _, err = run(cli, celeba_root, tmp_path / "r", "--split-manifest", tmp_path / "m.txt", "--fractions", "0.5")
    assert code == 2 and "leave out --fractions" in err


def test_splits_export_writes_the_manifests_a_run_uses(cli, celeba_root, tmp_path):
    code, out, err = cli("splits", "export", "-t", "celeba", "--fractions", "0.5", "--shots", "1",
                         "--data-root", celeba_root, "--results", tmp_path / "pub")
    assert code == 0, err
    index = (tmp_path / "pub" / "splits" / "index.csv").read_text().splitlines()
    assert len(index) == 1 + 6 and index[1].startswith("celeba,celeba,0.5,0,30,60,")  # 3 seeds x 2 budgets
    assert run(cli, celeba_root, tmp_path / "r", "--fractions", "0.5", "--seeds", "1")[0] == 0
    published = (tmp_path / "pub" / "splits" / "celeba" / "0.5-1.txt").read_text()
    assert published == (tmp_path / "r" / "splits" / "celeba" / "0.5-1.txt").read_text()
    assert hashlib.sha256(published.encode()).hexdigest() == records(tmp_path / "r")[0]["split_fingerprint"]


def test_repeat_to_size_gives_each_face_an_even_share_and_its_own_augmentation():
    from farl_bench.engine.trainer import RepeatToSize

    class Faces:
        def __len__(self):
            return 3

        def item(self, i, draw):
            return i, draw

    epoch = RepeatToSize(Faces(), 8)
    items = [epoch[j] for j in range(len(epoch))]
    assert len(epoch) == 8 and [face for face, _ in items].count(2) == 2 and [face for face, _ in items].count(0) == 3
    assert len({draw for _, draw in items}) == 8


@pytest.mark.parametrize("repeat, steps", [(True, 6), (False, 2)])
def test_finetune_on_a_quarter_takes_as_many_steps_as_on_all_the_data(celeba_root, tmp_path, repeat, steps):
    """FaRL's rule: 15 of 60 faces, batches of 10: 6 steps an epoch when repeated, 2 when not."""
    from farl_bench.engine.runner import RunOptions, run_cells
    from farl_bench.plan import expand

    totals = {}

    def progress(description, total):
        totals[description] = total
        return lambda n: None

    overrides = {"input_size": 32, "protocols.finetune.epochs": 1, "protocols.finetune.batch_size": 10,
                 "protocols.finetune.lrs": [0.001], "protocols.finetune.weight_decays": [0.0],
                 "protocols.finetune.repeat_to_full": repeat}
    run_cells(expand(["pixels?grid=2"], ["celeba"], ["finetune"], [0.25], seeds=[0]),
              RunOptions(celeba_root, tmp_path, overrides, bootstrap=0), progress)
    assert totals["finetune lr=0.001 wd=0"] == steps
