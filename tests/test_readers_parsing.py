"""Parsing readers (LaPa, CelebAMask-HQ) on the synthetic tree, on small hand-made trees for the
real-world quirks, and on real LaPa images with their 106 landmarks."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REALDATA
from helpers import edit_line
from farl_bench.data.readers.celebamask_hq import CelebAMaskHQReader
from farl_bench.data.readers.lapa import LaPaReader
from farl_bench.data.synthetic.writers import celebamask_hq as celebamask_writer
from farl_bench.data.synthetic.writers import lapa as lapa_writer
from farl_bench.errors import UserError

# Written out here, independently of the reader: the documented painting order (value = position + 1).
PAINT_ORDER = ["neck", "skin", "cloth", "l_ear", "r_ear", "l_brow", "r_brow", "l_eye", "r_eye", "nose",
               "mouth", "l_lip", "u_lip", "hair", "eye_g", "hat", "ear_r", "neck_l"]
REAL_LAPA = REALDATA / "mmpose_face_testdata" / "tests" / "data" / "lapa"


def save_png(path: Path, pixels: np.ndarray, mode: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels)
    (image.convert(mode) if mode else image).save(path)


def write_lapa_landmarks(path: Path, points: np.ndarray, count_line: str = "106", newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [count_line, *(f"{x:.4f} {y:.4f}" for x, y in points)]
    path.write_bytes(newline.join(lines).encode() + newline.encode())


def write_lapa(root: Path, names: dict[str, list[str]], size: int = 32, seed: int = 0) -> Path:
    """A LaPa tree with `names` per split: small images, random label maps, random landmarks."""
    rng = np.random.default_rng(seed)
    for split, stems in names.items():
        for stem in stems:
            save_png(root / split / "labels" / f"{stem}.png", rng.integers(0, 11, (size, size), dtype=np.uint8))
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (size, size)).save(root / split / "images" / f"{stem}.jpg")
            write_lapa_landmarks(root / split / "landmarks" / f"{stem}.txt", rng.uniform(0, size - 1, (106, 2)))
    return root


@pytest.fixture
def lapa_root(tmp_path: Path) -> Path:
    return write_lapa(tmp_path / "LaPa", {"train": ["a_1", "b_2"], "val": ["c_1"], "test": ["d_0"]})


def write_celebamask(root: Path, faces: dict[int, tuple[int, dict[str, np.ndarray]]],
                     partition_dir: Path | None = None) -> Path:
    """A CelebAMask-HQ tree: HQ id -> (CelebA partition 0|1|2, part name -> bool mask)."""
    (root / "CelebA-HQ-img").mkdir(parents=True)
    rows, partition = ["idx         orig_idx    orig_file"], []
    for hq_id, (group, parts) in faces.items():
        orig = 1000 + 7 * hq_id
        rows.append(f"{hq_id:<12}{orig:<12}{orig + 1:06d}.jpg")
        partition.append(f"{orig + 1:06d}.jpg {group}")
        for part, mask in parts.items():
            save_png(root / "CelebAMask-HQ-mask-anno" / str(hq_id // 2000) / f"{hq_id:05d}_{part}.png",
                     mask.astype(np.uint8) * 255)
    (root / "CelebA-HQ-to-CelebA-mapping.txt").write_text("\n".join(rows) + "\n")
    target = partition_dir or root
    target.mkdir(parents=True, exist_ok=True)
    # CelebA's list holds every CelebA file, not only those in CelebA-HQ.
    (target / "list_eval_partition.txt").write_text("\n".join([*partition, "202599.jpg 2"]) + "\n")
    return root


def box(y0: int, y1: int, x0: int, x1: int, size: int = 8) -> np.ndarray:
    mask = np.zeros((size, size), bool)
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.fixture
def celebamask_root(tmp_path: Path) -> Path:
    plain = {"skin": box(0, 8, 0, 8)}
    faces = {0: (2, plain), 1: (0, plain), 2: (1, plain), 4001: (0, plain)}
    return write_celebamask(tmp_path / "CelebAMask-HQ", faces)


# --- LaPa ------------------------------------------------------------------------------------------

def test_lapa_synthetic_split_sizes_equal_the_writer_counts(synthetic_root):
    data = LaPaReader().read(synthetic_root / LaPaReader.folder)
    assert {k: len(v) for k, v in data.splits.items()} == dict(lapa_writer.WRITER.counts["small"])
    assert LaPaReader.folder == lapa_writer.WRITER.folder


def test_lapa_synthetic_landmarks_and_labels_equal_the_files(synthetic_root):
    data = LaPaReader().read(synthetic_root / "LaPa")
    for record in data.split("val"):
        assert record.image.is_file() and record.id == f"val/images/{record.image.name}"
        assert record.landmarks.shape == (106, 2) and record.landmarks.dtype == np.float64
        stem = record.image.stem
        text = (synthetic_root / "LaPa/val/landmarks" / f"{stem}.txt").read_text().split()
        assert text[0] == "106"
        np.testing.assert_array_equal(record.landmarks, np.array(text[1:], dtype=float).reshape(106, 2))
        label = data.load_mask(record)
        assert label.dtype == np.uint8 and label.max() <= 10
        with Image.open(synthetic_root / "LaPa/val/labels" / f"{stem}.png") as img:
            np.testing.assert_array_equal(label, np.asarray(img))


def test_lapa_meta_keys_label_ids_alignment_and_flip(lapa_root):
    meta = LaPaReader().read(lapa_root).meta
    assert meta["label_names"][:2] == ["background", "skin"] and meta["label_names"][10] == "hair"
    assert len(meta["label_names"]) == 11 and meta["num_landmarks"] == 106
    assert meta["alignment_points"] == [104, 105, 54, 84, 90]
    perm = meta["flip_permutation"]
    assert sorted(perm) == list(range(106)) and [perm[p] for p in perm] == list(range(106))
    assert (perm[0], perm[104], perm[84], perm[54]) == (32, 105, 90, 54)


def test_lapa_landmark_file_with_wrong_count_names_the_file(lapa_root):
    path = lapa_root / "train/landmarks/b_2.txt"
    write_lapa_landmarks(path, np.zeros((105, 2)))
    with pytest.raises(UserError, match=r"b_2\.txt: expected 106 lines 'x y' after the count line, found 105"):
        LaPaReader().read(lapa_root)


def test_lapa_landmark_count_line_other_than_106_is_refused(lapa_root):
    write_lapa_landmarks(lapa_root / "val/landmarks/c_1.txt", np.zeros((106, 2)), count_line="98")
    with pytest.raises(UserError, match=r"c_1\.txt:1: expected the point count 106"):
        LaPaReader().read(lapa_root)


def test_lapa_non_numeric_landmark_line_names_file_and_line(lapa_root):
    path = lapa_root / "test/landmarks/d_0.txt"
    edit_line(path, 5, lambda line: "12.5 nan?")
    with pytest.raises(UserError, match=r"d_0\.txt:6: expected two numbers 'x y'"):
        LaPaReader().read(lapa_root)


def test_lapa_landmark_files_with_crlf_and_trailing_blank_lines_parse(lapa_root):
    points = np.arange(212, dtype=float).reshape(106, 2) / 4
    write_lapa_landmarks(lapa_root / "train/landmarks/a_1.txt", points, newline="\r\n")
    record = LaPaReader().read(lapa_root).split("train")[0]
    np.testing.assert_array_equal(record.landmarks, points)


def test_lapa_missing_label_map_keeps_the_record_pointing_at_the_expected_file(lapa_root):
    (lapa_root / "train/labels/b_2.png").unlink()
    record = next(r for r in LaPaReader().read(lapa_root).split("train") if r.id.endswith("b_2.jpg"))
    assert record.mask == lapa_root / "train/labels/b_2.png" and not record.mask.exists()


def test_lapa_image_without_landmarks_names_the_file(lapa_root):
    (lapa_root / "train/landmarks/b_2.txt").unlink()
    with pytest.raises(UserError, match=r"1 image\(s\) or label map\(s\) have no landmarks/<name>.txt \(first: b_2\)"):
        LaPaReader().read(lapa_root)


def test_lapa_missing_split_folder_is_named(lapa_root):
    shutil.rmtree(lapa_root / "val/landmarks")
    with pytest.raises(UserError, match=r"val/landmarks is missing"):
        LaPaReader().read(lapa_root)


@pytest.fixture
def real_lapa(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A LaPa tree built from mmpose's two real LaPa faces (COCO json -> original file layout)."""
    if not REAL_LAPA.is_dir():
        pytest.skip(f"real LaPa sample not present at {REAL_LAPA}")
    coco = json.loads((REAL_LAPA / "test_lapa.json").read_text())
    points = {img["file_name"]: np.array(ann["keypoints"], dtype=float).reshape(-1, 3)[:, :2]
              for img in coco["images"] for ann in coco["annotations"] if ann["image_id"] == img["id"]}
    sizes = {img["file_name"]: (img["height"], img["width"]) for img in coco["images"]}
    first, second = sorted(points)
    root = tmp_path / "LaPa"
    for split, name in (("train", first), ("val", second), ("test", first)):
        stem = Path(name).stem
        (root / split / "images").mkdir(parents=True)
        shutil.copy(REAL_LAPA / name, root / split / "images" / name)
        save_png(root / split / "labels" / f"{stem}.png", np.zeros(sizes[name], np.uint8))
        write_lapa_landmarks(root / split / "landmarks" / f"{stem}.txt", points[name])
    return root, points


