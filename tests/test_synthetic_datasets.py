"""The synthetic datasets, checked with small parsers written here from the formats' descriptions
(independent of the writers), on one `small` generation per session."""
from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from farl_bench.data.synthetic import DATASETS, generate, is_complete

SEED = 3


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    root = tmp_path_factory.mktemp("synthetic")
    return root, generate(root, "small", seed=SEED, workers=2)


@pytest.fixture(scope="session")
def root(generated: tuple[Path, dict[str, int]]) -> Path:
    return generated[0]


def size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def inside(points: np.ndarray, width: int, height: int, margin: float = 0.5) -> bool:
    """All points within the image, give or take `margin` pixels."""
    x, y = points[:, 0], points[:, 1]
    return bool((x >= -margin).all() and (x <= width - 1 + margin).all()
                and (y >= -margin).all() and (y <= height - 1 + margin).all())


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_dataset_written_and_marked_complete(root: Path, generated: tuple[Path, dict[str, int]]) -> None:
    assert generated[1] == {"lapa": 36, "celebamask_hq": 36, "300w": 30, "wflw": 32, "aflw19": 160, "celeba": 720,
                            "utkface": 40, "appa_real": 400, "rafdb": 720, "affectnet": 64, "ferplus": 48,
                            "fairface": 440}
    assert sorted(p.name for p in root.iterdir()) == sorted(DATASETS.values())  # no staging leftovers
    assert is_complete(root, "small", SEED)
    assert not is_complete(root, "small", SEED + 1)
    assert not is_complete(root, "medium", SEED)
    assert not is_complete(root / "missing", "small", SEED)


