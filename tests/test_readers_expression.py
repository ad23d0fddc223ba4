"""Expression readers: RAF-DB, AffectNet and FERPlus on the synthetic tree (FERPlus's vote rule also
on the real fer2013new.csv), FER2013's image folders on a tree written here."""
import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REALDATA
from helpers import edit_line
from farl_bench.data.readers.affectnet import AffectNetReader
from farl_bench.data.readers.fer2013 import FER2013Reader
from farl_bench.data.readers.ferplus import NO_MAJORITY, FERPlusReader, majority_vote, read_votes
from farl_bench.data.readers.rafdb import RafDbReader
from farl_bench.data.synthetic import DATASETS as SYNTHETIC_FOLDERS
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS


def sizes(data) -> dict[str, int]:
    return {k: len(v) for k, v in data.splits.items()}


def copy(synthetic_root: Path, folder: str, tmp_path: Path) -> Path:
    shutil.copytree(synthetic_root / folder, tmp_path / folder)
    return tmp_path / folder


@pytest.mark.parametrize("name", ["utkface", "appa_real", "rafdb", "affectnet", "ferplus"])
def test_reader_folder_is_the_synthetic_writers(name):
    assert DATASETS.get(name).folder == SYNTHETIC_FOLDERS[name]


# ---- RAF-DB ----------------------------------------------------------------------------------

RAF_NAMES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]


def test_rafdb_labels_1_to_7_become_indices_in_the_published_order(synthetic_root):
    root = synthetic_root / "RAF-DB"
    data = RafDbReader().read(root)
    assert data.meta["expression_names"] == RAF_NAMES
    lines = dict(line.split() for line in (root / "basic/EmoLabel/list_patition_label.txt").read_text().splitlines())
    records = {r.id: r for split in data.splits.values() for r in split}
    assert {i: r.expression + 1 for i, r in records.items()} == {n: int(v) for n, v in lines.items()}
    n_train = sum(n.startswith("train_") for n in lines)
    assert sizes(data) == {"train": n_train - round(n_train * 0.1), "val": round(n_train * 0.1),
                           "test": len(lines) - n_train}
    assert all(r.id.startswith("train_") for r in data.split("val"))
    record = data.split("test")[0]
    assert record.image == root / "basic/Image/aligned" / record.id.replace(".jpg", "_aligned.jpg")
    assert record.image.is_file()


def test_rafdb_root_may_be_the_basic_folder(synthetic_root):
    assert sizes(RafDbReader().read(synthetic_root / "RAF-DB" / "basic"))["test"] == 240


def test_rafdb_label_outside_1_to_7_names_file_and_line(synthetic_root, tmp_path):
    root = copy(synthetic_root, "RAF-DB", tmp_path)
    path = root / "basic/EmoLabel/list_patition_label.txt"
    edit_line(path, 3, lambda line: line.split()[0] + " 8")
    with pytest.raises(UserError, match=r"list_patition_label\.txt:4: expected"):
        RafDbReader().read(root)


# ---- AffectNet -------------------------------------------------------------------------------

