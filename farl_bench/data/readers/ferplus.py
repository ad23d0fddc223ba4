"""FERPlus: FER2013's faces (`fer2013.csv`: emotion, 48 x 48 grey pixels as text, Usage) with the
FER+ crowd votes (`fer2013new.csv`: Usage, Image name, 10 vote columns; same rows, same order).

Label = FERPlus's "majority" mode (microsoft/FERPlus src/ferplus.py): single votes are dropped
as outliers, then the emotion with more than half of the remaining votes wins. Rows without such
a winner (ties included), won by unknown or NF, or with an empty Image name are dropped and
counted; so is a row whose Image name repeats an earlier kept row's.

Images: records point at 48 x 48 PNGs in the reader option `image_cache` (default
`<root>/images_cache`), laid out as FERPlus's own generate_training_data.py does:
`FER2013Train|FER2013Valid|FER2013Test/<Image name>`. Missing PNGs are written once from
fer2013.csv, all or nothing; afterwards fer2013.csv is not read again.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from farl_bench.data.readers._files import find_file, parse_number, read_csv, warn_skipped
from farl_bench.data.records import DatasetSplits, FaceRecord
from farl_bench.errors import UserError
from farl_bench.registry import DATASETS

VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
#: The 8 emotions, index = record.expression.
EXPRESSION_NAMES = list(VOTE_COLUMNS[:8])
SPLIT_OF_USAGE = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
#: FERPlus's folder per Usage (src/generate_training_data.py).
FOLDER_OF_USAGE = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
SIDE = 48  # px, square, grey
NO_MAJORITY = "no emotion has more than half of the votes (ties included) once single votes are dropped"


def majority_vote(votes: Sequence[int]) -> int | str:
    """FERPlus's majority rule on the 10 vote counts (VOTE_COLUMNS order).

    Returns the emotion index 0..7, or why the row has no label: NO_MAJORITY, "unknown" or "NF".
    """
    kept = [v if v > 1 else 0 for v in votes]  # a single vote is an outlier
    top = max(kept)
    if top == 0 or 2 * top <= sum(kept):
        return NO_MAJORITY
    winner = kept.index(top)
    return winner if winner < len(EXPRESSION_NAMES) else VOTE_COLUMNS[winner]


@dataclass(frozen=True)
class VoteRow:
    """One labelled row of fer2013new.csv; `row` is its 0-based data row, the same in fer2013.csv."""

    row: int
    usage: str
    name: str
    expression: int


def read_votes(path: Path) -> tuple[list[VoteRow], list[str], Counter[str]]:
    """Parse fer2013new.csv: the labelled rows, the Usage of every data row, and skip counts by reason."""
    rows: list[VoteRow] = []
    usages: list[str] = []
    skipped: Counter[str] = Counter()
    names: set[str] = set()
    for index, (no, row) in enumerate(read_csv(path, ("Usage", "Image name", *VOTE_COLUMNS))):
        usage, name = row["Usage"], row["Image name"]
        if usage not in SPLIT_OF_USAGE:
            raise UserError(f"{path}:{no}: Usage {usage!r} is not one of {', '.join(SPLIT_OF_USAGE)}")
        usages.append(usage)
        votes = [parse_number(path, no, c, row[c], int) for c in VOTE_COLUMNS]
        label = majority_vote(votes)
        if not name:
            skipped["empty Image name (FER+ marks the face as unusable)"] += 1
        elif isinstance(label, str):
            skipped[label if label == NO_MAJORITY else f"majority vote is {label}"] += 1
        elif name in names:
            skipped["Image name repeats an earlier kept row's (the first is kept)"] += 1
        else:
            names.add(name)
            rows.append(VoteRow(index, usage, name, label))
    return rows, usages, skipped


def _pixels(path: Path, no: int, text: str) -> np.ndarray:
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        values = np.empty(0, dtype=np.int64)
    if values.size != SIDE * SIDE or values.min() < 0 or values.max() > 255:
        raise UserError(f"{path}:{no}: expected {SIDE * SIDE} grey values 0..255 in column 'pixels'")
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def write_image_cache(fer_csv: Path, usages: list[str], wanted: dict[int, Path], cache: Path) -> None:
    """Write the 48 x 48 PNG of each wanted data row (row -> target path under `cache`) from fer2013.csv.

    The whole file is checked against fer2013new.csv (same row count, same Usage on every row)
    before any PNG reaches its target, so an error leaves the cache as it was.
    """
    unwritable = ("cannot write the FERPlus image cache in {} ({}): set the reader option image_cache "
                  "to a writable folder (--set reader.image_cache=DIR)")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache))
    except OSError as err:
        raise UserError(unwritable.format(cache, err)) from None
    try:
        count = 0
        for index, (no, row) in enumerate(read_csv(fer_csv, ("pixels", "Usage"))):
            count += 1
            if index >= len(usages) or row["Usage"] != usages[index]:
                raise UserError(f"{fer_csv}:{no}: Usage {row['Usage']!r} differs from data row {index + 1} of "
                                "fer2013new.csv: the two files must list the same rows in the same order")
            if index in wanted:
                Image.fromarray(_pixels(fer_csv, no, row["pixels"]), "L").save(staging / f"{index}.png")
        if count != len(usages):
            raise UserError(f"{fer_csv} has {count} rows but fer2013new.csv has {len(usages)}: "
                            "use the original FER2013 release")
        for index, target in wanted.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f"{index}.png", target)
    except OSError as err:
        raise UserError(unwritable.format(cache, err)) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@DATASETS.register("ferplus")
class FERPlusReader:
    folder = "FERPlus"
    # fer2013new.csv (microsoft/FERPlus) under the vote rule above.
    expected_sizes = {"train": 25_057, "val": 3_199, "test": 3_153}

    def __init__(self, image_cache: str = "images_cache"):
        """image_cache: folder of the 48 x 48 PNGs (relative to the root, or absolute)."""
        self.image_cache = image_cache

    def read(self, root: Path) -> DatasetSplits:
        votes_path = find_file(root, ["fer2013new.csv"], "FERPlus vote file")
        rows, usages, skipped = read_votes(votes_path)
        cache = root / self.image_cache
        images = {r.row: cache / FOLDER_OF_USAGE[r.usage] / r.name for r in rows}
        present = {folder: set(os.listdir(cache / folder)) if (cache / folder).is_dir() else set()
                   for folder in FOLDER_OF_USAGE.values()}
        missing = {i: p for i, p in images.items() if p.name not in present[p.parent.name]}
        if missing:
            fer_csv = find_file(root, ["fer2013.csv", "fer2013/fer2013.csv"],
                                f"FER2013 pixel file (needed once to write {len(missing)} images into {cache})")
            write_image_cache(fer_csv, usages, missing, cache)
        splits: dict[str, list[FaceRecord]] = {s: [] for s in SPLIT_OF_USAGE.values()}
        for r in rows:
            splits[SPLIT_OF_USAGE[r.usage]].append(FaceRecord(id=r.name, image=images[r.row], expression=r.expression))
        for split, records in splits.items():
            if not records:
                raise UserError(f"{votes_path} has no labelled {split} row: use the complete FER+ release")
        return DatasetSplits(splits, meta={
            "expression_names": EXPRESSION_NAMES,
            "skipped": warn_skipped(votes_path, skipped),
            "label_rule": "FERPlus majority mode: single votes dropped, then more than half of the remaining "
                          "votes; ties, unknown and NF winners dropped",
            "image_cache": str(cache),
        })
