"""CelebAMask-HQ face parsing: `CelebA-HQ-img/<id>.jpg`, per-part binary masks
`CelebAMask-HQ-mask-anno/<id // 2000>/<id:05d>_<part>.png`, `CelebA-HQ-to-CelebA-mapping.txt`,
and CelebA's `list_eval_partition.txt`, which splits the faces by their original CelebA file.

Label maps are painted from the part masks at the masks' resolution: half the image's side (512 x 512
for the 1024 x 1024 images of the release), checked per face, all parts of a face one size. The parsing
family scores at the label map's size, resizing its own predictions to the mask shape, as FaRL does (it
resizes the image to 512 and paints 512 labels); outside predictions must come at that size.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from farl_bench.data.readers._files import find_file, malformed
from farl_bench.data.readers.celeba import read_partition
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

IMAGE_DIR = "CelebA-HQ-img"
MASK_DIR = "CelebAMask-HQ-mask-anno"
MAPPING_FILE = "CelebA-HQ-to-CelebA-mapping.txt"
#: Part file suffixes in painting order (later overwrites earlier); label value = position + 1.
#: This is FaRL's order; the dataset's own g_mask.py paints skin first and cloth last instead.
PARTS = ("neck", "skin", "cloth", "l_ear", "r_ear", "l_brow", "r_brow", "l_eye", "r_eye", "nose",
         "mouth", "l_lip", "u_lip", "hair", "eye_g", "hat", "ear_r", "neck_l")
LABEL_NAMES = ["background", *PARTS]
IDS_PER_FOLDER = 2000
#: Image side / part-mask side: the release pairs 1024 px images with 512 px masks.
MASK_SCALE = 2
_PART_FILE = re.compile(r"^(\d+)_(" + "|".join(PARTS) + r")\.png$")


def read_mapping(path: Path) -> dict[int, str]:
    """Parse `CelebA-HQ-to-CelebA-mapping.txt` (header `idx orig_idx orig_file`) into HQ id -> CelebA file."""
    out: dict[int, str] = {}
    for no, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts or (no == 1 and parts[0] == "idx"):
            continue
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            raise malformed(path, no, "'idx orig_idx orig_file'", line)
        hq_id = int(parts[0])
        if hq_id in out:
            raise malformed(path, no, f"a new HQ idx (idx {hq_id} appears twice)", line)
        out[hq_id] = parts[2]
    if not out:
        raise UserError(f"{path} lists no images; expected rows 'idx orig_idx orig_file'")
    return out


def index_part_masks(mask_root: Path) -> dict[int, list[str]]:
    """HQ id -> names of its part masks present (in PARTS order), from the `<id // 2000>/` folders."""
    found: dict[int, set[str]] = {}
    for folder in sorted(p for p in mask_root.iterdir() if p.is_dir() and p.name.isdigit()):
        for path in folder.iterdir():
            match = _PART_FILE.match(path.name)
            if not match:
                continue
            hq_id = int(match[1])
            if hq_id // IDS_PER_FOLDER != int(folder.name):
                raise UserError(f"{path} belongs in {mask_root / str(hq_id // IDS_PER_FOLDER)} "
                                f"(folder = id // {IDS_PER_FOLDER}); re-extract CelebAMask-HQ")
            found.setdefault(hq_id, set()).add(match[2])
    return {hq_id: [p for p in PARTS if p in parts] for hq_id, parts in found.items()}


def _part_pixels(path: Path) -> np.ndarray:
    """H x W bool: the nonzero pixels of one part mask (grey, palette or RGB, as cv2's grey read)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img if img.mode in ("1", "L") else img.convert("L")) != 0
    except OSError as err:
        raise UserError(f"part mask {path} cannot be read ({err}); re-extract CelebAMask-HQ") from None


def _part_files(record: FaceRecord) -> list[tuple[int, Path]]:
    """(label value, path) of the part files present beside the record's first part
    `<id:05d>_<part>.png`, in PARTS order."""
    prefix = record.mask.name.split("_", 1)[0]
    return [(value, path) for value, part in enumerate(PARTS, start=1)
            if (path := record.mask.parent / f"{prefix}_{part}.png").is_file()]


def mask_size_error(record: FaceRecord) -> str | None:
    """Why a part mask of the record does not fit its image (each must be 1/MASK_SCALE of the image's
    side), from the headers; None when all fit or a file cannot be opened (the loader and `verify`
    name those)."""
    try:
        with Image.open(record.image) as img:
            width, height = img.width // MASK_SCALE, img.height // MASK_SCALE
            image_size = f"{img.width} x {img.height} px"
        for _, path in _part_files(record):
            with Image.open(path) as part:
                if part.size != (width, height):
                    return (f"part mask {path} is {part.width} x {part.height} px but its image {record.image} is "
                            f"{image_size}; CelebAMask-HQ part masks are half their image's side "
                            f"({width} x {height} px): re-extract it")
    except OSError:
        return None
    return None


def paint_part_masks(record: FaceRecord) -> np.ndarray:
    """The record's H x W uint8 label map at mask resolution, painted from its part masks.

    `record.mask` is the face's first part file; its siblings `<id:05d>_<part>.png` are painted in
    PARTS order, each part's pixels set to its position + 1 (later parts win), absent parts skipped.
    """
    if record.mask is None:
        raise UserError(f"record {record.id} has no part mask path; it was not read by the celebamask_hq reader")
    problem = mask_size_error(record)
    if problem:
        raise UserError(problem)
    label: np.ndarray | None = None
    for value, path in _part_files(record):
        pixels = _part_pixels(path)
        if label is None:
            label = np.zeros(pixels.shape, dtype=np.uint8)
        elif pixels.shape != label.shape:
            raise UserError(f"part mask {path} is {pixels.shape[1]} x {pixels.shape[0]} px but "
                            f"{record.mask} is {label.shape[1]} x {label.shape[0]}; all parts of a face "
                            "must share one size")
        label[pixels] = value
    if label is None:
        raise UserError(f"no part masks for {record.id}: {record.mask} and its siblings are gone")
    return label


@DATASETS.register("celebamask_hq")
class CelebAMaskHQReader:
    """Splits by the original CelebA file's partition (0 train, 1 val, 2 test).

    partition_file: CelebA's `list_eval_partition.txt`, absolute or relative to the dataset
    folder; by default looked for in the dataset folder, its `Eval/`, and a sibling `CelebA/` folder.
    """

    folder = "CelebAMask-HQ"
    expected_sizes = {"train": 24_183, "val": 2_993, "test": 2_824}
    mask_size_error = staticmethod(mask_size_error)  # for `datasets verify`

    def __init__(self, partition_file: str | None = None):
        self.partition_file = partition_file

    def _partition_path(self, root: Path) -> Path:
        if self.partition_file is None:
            return find_file(root, ["list_eval_partition.txt", "Eval/list_eval_partition.txt",
                                    "../CelebA/list_eval_partition.txt", "../CelebA/Eval/list_eval_partition.txt"],
                             "CelebA partition list (CelebA's Eval/list_eval_partition.txt; copy it into "
                             "the dataset folder or set reader.partition_file)")
        path = root / Path(self.partition_file).expanduser()
        if not path.is_file():
            raise UserError(f"reader option partition_file: {path} is not a file; point it at CelebA's "
                            "list_eval_partition.txt")
        return path

    def read(self, root: Path) -> DatasetSplits:
        mapping_path = find_file(root, [MAPPING_FILE], "CelebA-HQ to CelebA mapping")
        partition_path = self._partition_path(root)
        mask_root = root / MASK_DIR
        for folder in (root / IMAGE_DIR, mask_root):
            if not folder.is_dir():
                raise UserError(f"{folder} is missing: unpack CelebAMask-HQ.zip into {root}")
        mapping = read_mapping(mapping_path)
        partition = read_partition(partition_path)
        unsplit = sorted(h for h, orig in mapping.items() if orig not in partition)
        if unsplit:
            raise UserError(f"{partition_path} has no partition for {len(unsplit)} CelebA files named in "
                            f"{mapping_path} (first: {mapping[unsplit[0]]}, HQ id {unsplit[0]}); use CelebA's "
                            "own list_eval_partition.txt")
        parts = index_part_masks(mask_root)
        unmasked = sorted(set(mapping) - set(parts))
        if unmasked:
            first = unmasked[0]
            raise UserError(f"{len(unmasked)} faces of {mapping_path} have no part masks (first: HQ id {first}, "
                            f"expected {mask_root / str(first // IDS_PER_FOLDER)}/{first:05d}_<part>.png)")
        unmapped = sorted(set(parts) - set(mapping))
        if unmapped:
            raise UserError(f"{len(unmapped)} faces have part masks in {mask_root} but no row in {mapping_path} "
                            f"(first: HQ id {unmapped[0]}); the mapping file is incomplete")
        splits: dict[str, list[FaceRecord]] = {"train": [], "val": [], "test": []}
        for hq_id in sorted(mapping):
            folder = mask_root / str(hq_id // IDS_PER_FOLDER)
            splits[partition[mapping[hq_id]]].append(FaceRecord(
                id=f"{IMAGE_DIR}/{hq_id}.jpg", image=root / IMAGE_DIR / f"{hq_id}.jpg",
                mask=folder / f"{hq_id:05d}_{parts[hq_id][0]}.png"))
        empty = [name for name, records in splits.items() if not records]
        if empty:
            raise UserError(f"no face of {mapping_path} falls in the {', '.join(empty)} split(s) of "
                            f"{partition_path}; the tree is incomplete")
        return DatasetSplits(splits, meta={"label_names": list(LABEL_NAMES)}, load_mask=paint_part_masks)
