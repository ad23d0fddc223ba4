"""FairFace: the reader on the synthetic tree and on small hand-written trees, and the demographics
family (three heads) it is scored with: metrics against scikit-learn, the loss against a hand sum,
outside predictions, and a run under each protocol."""
from __future__ import annotations

import csv
import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from farl_bench.data.readers.fairface import FairFaceReader
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.synthetic import DATASETS as SYNTHETIC_FOLDERS
from farl_bench.errors import UserError
from farl_bench.families.demographics import MISSING, Demographics, demographic_scores
from farl_bench.registry import DATASETS

# The csv's values, spelled out here from the FairFace release (not imported from the reader).
RACE = {"White": "white", "Black": "black", "Latino_Hispanic": "latino_hispanic", "East Asian": "east_asian",
        "Southeast Asian": "southeast_asian", "Indian": "indian", "Middle Eastern": "middle_eastern"}
AGE = {"0-2": "0-2", "3-9": "3-9", "10-19": "10-19", "20-29": "20-29", "30-39": "30-39", "40-49": "40-49",
       "50-59": "50-59", "60-69": "60-69", "more than 70": "70+"}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_reader_folder_is_the_synthetic_writers():
    assert DATASETS.get("fairface").folder == SYNTHETIC_FOLDERS["fairface"]


def test_release_val_is_test_and_val_is_the_hash_holdout_of_train(synthetic_root):
    root = synthetic_root / "FairFace"
    data = FairFaceReader().read(root)
    train_rows, test_rows = rows(root / "fairface_label_train.csv"), rows(root / "fairface_label_val.csv")
    assert [r.id for r in data.split("test")] == [row["file"] for row in test_rows]
    ids = sorted((row["file"] for row in train_rows),
                 key=lambda i: hashlib.sha256(f"farl-bench-val:{i}".encode()).hexdigest())
    n_val = round(len(ids) * 0.1)
    assert {r.id for r in data.split("val")} == set(ids[:n_val])
    assert {r.id for r in data.split("train")} == set(ids[n_val:])


def test_every_label_is_a_group_in_the_meta_order(synthetic_root):
    root = synthetic_root / "FairFace"
    data = FairFaceReader().read(root)
    assert data.meta["groups"] == {"race": list(RACE.values()), "gender": ["male", "female"],
                                   "age_group": list(AGE.values())}
    by_id = {r.id: r for split in data.splits.values() for r in split}
    for row in rows(root / "fairface_label_train.csv") + rows(root / "fairface_label_val.csv"):
        record = by_id[row["file"]]
        assert record.groups == {"race": RACE[row["race"]], "gender": row["gender"].lower(),
                                 "age_group": AGE[row["age"]]}
        assert record.image == root / "fairface-img-margin025-trainval" / row["file"] and record.image.is_file()


def test_padding_option_picks_the_image_variant(synthetic_root):
    record = FairFaceReader(padding=1.25).read(synthetic_root / "FairFace").split("test")[0]
    assert record.image.parent.parent.name == "fairface-img-margin125-trainval" and record.image.is_file()
    with pytest.raises(UserError, match="padding=0.5: choose 0.25 or 1.25"):
        FairFaceReader(padding=0.5)


def write_tree(root: Path, train: list[str], val: list[str], images: str = "fairface-img-margin025-trainval") -> Path:
    header = "file,age,gender,race,service_test\n"
    (root / "fairface_label_train.csv").write_text(header + "".join(line + "\n" for line in train))
    (root / "fairface_label_val.csv").write_text(header + "".join(line + "\n" for line in val))
    (root / images / "train").mkdir(parents=True)
    return root


def test_zip_unpacked_into_the_root_is_read_for_padding_025(tmp_path):
    root = write_tree(tmp_path, ["train/1.jpg,3-9,Male,Indian,True", "train/2.jpg,more than 70,Female,White,False"],
                      ["val/1.jpg,0-2,Female,Middle Eastern,False"], images=".")
    data = FairFaceReader().read(root)
    assert data.split("test")[0].image == root / "val/1.jpg"
    assert data.split("test")[0].groups == {"race": "middle_eastern", "gender": "female", "age_group": "0-2"}
    with pytest.raises(UserError, match="fairface-img-margin125-trainval is missing"):
        FairFaceReader(padding=1.25).read(root)


@pytest.mark.parametrize("line, match", [
    ("train/2.jpg,20-29,Male,Asian,True", r"fairface_label_train\.csv:3: expected race one of"),
    ("train/2.jpg,70+,Male,White,True", r"fairface_label_train\.csv:3: expected age one of"),
    ("train/1.jpg,20-29,Male,White,True", r"fairface_label_train\.csv:3: train/1\.jpg is listed twice"),
])
def test_bad_label_rows_name_file_and_line(tmp_path, line, match):
    root = write_tree(tmp_path, ["train/1.jpg,20-29,Male,White,True", line], ["val/1.jpg,0-2,Female,Black,False"])
    with pytest.raises(UserError, match=match):
        FairFaceReader().read(root)


# ---- the demographics family -----------------------------------------------------------------

HEADS = {"race": ["a", "b", "c"], "gender": ["male", "female"]}


