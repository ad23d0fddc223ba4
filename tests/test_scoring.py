"""`farl-bench score` and `farl_bench.score`: outside predictions scored with the suite's metrics.

Predictions equal to the ground truth must score perfectly in every family and every accepted
form; predictions that do not match the test split must be refused with every offending id named.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

import farl_bench
from farl_bench.engine.runner import RunOptions, read_dataset
from farl_bench.errors import UserError
from farl_bench.tasks import load_task

# pycocotools' decoder warns under numpy 2 (its own __array__ call), not about anything here
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def read_test_split(task: str, root: Path) -> tuple[list, Any]:
    data, _ = read_dataset(load_task(task), RunOptions(data_root=root, results=root))
    return data.split("test"), data


def rle(label: np.ndarray) -> dict[str, dict[str, Any]]:
    """{class id: COCO RLE} of every class in a label map but background, as JSON takes it."""
    out = {}
    for cls in np.unique(label):
        if cls:
            encoded = coco_mask.encode(np.asfortranarray((label == cls).astype(np.uint8)))
            out[str(cls)] = {"size": list(encoded["size"]), "counts": encoded["counts"].decode("ascii")}
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def landmark_rows(root: Path, out: Path) -> list[dict]:
    test, _ = read_test_split("aflw19", root)
    return [{"id": r.id, "landmarks": np.asarray(r.landmarks).tolist()} for r in test]


def png_rows(root: Path, out: Path) -> list[dict]:
    test, data = read_test_split("lapa", root)
    (out / "masks").mkdir()
    rows = []
    for i, r in enumerate(test):
        Image.fromarray(data.load_mask(r)).save(out / "masks" / f"{i}.png")
        rows.append({"id": r.id, "mask": f"masks/{i}.png"})  # relative to the predictions file
    return rows


def rle_rows(root: Path, out: Path) -> list[dict]:
    test, data = read_test_split("lapa", root)
    return [{"id": r.id, "mask": rle(data.load_mask(r))} for r in test]


def attribute_rows(root: Path, out: Path) -> list[dict]:
    test, _ = read_test_split("celeba", root)
    return [{"id": r.id, "attributes": np.asarray(r.attributes, float).tolist()} for r in test]


def age_rows(root: Path, out: Path) -> list[dict]:
    test, _ = read_test_split("appa_real", root)
    return [{"id": r.id, "age": r.age} for r in test]


def label_rows(root: Path, out: Path) -> list[dict]:
    test, _ = read_test_split("rafdb", root)
    return [{"id": r.id, "expression": r.expression} for r in test]


def probability_rows(root: Path, out: Path) -> list[dict]:
    test, data = read_test_split("rafdb", root)
    n = len(data.meta["expression_names"])
    return [{"id": r.id, "expression": np.eye(n)[r.expression].tolist()} for r in test]


PERFECT: dict[str, tuple[str, Callable[[Path, Path], list[dict]], dict[str, float]]] = {
    "landmarks": ("aflw19", landmark_rows, {"nme_diag": 0.0, "nme_box": 0.0, "nme_io": 0.0,
                                            "auc@0.07_box": 100.0, "fr@0.07_box": 0.0}),
    "mask_png": ("lapa", png_rows, {"f1_mean": 100.0, "f1_background": 100.0, "f1/skin": 100.0}),
    "mask_rle": ("lapa", rle_rows, {"f1_mean": 100.0, "f1_background": 100.0, "f1/hair": 100.0}),
    "attributes": ("celeba", attribute_rows, {"acc_mean": 100.0, "bacc_mean": 100.0}),
    "age": ("appa_real", age_rows, {"mae": 0.0, "cs@5": 100.0, "eps_error": 0.0}),
    "expression_label": ("rafdb", label_rows, {"acc": 100.0, "mean_class_acc": 100.0, "macro_f1": 100.0}),
    "expression_probabilities": ("rafdb", probability_rows, {"acc": 100.0, "mean_class_acc": 100.0}),
}


@pytest.mark.parametrize("form", PERFECT)
def test_ground_truth_as_predictions_scores_perfectly_through_the_cli(cli, synthetic_root, tmp_path, form):
    task, make_rows, expected = PERFECT[form]
    predictions = write_jsonl(tmp_path / "predictions.jsonl", make_rows(synthetic_root, tmp_path))
    code, _, err = cli("score", "--task", task, "--data-root", synthetic_root, "--predictions", predictions)
    assert code == 0, err
    written = json.loads(predictions.with_suffix(".metrics.json").read_text())["metrics"]
    for subset, metrics in written.items():
        for name, value in expected.items():
            assert metrics[name]["value"] == pytest.approx(value, abs=1e-9), (subset, name)


def mismatched(rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Rows with the first id missing, the second twice and one id the test split does not have."""
    bad = rows[1:] + [rows[1], {**rows[2], "id": "no_such_face.jpg"}]
    return bad, {"missing": rows[0]["id"], "duplicate": rows[1]["id"], "unknown": "no_such_face.jpg"}