def affectnet_rows(root: Path, name: str) -> list[dict[str, str]]:
    with (root / "Manually_Annotated_file_lists" / f"{name}.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("classes", [7, 8])
def test_affectnet_drops_non_emotions_and_contempt_for_7_classes(synthetic_root, classes):
    root = synthetic_root / "AffectNet"
    data = AffectNetReader(classes=classes).read(root)
    kept = {n: [r for r in affectnet_rows(root, n) if int(r["expression"]) < classes]
            for n in ("training", "validation")}
    assert len(data.split("train")) + len(data.split("val")) == len(kept["training"])
    assert [r.id for r in data.split("test")] == [r["subDirectory_filePath"] for r in kept["validation"]]
    assert len(data.split("val")) == round(len(kept["training"]) * 0.1)
    dropped = sum(int(r["expression"]) >= classes for n in ("training", "validation") for r in affectnet_rows(root, n))
    assert sum(data.meta["skipped"].values()) == dropped
    assert any("expression 10 (no-face)" in reason for reason in data.meta["skipped"])
    names = data.meta["expression_names"]
    assert names[:2] == ["neutral", "happiness"] and len(names) == classes


def test_affectnet_box_and_label_equal_the_csv(synthetic_root):
    root = synthetic_root / "AffectNet"
    row = next(r for r in affectnet_rows(root, "validation") if int(r["expression"]) < 8)
    record = next(r for r in AffectNetReader().read(root).split("test") if r.id == row["subDirectory_filePath"])
    x, y, w, h = (float(row[c]) for c in ("face_x", "face_y", "face_width", "face_height"))
    np.testing.assert_array_equal(record.bbox, [x, y, x + w, y + h])
    assert record.expression == int(row["expression"]) and record.image.is_file()


def test_affectnet_validation_csv_without_header_is_read(synthetic_root, tmp_path):
    root = copy(synthetic_root, "AffectNet", tmp_path)
    path = root / "Manually_Annotated_file_lists/validation.csv"
    path.write_text(path.read_text().split("\n", 1)[1])
    assert sizes(AffectNetReader().read(root)) == sizes(AffectNetReader().read(synthetic_root / "AffectNet"))


def test_affectnet_unknown_label_names_file_and_line(synthetic_root, tmp_path):
    root = copy(synthetic_root, "AffectNet", tmp_path)
    path = root / "Manually_Annotated_file_lists/training.csv"
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[6] = "11"
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"training\.csv:3: expression 11 is outside 0\.\.10"):
        AffectNetReader().read(root)


def test_affectnet_classes_option_is_checked():
    with pytest.raises(UserError, match="classes=6: choose 7 or 8"):
        AffectNetReader(classes=6)


# ---- FERPlus ---------------------------------------------------------------------------------

@pytest.mark.parametrize("votes, expected", [
    ([4, 4, 0, 0, 0, 0, 0, 0, 2, 0], NO_MAJORITY),   # tie: no strict majority
    ([5, 5, 0, 0, 0, 0, 0, 0, 0, 0], NO_MAJORITY),   # exactly half is not more than half
    ([3, 2, 2, 2, 1, 0, 0, 0, 0, 0], NO_MAJORITY),   # 3 of 9 kept votes
    ([6, 1, 1, 1, 1, 0, 0, 0, 0, 0], 0),             # single votes dropped: 6 of 6
    ([0, 0, 0, 4, 1, 1, 1, 3, 0, 0], 3),             # 4 of 7 once the singles go
    ([0, 0, 0, 0, 0, 0, 0, 7, 3, 0], 7),             # contempt is a class
    ([2, 0, 0, 0, 0, 0, 0, 0, 8, 0], "unknown"),
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 10], "NF"),
    ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], NO_MAJORITY),   # all singles
])
def test_ferplus_majority_vote_rule(votes, expected):
    assert majority_vote(votes) == expected


REAL_VOTES = REALDATA / "ferplus" / "fer2013new.csv"


@pytest.mark.skipif(not REAL_VOTES.is_file(), reason="real FERPlus votes not available")
def test_ferplus_vote_rule_on_the_real_file_matches_an_independent_count():
    with REAL_VOTES.open() as fh:
        rows = list(csv.reader(fh))[1:]
    votes = np.array([[int(v) for v in r[2:]] for r in rows])
    votes[votes <= 1] = 0
    top = votes.max(axis=1)
    winner = votes.argmax(axis=1)
    labelled = (2 * top > votes.sum(axis=1)) & (winner < 8) & np.array([bool(r[1]) for r in rows])
    first = {}
    for i in np.flatnonzero(labelled):
        first.setdefault(rows[i][1], i)
    expected = {u: sum(rows[i][0] == u for i in first.values()) for u in ("Training", "PublicTest", "PrivateTest")}
    kept, usages, skipped = read_votes(REAL_VOTES)
    assert {u: sum(r.usage == u for r in kept) for u in expected} == expected
    assert expected == {"Training": 25_057, "PublicTest": 3_199, "PrivateTest": 3_153}  # = expected_sizes
    assert len(usages) == len(rows) == 35_887 and skipped["empty Image name (FER+ marks the face as unusable)"] == 173
    assert [r.expression for r in kept[:3]] == [int(winner[i]) for i in list(first.values())[:3]]