def test_scores_per_head_leave_out_missing_targets_and_match_sklearn():
    target = np.array([[0, 1], [1, 0], [2, MISSING], [2, 1], [0, 0], [1, 1]])
    pred = np.array([[0, 1], [2, 0], [2, 1], [1, 1], [0, 1], [1, 1]])
    m = demographic_scores(pred, target, HEADS)
    known = target[:, 1] != MISSING
    expected = {"acc/race": accuracy_score(target[:, 0], pred[:, 0]) * 100,
                "mean_class_acc/race": balanced_accuracy_score(target[:, 0], pred[:, 0]) * 100,
                "acc/gender": accuracy_score(target[known, 1], pred[known, 1]) * 100,
                "mean_class_acc/gender": balanced_accuracy_score(target[known, 1], pred[known, 1]) * 100}
    assert expected["acc/race"] == pytest.approx(400 / 6) and expected["acc/gender"] == pytest.approx(80.0)
    for name, value in expected.items():
        assert m[name].value == pytest.approx(value), name
    assert m["acc_mean"].value == pytest.approx((expected["acc/race"] + expected["acc/gender"]) / 2)
    assert m["mean_class_acc_mean"].value == pytest.approx(
        (expected["mean_class_acc/race"] + expected["mean_class_acc/gender"]) / 2)


def test_a_head_without_any_target_is_nan_and_left_out_of_the_means():
    m = demographic_scores(np.array([[0, 1], [1, 0]]), np.array([[0, MISSING], [0, MISSING]]), HEADS)
    assert math.isnan(m["acc/gender"].value) and m["acc_mean"].value == 50.0


def data_with(groups: list[dict[str, str]]) -> DatasetSplits:
    records = [FaceRecord(id=str(i), image=Path(f"{i}.jpg"), groups=g) for i, g in enumerate(groups)]
    return DatasetSplits({"train": records, "val": records, "test": records}, meta={"groups": HEADS})


def test_targets_loss_and_decode_follow_the_meta_order():
    data = data_with([{"race": "c", "gender": "female"}, {"race": "a"}])
    family = Demographics()
    targets = np.stack([family.target(r, data) for r in data.split("train")])
    np.testing.assert_array_equal(targets, [[2, 1], [0, MISSING]])
    assert family.num_outputs(data.meta) == 5
    outputs = torch.tensor([[0.1, 0.2, 0.9, -1.0, 2.0], [1.5, 0.0, -0.5, 0.3, 0.1]])
    race = F.cross_entropy(outputs[:, :3], torch.tensor([2, 0]))
    gender = F.cross_entropy(outputs[:1, 3:], torch.tensor([1]))  # the second face has no gender
    assert family.loss(outputs, torch.as_tensor(targets)).item() == pytest.approx(((race + gender) / 2).item())
    np.testing.assert_array_equal(np.stack(family.decode(outputs, [], [])), [[2, 1], [0, 0]])
    bias = family.output_bias(data.split("train"), data)
    np.testing.assert_allclose(bias[:3].exp(), np.array([1.5, 0.5, 1.5]) / 3.5, rtol=1e-6)
    np.testing.assert_allclose(bias[3:].exp(), np.array([0.5, 1.5]) / 2.0, rtol=1e-6)


def test_outside_predictions_take_class_names_or_indices():
    family = Demographics(heads=["gender", "race"])
    meta = {"groups": HEADS}
    np.testing.assert_array_equal(family.parse_prediction({"race": "b", "gender": 1}, None, meta), [1, 1])
    for bad in ({"race": "b"}, {"race": "d", "gender": 0}, {"race": "a", "gender": True}, [0, 1]):
        with pytest.raises(ValueError, match="expected"):
            family.parse_prediction(bad, None, meta)


def test_heads_the_dataset_lacks_are_a_user_error():
    with pytest.raises(UserError, match="no group labels age_group .*its groups: race, gender"):
        Demographics(heads=["age_group"]).num_outputs({"groups": HEADS})
    with pytest.raises(UserError, match="its groups: none"):
        Demographics().num_outputs({})


@pytest.mark.parametrize("protocol, backbone, settings", [
    ("linear", "pixels", {}),
    ("frozen", "pixels", {"protocols.frozen.epochs": 2}),
])  # finetune shares the frozen protocol's trainer, head, loss and decoder; its backbone step costs ~20 s here
def test_fairface_runs_under_each_protocol_with_all_head_metrics(synthetic_root, tmp_path, protocol, backbone,
                                                                 settings):
    from farl_bench.engine.runner import RunOptions, run_cells
    from farl_bench.plan import expand
    from farl_bench.progress import no_bars

    options = RunOptions(synthetic_root, tmp_path, overrides={"input_size": 32, **settings}, bootstrap=20)
    run_cells(expand([backbone], ["fairface"], [protocol], [], None, [], None), options, no_bars)
    record = json.loads((tmp_path / "runs.jsonl").read_text().splitlines()[-1])
    assert (record["family"], record["selection_split"]) == ("demographics", "val")
    metrics = record["metrics"]["test"]
    names = {f"{kind}/{head}" for kind in ("acc", "mean_class_acc") for head in ("race", "gender", "age_group")}
    assert names | {"acc_mean", "mean_class_acc_mean"} <= set(metrics)
    assert all(0 <= metrics[n]["value"] <= 100 and metrics[n]["unit"] == "%" for n in names)
