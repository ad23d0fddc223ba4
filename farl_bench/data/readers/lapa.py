"""LaPa face parsing: `{train,val,test}/images/<name>.jpg`, `labels/<name>.png`, `landmarks/<name>.txt`.

Each label map has its image's size (both W x H px); one of another size is refused, naming both."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from farl_bench.data.readers._files import malformed
from farl_bench.data.records import DatasetSplits, FaceRecord, read_label_png
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

SPLITS = ("train", "val", "test")
#: Sub-folders of each split and the suffix of their files; one file of each per face name.
SUBFOLDERS = {"images": ".jpg", "labels": ".png", "landmarks": ".txt"}
#: Label ids 0..10 of the 8-bit label maps. Other tools swap the left/right names at the same
#: indices: everything downstream keys on the numeric id.
LABEL_NAMES = [
    "background", "skin", "left_eyebrow", "right_eyebrow", "left_eye", "right_eye", "nose",
    "upper_lip", "inner_mouth", "lower_lip", "hair",
]
NUM_LANDMARKS = 106
#: Eye centres (pupils), nose tip, mouth corners: FaRL's 5-point alignment.
ALIGNMENT_POINTS = [104, 105, 54, 84, 90]
#: Left/right mirror pairs of the 106-point scheme (the JD-landmark layout LaPa uses), as listed
#: in mmpose's `configs/_base_/datasets/lapa.py` swap table; points not listed lie on the midline.
MIRROR_PAIRS = [
    *((i, 32 - i) for i in range(16)),                          # face contour, 16 on the chin
    *zip(range(33, 38), range(46, 41, -1)),                     # eyebrows, upper edge
    *zip(range(38, 42), range(50, 46, -1)),                     # eyebrows, lower edge
    *zip(range(55, 60), range(65, 60, -1)),                     # nose wings; 51..54 bridge/tip, 60 base
    *zip(range(66, 71), range(79, 74, -1)),                     # eyelids, upper
    *zip(range(71, 74), range(82, 79, -1)), (74, 83),           # eyelids, lower; eye centres
    *zip(range(84, 87), range(90, 87, -1)),                     # outer lips, upper; 87 middle
    (91, 95), (92, 94), (96, 100), (97, 99), (101, 103),        # outer lower / inner lips
    (104, 105),                                                 # pupils
]


def flip_permutation(pairs: list[tuple[int, int]], count: int) -> list[int]:
    """Index of each point after a horizontal flip: mirrored pairs swap, the others stay."""
    perm = list(range(count))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


def read_landmarks(path: Path, count: int = NUM_LANDMARKS) -> np.ndarray:
    """Parse a LaPa landmark file: line 1 the point count, then one `x y` line per point.

    Returns count x 2 float64, pixels of the image as stored in the file.
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path} cannot be read ({err}); re-extract the LaPa archive") from None
    tokens = text.split()
    if len(tokens) == 2 * count + 1 and tokens[0] == str(count):
        try:
            points = np.array(tokens[1:], dtype=np.float64).reshape(count, 2)
        except ValueError:
            points = None
        if points is not None and np.isfinite(points).all():
            return points
    raise _diagnose(path, text, count)


def _diagnose(path: Path, text: str, count: int) -> UserError:
    """The error for a landmark file that did not parse: which line, and what was expected."""
    rows = [(no, line) for no, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not rows or rows[0][1].strip() != str(count):
        no, line = rows[0] if rows else (1, "")
        return malformed(path, no, f"the point count {count} alone on the first line", line)
    for no, line in rows[1:]:
        parts = line.split()
        try:
            ok = len(parts) == 2 and all(np.isfinite([float(v) for v in parts]))
        except ValueError:
            ok = False
        if not ok:
            return malformed(path, no, "two numbers 'x y'", line)
    return UserError(f"{path}: expected {count} lines 'x y' after the count line, found {len(rows) - 1}; "
                     "the file is truncated or not a LaPa landmark file")


def _stems(folder: Path, suffix: str) -> dict[str, Path]:
    """Files of `folder` with `suffix` (case-insensitive), by name without the suffix."""
    return {p.stem: p for p in folder.iterdir() if p.suffix.lower() == suffix}


def read_split(split_dir: Path, split: str) -> list[FaceRecord]:
    """Records of one LaPa split folder, sorted by name; id = `<split>/images/<name>.jpg`.

    The landmark files index the split: an image or label map missing beside one still gives a
    record (pointing at the expected path), so `datasets verify` can list exactly what is missing;
    an image or label map without a landmark file is an error.
    """
    files: dict[str, dict[str, Path]] = {}
    for kind, suffix in SUBFOLDERS.items():
        folder = split_dir / kind
        if not folder.is_dir():
            raise UserError(f"{folder} is missing: each LaPa split folder holds images/, labels/ and "
                            "landmarks/. Check --data-root (or --root lapa=DIR).")
        files[kind] = _stems(folder, suffix)
    orphans = sorted((set(files["images"]) | set(files["labels"])) - set(files["landmarks"]))
    if orphans:
        raise UserError(f"{split_dir}: {len(orphans)} image(s) or label map(s) have no landmarks/<name>.txt "
                        f"(first: {orphans[0]}). Re-extract the LaPa archive.")
    if not files["landmarks"]:
        raise UserError(f"{split_dir / 'landmarks'} holds no .txt files; the LaPa {split} split is empty")
    records = []
    for name in sorted(files["landmarks"]):
        image = files["images"].get(name, split_dir / "images" / f"{name}.jpg")
        mask = files["labels"].get(name, split_dir / "labels" / f"{name}.png")
        records.append(FaceRecord(id=f"{split}/images/{image.name}", image=image, mask=mask,
                                  landmarks=read_landmarks(files["landmarks"][name])))
    return records


def mask_size_error(record: FaceRecord) -> str | None:
    """Why the record's label map cannot go with its image (another size), from the two headers;
    None when the sizes agree or a file cannot be opened (the loaders and `verify` name those)."""
    try:
        with Image.open(record.image) as image, Image.open(record.mask) as label:
            if label.size == image.size:
                return None
            return (f"label map {record.mask} is {label.width} x {label.height} px but its image {record.image} is "
                    f"{image.width} x {image.height} px; LaPa label maps have their image's size: re-extract it")
    except OSError:
        return None


def read_label_map(record: FaceRecord) -> np.ndarray:
    """The record's H x W label map; a UserError when its size is not its image's."""
    problem = mask_size_error(record)
    if problem:
        raise UserError(problem)
    return read_label_png(record)


@DATASETS.register("lapa")
class LaPaReader:
    """LaPa's published train/val/test folders; label maps are read as stored (values 0..10)."""

    folder = "LaPa"
    expected_sizes = {"train": 18_176, "val": 2_000, "test": 2_000}
    mask_size_error = staticmethod(mask_size_error)  # for `datasets verify`

    def read(self, root: Path) -> DatasetSplits:
        splits = {split: read_split(root / split, split) for split in SPLITS}
        meta = {
            "label_names": list(LABEL_NAMES),
            "num_landmarks": NUM_LANDMARKS,
            "alignment_points": list(ALIGNMENT_POINTS),
            "flip_permutation": flip_permutation(MIRROR_PAIRS, NUM_LANDMARKS),
        }
        return DatasetSplits(splits, meta=meta, load_mask=read_label_map)