def test_missing_duplicate_and_unknown_ids_are_one_error_listing_them(synthetic_root, tmp_path):
    rows, ids = mismatched(label_rows(synthetic_root, tmp_path))
    with pytest.raises(UserError) as error:
        farl_bench.score("rafdb", rows, data_root=synthetic_root)
    message = str(error.value)
    assert f"missing ids: {ids['missing']}" in message
    assert f"duplicate ids: {ids['duplicate']}" in message
    assert f"unknown ids: {ids['unknown']}" in message


def test_cli_refuses_mismatched_ids_with_exit_2_and_the_list(cli, synthetic_root, tmp_path):
    rows, ids = mismatched(landmark_rows(synthetic_root, tmp_path))
    predictions = write_jsonl(tmp_path / "predictions.jsonl", rows)
    code, _, err = cli("score", "--task", "aflw19", "--data-root", synthetic_root, "--predictions", predictions)
    assert code == 2 and "Traceback" not in err
    assert all(i in err for i in ids.values()), err
    assert not predictions.with_suffix(".metrics.json").exists()


BAD_VALUES = {
    "expression name": ("rafdb", label_rows, "expression", "happy", "a class index 0..6 or 7 class probabilities"),
    "expression out of range": ("rafdb", label_rows, "expression", 7, "a class index 0..6"),
    "expression probabilities of another length": ("rafdb", probability_rows, "expression", [0.5, 0.5],
                                                    "7 class probabilities"),
    "attributes of another length": ("celeba", attribute_rows, "attributes", [1.0] * 39, "40 probabilities"),
    "attribute above 1": ("celeba", attribute_rows, "attributes", [2.0] * 40, "40 probabilities (0..1)"),
    "age as a list": ("appa_real", age_rows, "age", [30, 31], "one age in years"),
    "age as NaN": ("appa_real", age_rows, "age", float("nan"), "NaN or infinite"),
    "landmarks of another count": ("aflw19", landmark_rows, "landmarks", [[1.0, 2.0]] * 18, "19 [x, y] pairs"),
}


@pytest.mark.parametrize("case", BAD_VALUES)
def test_a_value_the_family_cannot_score_is_one_error_naming_the_face_and_the_form(synthetic_root, tmp_path, case):
    task, make_rows, field, value, message = BAD_VALUES[case]
    rows = make_rows(synthetic_root, tmp_path)
    rows[3] = {**rows[3], field: value}
    with pytest.raises(UserError, match=r"unreadable predictions: (\S+) \(expected ") as error:
        farl_bench.score(task, rows, data_root=synthetic_root)
    assert rows[3]["id"] in str(error.value) and message in str(error.value)
    assert str(error.value).count("expected ") == 1  # the other faces were read


def test_rows_without_an_id_are_refused_by_position(synthetic_root):
    with pytest.raises(UserError, match="prediction 2 must be an object with an 'id'"):
        farl_bench.score("rafdb", [{"id": "test_0001.jpg", "expression": 0}, {"expression": 1}],
                         data_root=synthetic_root)