def ferplus_labelled(root: Path) -> dict[str, list[tuple[int, str, int]]]:
    """Independent parse of fer2013new.csv: usage -> [(row, name, label)] of the labelled rows."""
    out: dict[str, list[tuple[int, str, int]]] = {"Training": [], "PublicTest": [], "PrivateTest": []}
    with (root / "fer2013new.csv").open() as fh:
        for i, row in enumerate(list(csv.reader(fh))[1:]):
            label = majority_vote([int(v) for v in row[2:]])
            if row[1] and isinstance(label, int):
                out[row[0]].append((i, row[1], label))
    return out


def test_ferplus_splits_labels_and_cached_pixels_equal_the_csvs(synthetic_root, tmp_path):
    root = synthetic_root / "FERPlus"
    data = FERPlusReader(image_cache=str(tmp_path / "cache")).read(root)
    expected = ferplus_labelled(root)
    for usage, split in (("Training", "train"), ("PublicTest", "val"), ("PrivateTest", "test")):
        assert [(r.id, r.expression) for r in data.split(split)] == [(n, lab) for _, n, lab in expected[usage]]
    with (root / "fer2013new.csv").open() as fh:
        rows = list(csv.reader(fh))[1:]
    unlabelled = [majority_vote([int(v) for v in r[2:]]) for r in rows if r[1]]
    assert sum(data.meta["skipped"].values()) == len(rows) - sum(len(v) for v in expected.values())
    assert data.meta["skipped"]["empty Image name (FER+ marks the face as unusable)"] == sum(not r[1] for r in rows)
    assert data.meta["skipped"].get(NO_MAJORITY, 0) == unlabelled.count(NO_MAJORITY)
    with (root / "fer2013.csv").open() as fh:
        pixels = [r[1] for r in list(csv.reader(fh))[1:]]
    row, name, _ = expected["PrivateTest"][0]
    record = data.split("test")[0]
    assert record.image == tmp_path / "cache" / "FER2013Test" / name
    with Image.open(record.image) as img:
        assert img.mode == "L" and img.size == (48, 48)
        np.testing.assert_array_equal(np.asarray(img).ravel(), [int(v) for v in pixels[row].split()])


def test_ferplus_reads_a_complete_cache_without_fer2013_csv(synthetic_root, tmp_path):
    root = copy(synthetic_root, "FERPlus", tmp_path)
    first = FERPlusReader().read(root)
    (root / "fer2013.csv").unlink()
    again = FERPlusReader().read(root)
    assert sizes(again) == sizes(first) and again.split("val")[0].image.is_file()
    assert again.split("val")[0].image.parent == root / "images_cache" / "FER2013Valid"


def test_ferplus_misaligned_fer2013_csv_writes_nothing(synthetic_root, tmp_path):
    root = copy(synthetic_root, "FERPlus", tmp_path)
    path = root / "fer2013.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # one row short
    with pytest.raises(UserError, match=r"fer2013\.csv has 47 rows but fer2013new\.csv has 48"):
        FERPlusReader().read(root)
    assert not list((root / "images_cache").rglob("*.png"))


def test_ferplus_missing_fer2013_csv_is_named_when_images_are_needed(synthetic_root, tmp_path):
    root = copy(synthetic_root, "FERPlus", tmp_path)
    (root / "fer2013.csv").unlink()
    with pytest.raises(UserError, match="FER2013 pixel file .*not found; looked for .*fer2013.csv"):
        FERPlusReader().read(root)


# ---- FER2013 image folders -------------------------------------------------------------------

def write_fer2013(root: Path, public: bool = True) -> None:
    files = ["train/angry/Training_1.jpg", "train/happy/Training_2.jpg", "train/neutral/Training_3.jpg",
             "train/sad/Training_4.jpg", "train/fear/Training_5.jpg", "train/surprise/Training_6.jpg",
             "test/happy/PrivateTest_7.jpg", "test/disgust/PrivateTest_8.jpg"]
    if public:
        files += ["test/angry/PublicTest_9.jpg", "test/sad/PublicTest_10.jpg"]
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


