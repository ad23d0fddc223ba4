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
from farl_bench.data.dataset import read_dataset
from farl_bench.errors import UserError
from farl_bench.tasks import load_task

# pycocotools' decoder warns under numpy 2 (its own __array__ call), not about anything here
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def read_test_split(task: str, root: Path) -> tuple[list, Any]:
    data, _ = read_dataset(load_task(task), root)
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
    "mask_png_at_mask_resolution": ("celebamask_hq", lambda root, out: mask_png_rows("celebamask_hq", root, out),
                                    {"f1_mean": 100.0, "f1_background": 100.0}),
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


def mask_png_rows(task: str, root: Path, out: Path) -> list[dict]:
    """The ground truth of `task`'s test faces as label-map PNGs beside the predictions file."""
    test, data = read_test_split(task, root)
    (out / "masks").mkdir(exist_ok=True)
    rows = []
    for i, r in enumerate(test):
        Image.fromarray(data.load_mask(r)).save(out / "masks" / f"{i}.png")
        rows.append({"id": r.id, "mask": f"masks/{i}.png"})
    return rows


def rewrite_png(out: Path, row: dict, change: Callable[[np.ndarray], Image.Image]) -> None:
    path = out / row["mask"]
    change(np.asarray(Image.open(path))).save(path)


def taller(out: Path, rows: list[dict]) -> str:
    label = np.asarray(Image.open(out / rows[3]["mask"]))
    h, w = label.shape
    rewrite_png(out, rows[3], lambda a: Image.fromarray(np.zeros((h + 2, w), np.uint8)))
    return f"label map {w} x {h + 2} px, expected {w} x {h} px"


def at_image_resolution(out: Path, rows: list[dict]) -> str:
    label = np.asarray(Image.open(out / rows[3]["mask"]))
    h, w = label.shape  # CelebAMask-HQ: the masks are half the image's side
    rewrite_png(out, rows[3], lambda a: Image.fromarray(a).resize((2 * w, 2 * h), Image.NEAREST))
    return f"label map {2 * w} x {2 * h} px, expected {w} x {h} px"


def label_beyond_the_classes(out: Path, rows: list[dict]) -> str:
    rewrite_png(out, rows[3], lambda a: Image.fromarray(np.where(a == 0, 11, a).astype(np.uint8)))
    return "label id(s) [11] outside 0..10"


def in_colour(out: Path, rows: list[dict]) -> str:
    rewrite_png(out, rows[3], lambda a: Image.fromarray(a).convert("RGB"))
    return "has image mode RGB; expected one channel of class ids"


def rle_classes_of_two_sizes(out: Path, rows: list[dict]) -> str:
    encoded = rows[3]["mask"]
    h, w = next(iter(encoded.values()))["size"]
    extra = coco_mask.encode(np.asfortranarray(np.ones((h + 1, w), np.uint8)))
    first = next(iter(encoded))
    rows[3] = {**rows[3], "mask": {**encoded, "10": {"size": [h + 1, w], "counts": extra["counts"].decode()}}}
    return f"RLE masks of different sizes: class {first} is {w} x {h} px, class 10 is {w} x {h + 1} px"


def negative_rle_class(out: Path, rows: list[dict]) -> str:
    encoded = rows[3]["mask"]
    rows[3] = {**rows[3], "mask": {"-1": next(iter(encoded.values())), **encoded}}
    return "class id '-1' is not one of 0..10"


def one_face_in_probabilities(out: Path, rows: list[dict]) -> str:
    rows[3] = {**rows[3], "expression": np.eye(7)[rows[3]["expression"]].tolist()}
    return "class probabilities, while the other faces give a class index"


BAD_FORMS: dict[str, tuple[str, Callable[[Path, Path], list[dict]], Callable[[Path, list[dict]], str]]] = {
    "mask PNG of another size than the label map": ("lapa", png_rows, taller),
    "CelebAMask-HQ mask at the image's resolution": (
        "celebamask_hq", lambda root, out: mask_png_rows("celebamask_hq", root, out), at_image_resolution),
    "label id beyond the classes": ("lapa", png_rows, label_beyond_the_classes),
    "mask PNG in colour": ("lapa", png_rows, in_colour),
    "RLE classes of different sizes": ("lapa", rle_rows, rle_classes_of_two_sizes),
    "negative RLE class id": ("lapa", rle_rows, negative_rle_class),
    "class indices mixed with probabilities": ("rafdb", label_rows, one_face_in_probabilities),
}


@pytest.mark.parametrize("case", BAD_FORMS)
def test_a_prediction_in_a_form_the_scorer_cannot_take_names_the_face_and_writes_nothing(cli, synthetic_root,
                                                                                           tmp_path, case):
    task, make_rows, spoil = BAD_FORMS[case]
    rows = make_rows(synthetic_root, tmp_path)
    expected = spoil(tmp_path, rows)
    predictions = write_jsonl(tmp_path / "predictions.jsonl", rows)
    code, _, err = cli("score", "--task", task, "--data-root", synthetic_root, "--predictions", predictions)
    assert code == 2 and "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    listed = line.split("unreadable predictions: ", 1)[1]
    assert listed.startswith(f"{rows[3]['id']} (") and expected in listed, line
    assert not any(row["id"] in listed for i, row in enumerate(rows) if i != 3)  # only that face
    assert not predictions.with_suffix(".metrics.json").exists()