@pytest.mark.parametrize("kwargs, words", [
    ({"scale": "huge"}, ["huge", "small", "medium"]),
    ({"datasets": ["lapa", "nope"]}, ["nope", "lapa", "celeba"]),
])
def test_bad_choices_name_the_valid_ones(tmp_path: Path, kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as error:
        generate(tmp_path, **kwargs)
    assert all(w in str(error.value) for w in words)
    assert not any(tmp_path.iterdir())


def test_lapa(root: Path) -> None:
    counts = {}
    for split in ("train", "val", "test"):
        images = sorted((root / "LaPa" / split / "images").glob("*.jpg"))
        counts[split] = len(images)
        for image in images:
            width, height = size(image)
            assert 200 <= width <= 320 and 200 <= height <= 320
            label = pixels(root / "LaPa" / split / "labels" / f"{image.stem}.png")
            assert label.shape == (height, width) and label.dtype == np.uint8 and label.max() <= 10
            assert {1, 6} <= set(np.unique(label).tolist())  # skin and nose on every face
            text = lines(root / "LaPa" / split / "landmarks" / f"{image.stem}.txt")
            assert text[0] == "106" and len(text) == 107
            points = np.array([[float(v) for v in line.split()] for line in text[1:]])
            assert points.shape == (106, 2) and inside(points, width, height, margin=width)
    assert counts == {"train": 24, "val": 6, "test": 6}
    assert len({p.stem for p in (root / "LaPa").rglob("*.jpg")}) == 36


def test_celebamask_hq(root: Path) -> None:
    base = root / "CelebAMask-HQ"
    ids = sorted(int(p.stem) for p in (base / "CelebA-HQ-img").glob("*.jpg"))
    assert ids == list(range(36))
    assert all(size(base / "CelebA-HQ-img" / f"{i}.jpg") == (256, 256) for i in ids)
    masks = sorted((base / "CelebAMask-HQ-mask-anno").glob("*/*.png"))
    for mask in masks:
        assert mask.parent.name == str(int(mask.name[:5]) // 2000)
        values = pixels(mask)
        assert values.shape == (128, 128) and set(np.unique(values).tolist()) <= {0, 255}
        assert values.max() == 255  # only parts present are written
    assert {m.name[:5] for m in masks if m.name.endswith("_skin.png")} == {f"{i:05d}" for i in ids}
    mapping = lines(base / "CelebA-HQ-to-CelebA-mapping.txt")
    assert mapping[0].split() == ["idx", "orig_idx", "orig_file"]
    rows = [line.split() for line in mapping[1:]]
    assert [int(r[0]) for r in rows] == ids
    assert all(r[2] == f"{int(r[1]) + 1:06d}.jpg" for r in rows)
    partition = dict(line.split() for line in lines(base / "list_eval_partition.txt"))
    assert set(partition) == {r[2] for r in rows}
    assert Counter(partition[r[2]] for r in rows) == {"0": 24, "1": 6, "2": 6}
    # Consistent with CelebA's real partition of the original files.
    bounds = {"0": (1, 162_770), "1": (162_771, 182_637), "2": (182_638, 202_599)}
    assert all(bounds[p][0] <= int(f[:6]) <= bounds[p][1] for f, p in partition.items())


def read_pts(path: Path) -> np.ndarray:
    text = lines(path)
    assert text[0] == "version: 1" and text[1].split() == ["n_points:", "68"]
    assert text[2] == "{" and text[-1] == "}"
    return np.array([[float(v) for v in line.split()] for line in text[3:-1]])


def test_300w(root: Path) -> None:
    base = root / "300W"
    expected = {"afw": 4, "helen/trainset": 8, "lfpw/trainset": 6, "helen/testset": 4, "lfpw/testset": 4, "ibug": 4}
    for subset, n in expected.items():
        pts = sorted((base / subset).glob("*.pts"))
        assert len(pts) == n
        for path in pts:
            images = [path.with_suffix(s) for s in (".jpg", ".png") if path.with_suffix(s).exists()]
            assert len(images) == 1 and (images[0].suffix == ".png") == subset.startswith("lfpw")
            width, height = size(images[0])
            points = read_pts(path) - 1.0  # 1-based in the file
            assert points.shape == (68, 2)
            # Points on the face: the outer corners of the eyes (36, 45) lie within the image.
            assert inside(points[[36, 45]], width, height)
    assert (base / "ibug" / "image_092 _01.jpg").exists() and (base / "ibug" / "image_092 _01.pts").exists()


def test_wflw(root: Path) -> None:
    base = root / "WFLW"
    faces = {}
    for split, n in (("train", 24), ("test", 16)):
        text = lines(base / "WFLW_annotations" / "list_98pt_rect_attr_train_test" / f"list_98pt_rect_attr_{split}.txt")
        assert len(text) == n
        faces[split] = [line.split() for line in text]
    shapes = {}
    for fields in faces["train"] + faces["test"]:
        assert len(fields) == 196 + 4 + 6 + 1
        path = base / "WFLW_images" / fields[-1]
        assert re.fullmatch(r"\d+--[\w-]+/\d+_\w+\.jpg", fields[-1])
        shapes.setdefault(path, size(path))
        width, height = shapes[path]
        points = np.array(fields[:196], dtype=float).reshape(98, 2)
        x0, y0, x1, y1 = (int(v) for v in fields[196:200])
        assert 0 <= x0 < x1 < width and 0 <= y0 < y1 < height
        assert inside(points[[60, 72]], width, height)
        assert set(fields[200:206]) <= {"0", "1"}
    per_image = Counter(f[-1] for f in faces["train"] + faces["test"])
    assert 2 in per_image.values()
    assert not {f[-1] for f in faces["train"]} & {f[-1] for f in faces["test"]}
    flags = np.array([f[200:206] for f in faces["test"]], dtype=int)
    assert (flags.sum(axis=0) > 0).all()  # every test subset non-empty


def test_aflw19(root: Path) -> None:
    base = root / "AFLW"
    mat = scipy.io.loadmat(base / "AFLWinfo_release.mat")
    n = 160
    assert mat["bbox"].shape == (n, 4) and mat["data"].shape == (n, 38)
    assert mat["mask_new"].shape == (n, 19) and mat["nameList"].shape == (n, 1) and mat["ra"].shape == (1, n)
    ra = mat["ra"].reshape(-1).astype(int)
    assert sorted(ra) == list(range(1, n + 1))
    test = ra[int(0.8 * n):] - 1
    assert len(test) == 32 and (mat["mask_new"][test] == 1).all(axis=1).any()  # frontal test subset
    assert set(np.unique(mat["mask_new"]).tolist()) <= {0.0, 1.0}
    for i in range(n):
        name = str(mat["nameList"][i, 0][0])
        assert re.fullmatch(r"[023]/image\d{5}\.jpg", name)
        width, height = size(base / "data" / "flickr" / name)
        left, right, top, bottom = mat["bbox"][i]
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
        points = np.stack([mat["data"][i, :19], mat["data"][i, 19:]], axis=1)
        assert inside(points, width, height, margin=width)
    assert len({str(mat["nameList"][i, 0][0]) for i in range(n)}) == n


def test_celeba(root: Path) -> None:
    base = root / "CelebA"
    text = lines(base / "list_attr_celeba.txt")
    count, names = int(text[0]), text[1].split()
    assert len(names) == 40 and names[0] == "5_o_Clock_Shadow" and names[-1] == "Young"
    rows = [line.split() for line in text[2:]]
    assert len(rows) == count == 720
    assert all(len(r) == 41 and set(r[1:]) <= {"1", "-1"} for r in rows)
    files = [r[0] for r in rows]
    assert files == [f"{i:06d}.jpg" for i in range(1, count + 1)]
    partition = [line.split() for line in lines(base / "list_eval_partition.txt")]
    assert [p[0] for p in partition] == files
    assert [p[1] for p in partition] == ["0"] * 480 + ["1"] * 120 + ["2"] * 120
    assert all(size(base / "img_align_celeba" / f) == (178, 218) for f in files)


def test_utkface(root: Path) -> None:
    files = sorted((root / "UTKFace").glob("*.jpg"))
    assert len(files) == 40
    full = [f for f in files if re.fullmatch(r"\d+_[01]_[0-4]_\d{17}\.jpg\.chip\.jpg", f.name)]
    short = [f for f in files if re.fullmatch(r"\d+_[01]_\d{17}\.jpg\.chip\.jpg", f.name)]
    assert len(short) == 2 and len(full) + len(short) == len(files)
    assert all(1 <= int(f.name.split("_")[0]) <= 116 and size(f) == (200, 200) for f in files)


def test_appa_real(root: Path) -> None:
    base = root / "APPA-REAL"
    names = []
    for split, n in (("train", 240), ("valid", 80), ("test", 80)):
        header, rows = read_csv(base / f"gt_avg_{split}.csv")
        assert header == ["file_name", "num_ratings", "apparent_age_avg", "apparent_age_std", "real_age"]
        assert len(rows) == n
        for name, ratings, mean, std, real in rows:
            assert re.fullmatch(r"\d{6}\.jpg", name) and (base / split / f"{name}_face.jpg").exists()
            assert int(ratings) > 0 and float(mean) > 0 and float(std) > 0 and int(real) >= 1
            names.append(name)
    assert names == [f"{i:06d}.jpg" for i in range(400)]


def test_rafdb(root: Path) -> None:
    base = root / "RAF-DB" / "basic"
    entries = [line.split() for line in lines(base / "EmoLabel" / "list_patition_label.txt")]
    train = [e for e in entries if e[0].startswith("train_")]
    test = [e for e in entries if e[0].startswith("test_")]
    assert len(train) == 480 and len(test) == 240 and len(entries) == 720
    assert train[0][0] == "train_00001.jpg" and test[0][0] == "test_0001.jpg"
    assert all(1 <= int(label) <= 7 for _, label in entries)
    assert all(size(base / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg")) == (100, 100)
               for name, _ in entries)


def test_rafdb_manual_annotations(root: Path) -> None:
    base = root / "RAF-DB" / "basic"
    names = [line.split()[0] for line in lines(base / "EmoLabel" / "list_patition_label.txt")]
    codes = []
    for name in names:
        text = lines(base / "Annotation" / "manual" / name.replace(".jpg", "_manu_attri.txt"))
        assert len(text) == 8
        points = np.array([[float(v) for v in line.split("\t")] for line in text[:5]])
        assert inside(points, 100, 100, margin=10)
        assert points[0, 0] < points[1, 0] and points[3, 0] < points[4, 0]  # eyes, mouth corners left to right
        assert points[2, 1] > points[:2, 1].max() and points[3:, 1].min() > points[2, 1]  # eyes, nose, mouth
        codes.append([int(v) for v in text[5:]])
    gender, race, age = np.array(codes).T
    assert set(gender) == {0, 1, 2} and set(race) <= {0, 1, 2} and set(age) <= {0, 1, 2, 3, 4}
    assert len(set(race)) == 3 and len(set(age)) >= 3


def test_appa_real_allcategories(root: Path) -> None:
    base = root / "APPA-REAL"
    for split in ("train", "valid", "test"):
        header, rows = read_csv(base / f"allcategories_{split}.csv")
        assert header == ["file", "gender", "race", "makeup", "time", "happiness"]
        assert [r[0] for r in rows] == [r[0] for r in read_csv(base / f"gt_avg_{split}.csv")[1]]
        assert {r[1] for r in rows} == {"male", "female"} and {r[2] for r in rows} <= {"asian", "afroamerican",
                                                                                         "caucasian"}


FAIRFACE_AGES = {"0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"}
FAIRFACE_RACES = {"White", "Black", "Latino_Hispanic", "East Asian", "Southeast Asian", "Indian", "Middle Eastern"}


def test_fairface(root: Path) -> None:
    base = root / "FairFace"
    for split, n in (("train", 160), ("val", 60)):
        header, rows = read_csv(base / f"fairface_label_{split}.csv")
        assert header == ["file", "age", "gender", "race", "service_test"] and len(rows) == n
        assert [r[0] for r in rows] == [f"{split}/{i}.jpg" for i in range(1, n + 1)]
        for file, age, gender, race, service_test in rows:
            assert age in FAIRFACE_AGES and gender in ("Male", "Female") and race in FAIRFACE_RACES
            assert service_test in ("True", "False")
            assert size(base / "fairface-img-margin025-trainval" / file) == (224, 224)
            assert size(base / "fairface-img-margin125-trainval" / file) == (448, 448)
    _, rows = read_csv(base / "fairface_label_train.csv")
    assert len({r[3] for r in rows}) == 7 and len({r[1] for r in rows}) >= 6


def test_affectnet(root: Path) -> None:
    base = root / "AffectNet"
    header_text = ("subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,"
                   "expression,valence,arousal")
    labels = []
    for split, n in (("training", 40), ("validation", 24)):
        path = base / "Manually_Annotated_file_lists" / f"{split}.csv"
        assert lines(path)[0] == header_text
        _, rows = read_csv(path)
        assert len(rows) == n
        for image, x, y, w, h, points, label, valence, arousal in rows:
            assert re.fullmatch(r"\d+/[0-9a-f]{56}\.jpg", image)
            width, height = size(base / "Manually_Annotated_Images" / image)
            assert 0 <= int(x) and int(x) + int(w) <= width and 0 <= int(y) and int(y) + int(h) <= height
            assert len(points.split(";")) == 136
            assert -2 <= float(valence) <= 1 and -2 <= float(arousal) <= 1
            labels.append(int(label))
    assert set(labels) <= set(range(11)) and {8, 9, 10} <= set(labels)


def test_ferplus(root: Path) -> None:
    base = root / "FERPlus"
    header, fer = read_csv(base / "fer2013.csv")
    assert header == ["emotion", "pixels", "Usage"]
    plus_header, plus = read_csv(base / "fer2013new.csv")
    assert plus_header == ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger",
                           "disgust", "fear", "contempt", "unknown", "NF"]
    assert len(fer) == len(plus) == 48
    assert [r[2] for r in fer] == [r[0] for r in plus] == ["Training"] * 36 + ["PublicTest"] * 6 + ["PrivateTest"] * 6
    not_faces = 0
    for (emotion, values, _), (_, name, *votes) in zip(fer, plus):
        grey = np.array(values.split(), dtype=int)
        assert grey.size == 48 * 48 and 0 <= grey.min() and grey.max() <= 255
        assert 0 <= int(emotion) <= 6 and sum(map(int, votes)) == 10
        if name == "":
            assert votes[-1] == "10"
            not_faces += 1
        else:
            assert re.fullmatch(r"fer\d{7}\.png", name)
    assert not_faces >= 1


def test_same_bytes_for_same_seed_whatever_the_subset_and_workers(root: Path, tmp_path: Path) -> None:
    subset = ["aflw19", "rafdb", "ferplus"]
    generate(tmp_path, "small", seed=SEED, datasets=subset, workers=1)
    generate(tmp_path, "small", seed=SEED, datasets="ferplus", workers=1)  # replaces the earlier copy
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(DATASETS[k] for k in subset)
    for key in subset:
        assert digest(tmp_path / DATASETS[key]) == digest(root / DATASETS[key]), key


def test_interrupted_run_leaves_nothing_and_real_folders_are_kept(tmp_path: Path) -> None:
    def stop(key: str, done: int, total: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, "small", datasets=["rafdb"], progress=stop, workers=2)
    assert not any(tmp_path.iterdir())  # workers stopped before the staging folder was removed
    (tmp_path / "RAF-DB").mkdir()
    with pytest.raises(FileExistsError, match="not a synthetic dataset"):
        generate(tmp_path, "small", datasets=["rafdb"], workers=1)
    assert [p.name for p in tmp_path.iterdir()] == ["RAF-DB"]