def test_real_lapa_faces_read_back_their_landmarks_and_eye_centres_lie_between_the_corners(real_lapa):
    root, points = real_lapa
    data = LaPaReader().read(root)
    for record in (*data.split("train"), *data.split("val")):
        lm = record.landmarks
        np.testing.assert_allclose(lm, points[record.image.name], atol=5e-5)
        left_eye, right_eye = sorted(lm[[66, 70], 0]), sorted(lm[[75, 79], 0])
        assert left_eye[0] < lm[104, 0] < left_eye[1]
        assert right_eye[0] < lm[105, 0] < right_eye[1]
        with Image.open(record.image) as img:
            assert data.load_mask(record).shape == (img.height, img.width)


def test_real_frontal_lapa_face_flip_pairs_lie_on_opposite_sides_of_the_nose(real_lapa):
    root, _ = real_lapa
    data = LaPaReader().read(root)
    perm = np.array(data.meta["flip_permutation"])
    frontal = data.split("train")[0].landmarks  # 10773046825_0: a frontal face
    side = np.sign(frontal[:, 0] - frontal[51:55, 0].mean())
    paired = perm != np.arange(106)
    assert (side[paired] != side[perm[paired]]).all()


# --- CelebAMask-HQ --------------------------------------------------------------------------------

def test_celebamask_synthetic_split_sizes_equal_the_writer_counts(synthetic_root):
    data = CelebAMaskHQReader().read(synthetic_root / CelebAMaskHQReader.folder)
    assert {k: len(v) for k, v in data.splits.items()} == dict(celebamask_writer.WRITER.counts["small"])
    assert CelebAMaskHQReader.folder == celebamask_writer.WRITER.folder


