"""300W (68 points): the original `.pts` tree, or HRNet's CSVs as an alternative input.

`source: pts` (default) reads one `.pts` per image in `afw/`, `helen/{trainset,testset}/`,
`lfpw/{trainset,testset}/` and `ibug/`; coordinates are 1-based in the release and become 0-based
pixels (value - 1); the box is the landmarks' extent. `source: hrnet_csv` reads
`face_landmarks_300w_{train,valid_common,valid_challenge}.csv` (image_path, scale, center_w,
center_h, x0, y0 .. x67, y67) the way FaRL does: 2.0 is subtracted from every coordinate and from
the centre, and the box is the square of half-size 100 * scale around the centre.
Both give the same ids (image paths relative to the tree), so the validation hold-out is the same.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from farl_bench.data.readers._files import find_file, malformed
from farl_bench.data.readers._landmarks import permutation_from_pairs, points_normaliser
from farl_bench.data.readers.pts import read_pts
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.data.splits import holdout
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

NUM_POINTS = 68
#: iBUG 68: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67.
FLIP_68 = permutation_from_pairs(NUM_POINTS, [
    *((i, 16 - i) for i in range(8)),                                  # jaw
    *((17 + i, 26 - i) for i in range(5)),                             # brows
    (31, 35), (32, 34),                                                # nostrils
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),        # eyes
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),                  # outer lips
    (60, 64), (61, 63), (65, 67),                                      # inner lips
])

#: Folder of the `.pts` tree -> (split, test subset tag), in reading order.
PTS_FOLDERS: dict[str, tuple[str, str | None]] = {
    "afw": ("train", None),
    "helen/trainset": ("train", None),
    "lfpw/trainset": ("train", None),
    "helen/testset": ("test", "common"),
    "lfpw/testset": ("test", "common"),
    "ibug": ("test", "challenging"),
}
#: HRNet CSV -> (split, test subset tag).
CSV_FILES: dict[str, tuple[str, str | None]] = {
    "face_landmarks_300w_train.csv": ("train", None),
    "face_landmarks_300w_valid_common.csv": ("test", "common"),
    "face_landmarks_300w_valid_challenge.csv": ("test", "challenging"),
}
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg")
#: HRNet's CSVs drop the space that the release's file name holds.
CSV_RENAMED = {"ibug/image_092_01.jpg": "ibug/image_092 _01.jpg"}
HRNET_OFFSET = 2.0      # px subtracted from HRNet's coordinates and centre (FaRL)
HRNET_HALF_SIZE = 100.0  # box half-size in px per unit of HRNet's `scale`
N_VAL = 315              # round(0.1 * 3,148): the hold-out carved from train

SOURCES = ("pts", "hrnet_csv")


def _extent(points: np.ndarray) -> np.ndarray:
    return np.array([*points.min(axis=0), *points.max(axis=0)], dtype=np.float64)


def _image_beside(pts: Path, names: set[str], folder: str) -> str:
    """The image file name next to a `.pts`: the first suffix present, else the release's own
    (`.png` in lfpw, `.jpg` elsewhere) so that `verify` reports the file as missing."""
    for suffix in IMAGE_SUFFIXES:
        if pts.stem + suffix in names:
            return pts.stem + suffix
    return pts.stem + (".png" if folder.startswith("lfpw") else ".jpg")


def read_pts_tree(root: Path) -> list[tuple[str, FaceRecord]]:
    """(split, record) for every `.pts` of the release tree, folder by folder, files sorted."""
    missing = [f for f in PTS_FOLDERS if not (root / f).is_dir()]
    if missing:
        raise UserError(f"300W tree at {root} lacks folder(s) {', '.join(missing)}; expected afw/, "
                        "helen/{trainset,testset}/, lfpw/{trainset,testset}/ and ibug/ with .pts files "
                        "(or use reader option source: hrnet_csv)")
    out = []
    for rel, (split, tag) in PTS_FOLDERS.items():
        folder = root / rel
        names = {p.name for p in folder.iterdir()}
        files = sorted(folder.glob("*.pts"))
        if not files:
            raise UserError(f"{folder} holds no .pts files; unpack the 300W release there")
        for pts in files:
            points = read_pts(pts)
            if points.shape != (NUM_POINTS, 2):
                raise UserError(f"{pts}: {len(points)} points, expected {NUM_POINTS} (iBUG 68-point markup)")
            image = f"{rel}/{_image_beside(pts, names, rel)}"
            out.append((split, FaceRecord(id=image, image=root / image, landmarks=points,
                                          bbox=_extent(points), tags=frozenset({tag} if tag else ()))))
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_hrnet_csv(path: Path) -> list[tuple[str, float, np.ndarray, np.ndarray]]:
    """Rows of one HRNet CSV as (image path, scale, centre (2,), landmarks 68 x 2), values as written.

    A first line that is not a data row (HRNet's header) is skipped, as are blank and `#` lines.
    """
    rows = []
    n_fields = 4 + 2 * NUM_POINTS
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        fields = [f.strip() for f in line.split(",")]
        if not line.strip() or line.lstrip().startswith("#") or (no == 1 and not _is_number(fields[-1])):
            continue
        expected = f"{n_fields} comma-separated fields: image_path, scale, center_w, center_h, x0, y0 .. x67, y67"
        if len(fields) != n_fields:
            raise malformed(path, no, expected, line)
        try:
            numbers = np.array([float(v) for v in fields[1:]], dtype=np.float64)
        except ValueError:
            raise malformed(path, no, expected, line) from None
        rows.append((fields[0], float(numbers[0]), numbers[1:3], numbers[3:].reshape(NUM_POINTS, 2)))
    return rows


def read_csvs(root: Path, image_root: Path) -> list[tuple[str, FaceRecord]]:
    """(split, record) for every row of HRNet's three CSVs, with FaRL's -2 px offset."""
    out = []
    for name, (split, tag) in CSV_FILES.items():
        path = find_file(root, [name, f"annotations/{name}"], f"HRNet CSV {name}")
        for image, scale, centre, points in read_hrnet_csv(path):
            if image in CSV_RENAMED and not (image_root / image).exists():
                image = CSV_RENAMED[image]
            cx, cy = centre - HRNET_OFFSET
            half = HRNET_HALF_SIZE * scale
            out.append((split, FaceRecord(
                id=image, image=image_root / image, landmarks=points - HRNET_OFFSET,
                bbox=np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float64),
                tags=frozenset({tag} if tag else ()))))
    return out


@DATASETS.register("300w")
class W300Reader:
    folder = "300W"
    expected_sizes = {"train": 3148 - N_VAL, "val": N_VAL, "test": 689,
                      "test:common": 554, "test:challenging": 135}

    def __init__(self, source: str = "pts", image_dir: str = ""):
        """source: `pts` (the release's .pts tree) or `hrnet_csv` (HRNet's CSVs, FaRL's input).
        image_dir: where the CSVs' image paths start, relative to the root (hrnet_csv only)."""
        if source not in SOURCES:
            raise UserError(f"300w reader option source={source!r}; choose one of: {', '.join(SOURCES)}")
        self.source = source
        self.image_dir = image_dir

    def read(self, root: Path) -> DatasetSplits:
        rows = read_pts_tree(root) if self.source == "pts" else read_csvs(root, root / self.image_dir)
        train_all = [r for split, r in rows if split == "train"]
        test = [r for split, r in rows if split == "test"]
        if len(train_all) < 2 or not test:
            raise UserError(f"300W at {root} has {len(train_all)} training and {len(test)} test faces; "
                            "at least 2 and 1 are needed (see datasets/300w/README.md for the tree)")
        train, val = holdout(train_all, 0.1)
        return DatasetSplits({"train": train, "val": val, "test": test}, meta={
            "num_landmarks": NUM_POINTS,
            "flip_permutation": FLIP_68,
            "normalisers": {"io": points_normaliser([36], [45]),
                            "ip": points_normaliser(range(36, 42), range(42, 48))},
            "subset_rules": {
                "test": "full: common + challenging (the whole test split)",
                "common": "helen/testset + lfpw/testset",
                "challenging": "ibug",
            },
            "selection_note": "300W publishes no validation split: val is holdout(train, 0.1), the 10% "
                              "of training image paths whose sha256 with salt 'farl-bench-val' ranks lowest",
        })