def test_fer2013_public_test_is_val_and_private_test_is_test(tmp_path):
    write_fer2013(tmp_path)
    data = FER2013Reader().read(tmp_path)
    assert sizes(data) == {"train": 6, "val": 2, "test": 2}
    assert {r.id: r.expression for r in data.split("test")} == {"test/disgust/PrivateTest_8.jpg": 1,
                                                              "test/happy/PrivateTest_7.jpg": 3}
    assert data.meta["expression_names"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def test_fer2013_without_public_test_carves_val_from_train(tmp_path):
    write_fer2013(tmp_path, public=False)
    data = FER2013Reader().read(tmp_path)
    assert sizes(data) == {"train": 5, "val": 1, "test": 2} and "of train" in data.meta["selection_note"]
    write_fer2013(tmp_path)
    assert sizes(FER2013Reader(public_test="test").read(tmp_path)) == {"train": 5, "val": 1, "test": 4}


def test_fer2013_unknown_emotion_folder_and_stray_images(tmp_path, caplog):
    write_fer2013(tmp_path)
    (tmp_path / "train" / "loose.jpg").touch()
    with caplog.at_level(logging.WARNING):
        data = FER2013Reader().read(tmp_path)
    assert data.meta["skipped"] == {"image directly in train/, outside an emotion folder": 1}
    (tmp_path / "train" / "contempt").mkdir()
    with pytest.raises(UserError, match="contempt: unknown emotion folder"):
        FER2013Reader().read(tmp_path)


def test_fer2013_missing_test_folder_is_named(tmp_path):
    write_fer2013(tmp_path)
    shutil.rmtree(tmp_path / "test")
    with pytest.raises(UserError, match=r"test is missing"):
        FER2013Reader().read(tmp_path)


# ---- RAF-DB group labels ---------------------------------------------------------------------

RAF_GROUPS = {"gender": ["male", "female"], "race": ["caucasian", "african-american", "asian"],
              "age_group": ["0-3", "4-19", "20-39", "40-69", "70+"]}


def test_rafdb_groups_are_the_manual_annotation_codes(synthetic_root):
    root = synthetic_root / "RAF-DB"
    data = RafDbReader().read(root)
    assert data.meta["groups"] == RAF_GROUPS
    unsure = 0
    for record in (r for split in data.splits.values() for r in split):
        path = root / "basic/Annotation/manual" / record.id.replace(".jpg", "_manu_attri.txt")
        lines = path.read_text().split("\n")
        gender, race, age = (int(v) for v in lines[5:8])
        expected = {"race": RAF_GROUPS["race"][race], "age_group": RAF_GROUPS["age_group"][age]}
        if gender == 2:  # unsure: no gender group
            unsure += 1
        else:
            expected["gender"] = RAF_GROUPS["gender"][gender]
        assert record.groups == expected
    assert unsure > 0  # the synthetic set has unsure faces, so that path is exercised


def test_rafdb_without_manual_annotations_has_no_groups(synthetic_root, tmp_path):
    root = copy(synthetic_root, "RAF-DB", tmp_path)
    shutil.rmtree(root / "basic/Annotation")
    data = RafDbReader().read(root)
    assert data.meta["groups"] == {} and "absent" in data.meta["groups_note"]
    assert all(r.groups == {} for split in data.splits.values() for r in split)


def test_rafdb_bad_or_missing_manual_file_is_named(synthetic_root, tmp_path):
    root = copy(synthetic_root, "RAF-DB", tmp_path)
    path = root / "basic/Annotation/manual/test_0002_manu_attri.txt"
    edit_line(path, 6, lambda line: "3")
    with pytest.raises(UserError, match=r"test_0002_manu_attri\.txt:7: expected a race code 0\|1\|2"):
        RafDbReader().read(root)
    path.unlink()
    with pytest.raises(UserError, match=r"test_0002_manu_attri\.txt is missing"):
        RafDbReader().read(root)