def test_celebamask_synthetic_splits_follow_the_original_celeba_partition(synthetic_root):
    base = synthetic_root / "CelebAMask-HQ"
    mapping_rows = (base / "CelebA-HQ-to-CelebA-mapping.txt").read_text().splitlines()[1:]
    orig = dict(line.split()[::2] for line in mapping_rows)  # HQ id -> original CelebA file
    group = dict(line.split() for line in (base / "list_eval_partition.txt").read_text().splitlines())
    data = CelebAMaskHQReader().read(base)
    for split, code in (("train", "0"), ("val", "1"), ("test", "2")):
        for record in data.split(split):
            assert group[orig[record.image.stem]] == code


def test_celebamask_synthetic_label_maps_are_painted_at_mask_resolution(synthetic_root):
    base = synthetic_root / "CelebAMask-HQ"
    data = CelebAMaskHQReader().read(base)
    assert data.meta["label_names"] == ["background", *PAINT_ORDER]
    for record in data.split("test"):
        hq_id = int(record.image.stem)
        expected = None
        for value, part in enumerate(PAINT_ORDER, start=1):
            path = base / "CelebAMask-HQ-mask-anno" / str(hq_id // 2000) / f"{hq_id:05d}_{part}.png"
            if path.is_file():
                with Image.open(path) as img:
                    pixels = np.asarray(img)
                expected = np.zeros(pixels.shape, np.uint8) if expected is None else expected
                expected[pixels > 0] = value
        label = data.load_mask(record)
        np.testing.assert_array_equal(label, expected)
        with Image.open(record.image) as img:
            assert label.shape == (img.height // 2, img.width // 2)  # masks are half the image size


def test_celebamask_part_masks_painted_in_the_documented_order(tmp_path):
    parts = {
        "neck": box(0, 8, 0, 8),      # 1: everywhere, overwritten below
        "skin": box(0, 6, 0, 6),      # 2
        "l_eye": box(1, 3, 1, 3),     # 8
        "eye_g": box(2, 4, 2, 4),     # 15: glasses over the eye
        "hair": box(0, 1, 0, 8),      # 14: over skin and neck
        "neck_l": box(7, 8, 0, 2),    # 18: last painted
    }
    root = write_celebamask(tmp_path / "CelebAMask-HQ", {5: (0, parts), 6: (1, {"skin": box(0, 8, 0, 8)}),
                                                         7: (2, {"skin": box(0, 8, 0, 8)})})
    # A part saved as RGB instead of grey must read the same (the release mixes PNG modes).
    save_png(root / "CelebAMask-HQ-mask-anno/0/00005_neck_l.png", parts["neck_l"].astype(np.uint8) * 255, "RGB")
    data = CelebAMaskHQReader().read(root)
    label = data.load_mask(data.split("train")[0])
    assert label.dtype == np.uint8 and label.shape == (8, 8)
    assert label[0, 0] == 14 and label[0, 7] == 14          # hair wins over skin and neck
    assert label[1, 1] == 8 and label[2, 2] == 15 and label[3, 3] == 15  # glasses over the eye
    assert label[4, 4] == 2 and label[6, 6] == 1            # skin over neck; neck alone
    assert label[7, 0] == 18 and label[7, 4] == 1           # necklace over neck


def test_celebamask_record_ids_images_and_first_part_path(celebamask_root):
    data = CelebAMaskHQReader().read(celebamask_root)
    assert [r.id for r in data.split("train")] == ["CelebA-HQ-img/1.jpg", "CelebA-HQ-img/4001.jpg"]
    record = data.split("train")[1]
    assert record.image == celebamask_root / "CelebA-HQ-img/4001.jpg"
    assert record.mask == celebamask_root / "CelebAMask-HQ-mask-anno/2/04001_skin.png"


def test_celebamask_malformed_mapping_row_names_file_and_line(celebamask_root):
    path = celebamask_root / "CelebA-HQ-to-CelebA-mapping.txt"
    edit_line(path, 2, lambda line: "1 008.jpg")
    with pytest.raises(UserError, match=r"CelebA-HQ-to-CelebA-mapping\.txt:3: expected 'idx orig_idx orig_file'"):
        CelebAMaskHQReader().read(celebamask_root)


def test_celebamask_mapped_file_missing_from_partition_is_an_error(celebamask_root):
    path = celebamask_root / "list_eval_partition.txt"
    kept = [line for line in path.read_text().splitlines() if not line.startswith("001008")]
    path.write_text("\n".join(kept) + "\n")
    with pytest.raises(UserError, match=r"no partition for 1 CelebA files .*first: 001008\.jpg, HQ id 1\)"):
        CelebAMaskHQReader().read(celebamask_root)


def test_celebamask_face_without_part_masks_names_the_expected_path(celebamask_root):
    (celebamask_root / "CelebAMask-HQ-mask-anno/2/04001_skin.png").unlink()
    expected = r"1 faces .* have no part masks \(first: HQ id 4001, expected .*/2/04001_<part>\.png"
    with pytest.raises(UserError, match=expected):
        CelebAMaskHQReader().read(celebamask_root)


def test_celebamask_part_masks_without_mapping_row_are_an_error(celebamask_root):
    save_png(celebamask_root / "CelebAMask-HQ-mask-anno/0/00009_skin.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(UserError, match=r"part masks .* but no row in .*mapping\.txt \(first: HQ id 9\)"):
        CelebAMaskHQReader().read(celebamask_root)


def test_celebamask_part_mask_in_the_wrong_folder_is_named(celebamask_root):
    save_png(celebamask_root / "CelebAMask-HQ-mask-anno/1/00001_hair.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(UserError, match=r"00001_hair\.png belongs in .*CelebAMask-HQ-mask-anno/0"):
        CelebAMaskHQReader().read(celebamask_root)


def test_celebamask_partition_found_in_sibling_celeba_folder_or_by_option(tmp_path):
    plain = {"skin": box(0, 8, 0, 8)}
    faces = {0: (0, plain), 1: (1, plain), 2: (2, plain)}
    root = write_celebamask(tmp_path / "CelebAMask-HQ", faces, partition_dir=tmp_path / "CelebA" / "Eval")
    assert len(CelebAMaskHQReader().read(root).split("val")) == 1
    moved = tmp_path / "elsewhere" / "partition.txt"
    moved.parent.mkdir()
    (tmp_path / "CelebA/Eval/list_eval_partition.txt").rename(moved)
    with pytest.raises(UserError, match="CelebA partition list .* not found; looked for .*list_eval_partition.txt"):
        CelebAMaskHQReader().read(root)
    assert len(CelebAMaskHQReader(partition_file=str(moved)).read(root).split("test")) == 1
    assert len(CelebAMaskHQReader(partition_file="../elsewhere/partition.txt").read(root).split("train")) == 1


def test_celebamask_partition_option_naming_no_file_is_refused(celebamask_root):
    with pytest.raises(UserError, match=r"reader option partition_file: .*nothing\.txt is not a file"):
        CelebAMaskHQReader(partition_file="nothing.txt").read(celebamask_root)


def test_lapa_label_map_of_another_size_than_its_image_is_refused_naming_both(lapa_root):
    label = lapa_root / "train/labels/b_2.png"
    save_png(label, np.zeros((30, 32), np.uint8))
    data = LaPaReader().read(lapa_root)
    first, second = data.split("train")
    assert data.load_mask(first).shape == (32, 32)
    with pytest.raises(UserError) as error:
        data.load_mask(second)
    assert str(error.value) == (f"label map {label} is 32 x 30 px but its image {lapa_root / 'train/images/b_2.jpg'} "
                                "is 32 x 32 px; LaPa label maps have their image's size: re-extract it")


def test_celebamask_part_masks_must_be_half_their_images_side(tmp_path):
    skin = {"skin": box(0, 8, 0, 8)}
    root = write_celebamask(tmp_path / "CelebAMask-HQ", {1: (0, skin), 2: (1, skin), 3: (2, skin)})
    Image.new("RGB", (16, 16)).save(root / "CelebA-HQ-img/1.jpg")  # 8 px parts: half of 16, as 512 of 1024
    Image.new("RGB", (8, 8)).save(root / "CelebA-HQ-img/2.jpg")    # parts at the image's own size
    data = CelebAMaskHQReader().read(root)
    assert data.load_mask(data.split("train")[0]).shape == (8, 8)
    with pytest.raises(UserError) as error:
        data.load_mask(data.split("val")[0])
    assert str(error.value) == (f"part mask {root / 'CelebAMask-HQ-mask-anno/0/00002_skin.png'} is 8 x 8 px but its "
                                f"image {root / 'CelebA-HQ-img/2.jpg'} is 8 x 8 px; CelebAMask-HQ part masks are half "
                                "their image's side (4 x 4 px): re-extract it")
